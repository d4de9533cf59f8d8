"""Seconds each app action takes as a person sees it: app.py serving the trained models, driven in a
real headless Chromium (the photo uploaded through the page, the button clicked, the clock stopped
when the result image is on the page), on a 2000x1500 and a 4000x3000 (12 MP) photo.

    python -m bench.app_browser [--runs results/runs] [--sizes 2000x1500 4000x3000] [--photo FILE]
                                [--json bench/results/app_browser.json]

Actions: "centre square" with the first model of each inpainting paper (A-D; paper C's search at
the app's default 300 iterations), a brush stroke with the first of them (paper A's), and "blur it
with a Gaussian kernel" then sharpen with the first deblurring model (--every-model: every model).
Each action gets a fresh page with the photo uploaded (not timed): one person's one action.
Reported: seconds from the click to the result on the page, and in brackets the app's handler's
share (the rest is the browser preparing the editor's layers, the transfers and drawing). The
models are loaded when the app starts (app.Models.preload), as `python app.py` does, so no action
pays a first-use load. Needs /usr/bin/chromium and /usr/bin/chromedriver (apt-get install chromium
chromium-driver) and the selenium package.
"""
import argparse
import functools
import json
import socket
import tempfile
import time
from pathlib import Path

import cv2

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


def chromium(window="1400,1100"):
    """A headless Chromium driver; the editor draws with WebGL, which a server has only as SwiftShader."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--use-angle=swiftshader",
                "--enable-unsafe-swiftshader", f"--window-size={window}"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def wait_for(driver, find, what, timeout=60, screenshot=None):
    """find()'s first truthy value within `timeout` s, else AssertionError naming `what` (and a screenshot)."""
    end = time.time() + timeout
    while time.time() < end:
        found = find()
        if found:
            return found
        time.sleep(0.05)
    if screenshot:
        driver.save_screenshot(str(screenshot))
    console = [e["message"][:200] for e in driver.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
    raise AssertionError(f"the page never showed {what} (screenshot {screenshot}); browser console: {console[-6:]}")


def free_port():
    """A free localhost TCP port (the app's and the tests' server)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _photo(source, width, height, folder):
    """The test photo at width x height as a PNG file (a bundled scikit-image photo unless --photo)."""
    if source:
        image = cv2.imread(str(source), cv2.IMREAD_COLOR)
        if image is None:
            raise SystemExit(f"error: cannot read --photo {source}")
    else:
        import skimage.data
        image = skimage.data.astronaut()[..., ::-1]
    image = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if image.shape[1] > width
                       else cv2.INTER_CUBIC)
    path = Path(folder) / f"photo_{width}x{height}.png"
    cv2.imwrite(str(path), image)
    return path


class Page:
    """The app's page in the browser: choose, upload, click, and time until the result is shown."""

    def __init__(self, driver, url, shots):
        from selenium.webdriver.common.by import By
        self.d, self.url, self.By, self.shots = driver, url, By, Path(shots)

    def css(self, selector):
        return self.d.find_elements(self.By.CSS_SELECTOR, selector)

    def wait(self, selector_or_fn, what, timeout=120):
        find = selector_or_fn if callable(selector_or_fn) else (lambda: self.css(selector_or_fn))
        return wait_for(self.d, find, what, timeout, self.shots / "failed.png")

    def open(self):
        self.d.get(self.url)
        self.wait("#inpaint-photo canvas", "the editor's canvas")
        self.wait("#inpaint-run", "the run button")
        time.sleep(2.0)                 # the page hydrates; an upload sent earlier may be dropped

    def tab(self, name):
        button = next(b for b in self.css("button[role=tab]") if b.text.startswith(name))
        button.click()
        time.sleep(0.5)

    def choose(self, prefix, label):
        """Pick `label` in the tab's model dropdown."""
        from selenium.webdriver.common.keys import Keys
        box = self.wait(f"#{prefix}-model input", "the model dropdown")[0]
        box.click()
        options = self.wait(lambda: [o for o in self.css(".options li") if o.text.strip(" ✓\n") == label],
                            f"the model {label!r} in the dropdown", 20)
        options[0].click()
        box.send_keys(Keys.ESCAPE)
        time.sleep(0.3)

    def radio(self, label):
        """Click the radio choice whose text is `label` (hole or blur)."""
        from selenium.webdriver.common.by import By
        found = [el for el in self.css("label") if el.text.strip() == label]
        if not found:
            raise AssertionError(f"no radio choice {label!r} on the page")
        found[0].find_element(By.CSS_SELECTOR, "input").click()
        time.sleep(0.2)

    def upload(self, selector, path, shown):
        self.wait(selector, "the photo input")[0].send_keys(str(path))
        self.wait(shown, "the uploaded photo", 180)
        time.sleep(1.0)

    def stroke(self):
        from selenium.webdriver.common.action_chains import ActionChains
        canvas = self.css("#inpaint-photo canvas")[-1]
        ActionChains(self.d).move_to_element_with_offset(canvas, -60, 0).click_and_hold() \
            .move_by_offset(40, 4).move_by_offset(40, 4).release().perform()
        time.sleep(0.5)

    def run(self, prefix, timeout=300):
        """Click the tab's run button -> (seconds until the result image changed, the message)."""
        def src():
            images = self.css(f"#{prefix}-output img")
            return images[0].get_attribute("src") if images else None
        before = src()
        message = self.css(f"#{prefix}-message textarea")[0]
        start = time.perf_counter()
        self.css(f"#{prefix}-run")[0].click()
        done = self.wait(lambda: (src() not in (None, before) and "result") or
                         (message.get_attribute("value") or "").startswith(("error", "cancelled")) and "message",
                         f"the {prefix} result", timeout)
        seconds = time.perf_counter() - start
        return seconds, message.get_attribute("value") if done == "message" else ""


def server_seconds(app):
    """Time every handler the app builds from now on (app._guarded wrapped): -> the list of seconds,
    one per action, so the page's time can be split into the server's and the rest (transfer, browser)."""
    seconds, guarded = [], app._guarded

    def timed(fn, n_out):
        inner = guarded(fn, n_out)

        @functools.wraps(fn)
        def handler(*args):
            start = time.perf_counter()
            try:
                return inner(*args)
            finally:
                seconds.append(time.perf_counter() - start)
        return handler
    app._guarded = timed
    return seconds


def actions(entries, every=False):
    """(name, tab, model label, hole or blur choice) of each action timed: "centre square" with the first
    model of each inpainting paper (every=True: each model), a brush stroke with the first, and blur then
    sharpen with the first deblurring model (every=True: each)."""
    import app
    out = []
    inpainters = sorted((e for e in entries if e.task == "inpaint"), key=lambda e: (e.letter, e.path))
    if not every:
        inpainters = [e for i, e in enumerate(inpainters) if i == 0 or e.letter != inpainters[i - 1].letter]
    for e in inpainters:
        out.append((f"inpaint, centre square: {e.label}", "inpaint", e.label, "centre square"))
    if inpainters:                     # the brush with the first inpainting paper's model (paper A's, if trained)
        first = inpainters[0]
        out.append((f"inpaint, a brush stroke: {first.label}", "inpaint", first.label, "drawn with the brush"))
    for e in [e for e in entries if e.task == "deblur"][:None if every else 1]:
        out.append((f"blur (Gaussian), then sharpen: {e.label}", "sharpen", e.label, app.BLURS[1]))
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", default="results/runs", help="folder of the app's run directories (python demo.py's)")
    p.add_argument("--sizes", nargs="+", default=["2000x1500", "4000x3000"])
    p.add_argument("--photo", default=None, help="photo to resize to each size (default: scikit-image's astronaut)")
    p.add_argument("--only", nargs="+", default=None, help="time only actions whose name contains one of these")
    p.add_argument("--every-model", action="store_true", help="every model, not the first of each paper")
    p.add_argument("--json", default=None, help="also write the rows here")
    a = p.parse_args(argv)
    import app
    from bench.report import machine
    from quiet_tf import import_tensorflow
    entries = app.find_models([a.runs])
    if not entries:
        raise SystemExit(f"error: no trained model in {a.runs}: run python demo.py first, or pass --runs")
    import_tensorflow()
    served = server_seconds(app)
    models = app.Models(entries)
    models.preload()
    server = app.build_app(entries, models)
    url = app.launch(server, free_port())
    todo = [t for t in actions(entries, a.every_model) if not a.only or any(o in t[0] for o in a.only)]
    folder = Path(tempfile.mkdtemp(prefix="app_browser_"))
    driver = chromium()
    rows = []
    print(f"machine: {machine()}", flush=True)
    try:
        page = Page(driver, url, folder)
        times = {name: {} for name, *_ in todo}
        for size in a.sizes:
            width, height = map(int, size.split("x"))
            photo = _photo(a.photo, width, height, folder)
            for name, tab, label, choice in todo:     # a fresh page each: one person's one action on this photo
                page.open()
                if tab == "inpaint":
                    page.upload("#inpaint-photo input[type=file]", photo,
                                "#inpaint-photo button[aria-label=Undo]:not([disabled])")
                else:
                    page.tab("Deblur")
                    page.upload("#sharpen-photo input[type=file]", photo, "#sharpen-photo img")
                page.choose(tab, label)
                page.radio(choice)
                if choice == "drawn with the brush":
                    page.stroke()
                seconds, message = page.run(tab)
                handler = served[-1] if served else float("nan")
                times[name][size] = None if message else (seconds, handler)
                rows.append(dict(action=name, size=size, seconds=round(seconds, 1), handler_s=round(handler, 1),
                                 message=message))
                print(f"  {name} on {size}: {seconds:.1f} s in the page, {handler:.1f} s in the app's handler "
                      f"{message}", flush=True)
        print("\nseconds from the click to the result on the page (in the app's handler)\n| action | "
              + " | ".join(a.sizes) + " |\n|---|" + "---|" * len(a.sizes))
        for name, by_size in times.items():
            print(f"| {name} | " + " | ".join(f"{by_size[s][0]:.1f} s ({by_size[s][1]:.1f} s)" if by_size.get(s)
                                            else "failed" for s in a.sizes) + " |")
    finally:
        driver.quit()
        server.close()
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps(dict(machine=machine(), runs=a.runs, rows=rows), indent=1))
    return 0


if __name__ == "__main__":
    main()
