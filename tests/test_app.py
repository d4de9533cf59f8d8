"""app.py: each endpoint through gradio_client, and the page in a real headless Chromium.

One smoke model per task is trained in-process, once per session (paper D on lost macroblocks,
paper E's generator, one step each: the test checks the wiring and the inference contract, not the
quality), and the app serves them on a free localhost port.
"""
import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import app  # noqa: E402
from bench.app_browser import CHROMEDRIVER, CHROMIUM, free_port  # noqa: E402

SCREENSHOT = ROOT / "docs" / "images" / "app.png"


def _write(path, rgb_or_rgba):
    a = np.asarray(rgb_or_rgba)
    code = cv2.COLOR_RGBA2BGRA if a.shape[-1] == 4 else cv2.COLOR_RGB2BGR
    assert cv2.imwrite(str(path), cv2.cvtColor(a, code))
    return str(path)


def _read(path):
    return cv2.imread(str(path), cv2.IMREAD_COLOR)[..., ::-1]


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """The smoke runs (paper D on lost macroblocks, paper E; one step each), trained once per test
    session: under pytest-xdist the workers share them, the first one trains under a file lock."""
    import tensorflow as tf
    root = tmp_path_factory.getbasetemp()
    root = root.parent if os.environ.get("PYTEST_XDIST_WORKER") else root
    runs = root / "app_runs"
    with open(root / "app_runs.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (runs / "trained").exists():
            import train_context_encoder
            import train_deblur
            shutil.rmtree(runs, ignore_errors=True)
            quiet = ["--steps", "1", "--log-every", "50", "--save-every", "100000", "--image-every", "100000"]
            before = tf.config.optimizer.get_experimental_options()
            tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})   # 1 step: no Grappler
            try:
                train_context_encoder.main(["--smoke", "--mask", "macroblock", "--run-dir", str(runs / "d")] + quiet)
                # Gaussian blur only: tracing the motion-blur pipeline would double the time
                train_deblur.main(["--smoke", "--variant", "nonbn_res", "--vgg-weights", "none", "--image-size",
                                   "32", "--blur", "gaussian", "--run-dir", str(runs / "e")] + quiet)
            finally:
                tf.config.optimizer.set_experimental_options(
                    {"disable_meta_optimizer": before.get("disable_meta_optimizer", False)})
            (runs / "c" / "ckpt").mkdir(parents=True)          # paper C: listed by the app, never run here
            (runs / "c" / "config.json").write_text(json.dumps({"paper": "C", "loss": "bce", "image_size": 32}))
            (runs / "c" / "ckpt" / "checkpoint").write_text("")
            (runs / "trained").write_text("")
    return runs


@pytest.fixture(scope="session")
def served(tmp_path_factory, trained):
    """The app serving the smoke runs and a loose .keras file on a free port (one server per worker),
    a gradio_client Client, and a bundled photo (non-square) as a file."""
    tmp = tmp_path_factory.mktemp("app")
    runs = trained
    loose = tmp / "loose.keras"                                    # a .keras outside any run directory
    shutil.copy(runs / "d" / "export" / "inpainter.keras", loose)
    entries = app.find_models([str(runs)], [str(loose)])
    server = app.build_app(entries)
    url = app.launch(server, free_port())
    from gradio_client import Client
    photo = np.ascontiguousarray(skimage.data.chelsea()[40:240, 80:340])        # 200 x 260 RGB
    yield dict(tmp=tmp, runs=runs, entries=entries, url=url, client=Client(url, verbose=False), photo=photo,
               photo_file=_write(tmp / "photo.png", photo), loose=loose)
    server.close()


def _editor(path, layer=None):
    from gradio_client import handle_file
    return {"background": handle_file(path) if path else None,
            "layers": [handle_file(layer)] if layer else [], "composite": None, "id": None}


def _inpaint(s, editor, hole="drawn with the brush", model=None, seed=0):
    return s["client"].predict(model or str(s["runs"] / "d"), editor, hole, seed, 16, True, True, 300,
                               api_name="/inpaint")


def _check_completion(s, shown, result, hole):
    """Size kept, every known pixel the photo's own, the hole filled (not left white)."""
    photo = s["photo"]
    assert result.shape == photo.shape and shown.shape == photo.shape
    np.testing.assert_array_equal(result[~hole], photo[~hole])
    np.testing.assert_array_equal(shown[~hole], photo[~hole])
    assert (shown[hole] == 255).all()
    assert (result[hole] != 255).any(axis=-1).mean() > 0.9


def test_models_are_found_and_labelled_by_paper(served):
    labels = {Path(e.path).name: (e.task, e.label) for e in served["entries"]}
    assert labels["d"][0] == "inpaint" and labels["d"][1].startswith("D · context encoder (macroblock holes, 32 px)")
    assert labels["e"][0] == "deblur" and labels["e"][1].startswith("E · NonBN-ResG ·")   # the table's name
    assert labels["c"][0] == "inpaint" and "C · WGAN latent search (bce prior, latent search" in labels["c"][1]
    assert labels["loose.keras"] == ("inpaint", f"inpainter · {app._short(served['loose'])}")
    assert labels["d"][1].endswith(f"· …/{served['runs'].name}/d")      # outside the working folder: short
    assert app.entry_for(served["runs"] / "d" / "export" / "inpainter.keras").label.startswith("D · context encoder")


def test_inpaint_endpoint_with_a_brush_stroke(served):
    photo = served["photo"]
    layer = np.zeros(photo.shape[:2] + (4,), np.uint8)
    cv2.line(layer, (60, 100), (200, 110), (255, 0, 255, 255), 14)             # a brush stroke
    hole = layer[..., 3] > 0
    shown, result, text, download, message = _inpaint(
        served, _editor(served["photo_file"], _write(served["tmp"] / "stroke.png", layer)))
    assert message == ""
    _check_completion(served, _read(shown), _read(result), hole)
    np.testing.assert_array_equal(_read(download), _read(result))               # the PNG download
    assert text.startswith("result: PSNR ") and "SSIM" in text and "in the hole" in text


@pytest.mark.parametrize("hole", ["centre square", "random rectangles", "lost macroblocks", "bursts of lost macroblocks"])
def test_inpaint_endpoint_with_a_generated_hole(served, hole):
    shown, result, text, _, message = _inpaint(served, _editor(served["photo_file"]), hole, seed=2,
                                               model=str(served["loose"]))
    assert message == ""
    shown, result = _read(shown), _read(result)
    kind = app.HOLES[hole]
    h, w = served["photo"].shape[:2]
    if kind == "center":     # the hole the model trained on: the loose .keras (no run, so no config) runs at its size
        expected, said = app.trained_hole(app.Models(served["entries"]).get(app.entry_for(served["loose"])), None, h, w)
        assert text.startswith(said[0].upper() + said[1:])
    else:
        expected = app.generated_hole(kind, 2, h, w, block=16)
    _check_completion(served, shown, result, expected)
    assert "PSNR" in text


@pytest.mark.parametrize("how", app.BLURS)
def test_sharpen_endpoint(served, how):
    from gradio_client import handle_file
    blurred, result, text, download, message = served["client"].predict(
        str(served["runs"] / "e"), handle_file(served["photo_file"]), how, 2.0, 3, api_name="/sharpen")
    assert message == ""
    blurred, result = _read(blurred), _read(result)
    assert result.shape == blurred.shape == served["photo"].shape
    if how == app.BLURS[0]:
        np.testing.assert_array_equal(blurred, served["photo"])
        assert text.startswith("no scores")
    else:
        assert np.abs(blurred.astype(int) - served["photo"]).mean() > 1               # it was blurred
        assert "blurred input: PSNR" in text
    np.testing.assert_array_equal(_read(download), result)


def test_cancel_stops_a_running_sharpen_at_its_next_tile_and_only_that_session(served):
    """A 12-MP photo is sharpened in 63 tiles: Cancel (its own API endpoint, the page's button) stops it
    at the next tile with a message, not an error; a Cancel from another session or before an action
    started does not stop it."""
    from gradio_client import Client, handle_file
    big = _write(served["tmp"] / "big.png", cv2.resize(served["photo"], (4000, 3000), interpolation=cv2.INTER_CUBIC))
    client = served["client"]
    Client(served["url"], verbose=False).predict(api_name="/cancel_sharpen")       # another session
    client.predict(api_name="/cancel_sharpen")                                      # before the action: forgotten
    job = client.submit(str(served["runs"] / "e"), handle_file(big), app.BLURS[0], 1.5, 0, api_name="/sharpen")
    end, seen = time.time() + 120, ""
    while time.time() < end and "tile" not in seen and not job.done():     # the page's progress: tiles
        seen = " ".join(str(u.desc) for u in (job.status().progress_data or []))
        time.sleep(0.1)
    assert "sharpening: tile" in seen and not job.done(), "the sharpening finished before the test could cancel it"
    assert client.predict(api_name="/cancel_sharpen").startswith("cancelled: the action stops at its next step")
    *outputs, message = job.result(timeout=120)
    assert outputs == [None] * 4
    assert message.startswith("cancelled while sharpening: tile ") and "\n" not in message, message
    blurred, result, text, download, message = client.predict(                   # the next action runs in full
        str(served["runs"] / "e"), handle_file(served["photo_file"]), app.BLURS[0], 1.5, 0, api_name="/sharpen")
    assert message == "" and _read(result).shape == served["photo"].shape


def test_every_bad_input_is_a_message_and_the_server_keeps_serving(served):
    from gradio_client import handle_file
    tmp = served["tmp"]
    (tmp / "notes.png").write_text("not an image")
    small = _write(tmp / "small.png", served["photo"][:10, :12])
    empty = _write(tmp / "empty_layer.png", np.zeros(served["photo"].shape[:2] + (4,), np.uint8))
    cases = {
        "no image": (lambda: _inpaint(served, _editor(None)), "no photo"),
        "unreadable": (lambda: _inpaint(served, _editor(str(tmp / "notes.png"))), "cannot read the uploaded photo"),
        "no hole": (lambda: _inpaint(served, _editor(served["photo_file"], empty)), "no hole"),
        "too small": (lambda: _inpaint(served, _editor(small), "centre square"), "at least 16x16"),
        "unknown model": (lambda: _inpaint(served, _editor(served["photo_file"]), "centre square",
                                           model="nope"), "no inpaint model 'nope'"),
        "deblur: no image": (lambda: served["client"].predict(str(served["runs"] / "e"), None, app.BLURS[0], 1.5, 0,
                                                              api_name="/sharpen"), "no photo"),
        "deblur: unreadable": (lambda: served["client"].predict(
            str(served["runs"] / "e"), handle_file(str(tmp / "notes.png")), app.BLURS[0], 1.5, 0,
            api_name="/sharpen"), "cannot read the uploaded photo notes.png"),
    }
    for name, (call, expected) in cases.items():
        *outputs, message = call()
        assert outputs == [None] * 4, name
        assert message.startswith("error: ") and expected in message and "\n" not in message, (name, message)
        assert "Traceback" not in message
    shown, result, *_ , message = _inpaint(served, _editor(served["photo_file"]), "centre square")
    assert message == "" and _read(result).shape == served["photo"].shape


def test_without_a_model_it_names_the_training_command(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "app.py"), "--runs", str(tmp_path)], capture_output=True,
                          text=True, cwd=tmp_path, timeout=60)
    assert proc.returncode == 2
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: no trained model found") and "python demo.py" in err[0]


# Skipped only outside CI: under CI=true (.ci/run installs the browser) a missing browser fails the test.
@pytest.mark.skipif(not os.environ.get("CI") and not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()),
                    reason=f"needs Debian's chromium and chromium-driver ({CHROMIUM}, {CHROMEDRIVER}): "
                           f"apt-get install -y chromium chromium-driver (.ci/run does)")
def test_in_a_real_browser_upload_draw_fill(served):
    """Upload a photo, draw a stroke with the mouse, run the smoke model, read the result image back.
    The screenshot lands in the test's folder; UPDATE_SCREENSHOT=1 also writes the README's docs/images/app.png."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    from bench.app_browser import chromium, wait_for as wait
    driver = chromium()

    def wait_for(find, what, timeout=60):
        return wait(driver, find, what, timeout, served["tmp"] / "failed.png")

    try:
        driver.get(served["url"])
        loaded = "#inpaint-photo button[aria-label=Pan]:not([disabled])"    # panning: a photo is on the canvas
        # The editor draws with WebGL (SwiftShader here): an upload sent before its canvas is ready is
        # dropped, so wait for the canvas and the run button, then give a busy machine a moment.
        wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, "#inpaint-photo canvas"), "the editor's canvas")
        wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, "#inpaint-run"), "the run button")
        time.sleep(3.0)
        for attempt in range(5):      # a page still hydrating on a busy machine may drop an upload
            wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, "#inpaint-photo input[type=file]"),
                     "the photo editor")[0].send_keys(served["photo_file"])
            try:
                wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, loaded), "the photo on the canvas", 30)
                break
            except AssertionError:
                if attempt == 4:
                    raise
                time.sleep(2.0 * (attempt + 1))
        canvas = driver.find_elements(By.CSS_SELECTOR, "#inpaint-photo canvas")[-1]
        time.sleep(1.0)
        ActionChains(driver).move_to_element_with_offset(canvas, -70, 0).click_and_hold() \
            .move_by_offset(50, 6).move_by_offset(50, 6).move_by_offset(40, -4).release().perform()
        time.sleep(0.5)
        message = driver.find_element(By.CSS_SELECTOR, "#inpaint-message textarea")
        for attempt in range(5):
            driver.find_element(By.CSS_SELECTOR, "#inpaint-run").click()
            images = wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, "#inpaint-output img")
                              or message.get_attribute("value"), "a result or a message", timeout=120)
            if not (isinstance(images, str) and "no photo" in images):
                break
            time.sleep(2)          # on a busy machine the photo may still be on its way to the server
        assert not isinstance(images, str), images
        wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, "#inpaint-input img"), "the input image")
        shown_src = driver.find_element(By.CSS_SELECTOR, "#inpaint-input img").get_attribute("src")
        result_src = images[0].get_attribute("src")
        driver.execute_script("window.scrollTo(0, 0)")
        time.sleep(0.5)
        driver.save_screenshot(str(served["tmp"] / "app.png"))
        if os.environ.get("UPDATE_SCREENSHOT") == "1" or not SCREENSHOT.exists():   # else the tree stays clean
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(served["tmp"] / "app.png", SCREENSHOT)
    finally:
        driver.quit()

    def fetch(src):
        data = np.frombuffer(urllib.request.urlopen(src, timeout=30).read(), np.uint8)
        return cv2.imdecode(data, cv2.IMREAD_COLOR)[..., ::-1]

    shown, result, photo = fetch(shown_src), fetch(result_src), served["photo"]
    hole = (shown != photo).any(axis=-1)                          # where the stroke went (shown white)
    assert 500 < hole.sum() < 0.5 * hole.size                     # a stroke, not nothing, not everything
    rows = np.nonzero(hole)[0]
    assert abs(rows.mean() - photo.shape[0] / 2) < 0.2 * photo.shape[0]   # across the middle, as drawn
    _check_completion(served, shown, result, hole)


def test_the_centre_hole_is_the_one_the_model_was_trained_to_fill():
    """A model that sees the photo resized to S x S gets the centre half of each side (its S/2 square);
    a fully convolutional one at native resolution gets the largest hole it trained on, in pixels."""
    class Squeezing:            # runs at its own size only (papers B, C, D)
        image_size = 32

        def any_size(self):
            return None

    class Native(Squeezing):    # fully convolutional (paper A)
        def any_size(self):
            return object()

    hole, said = app.trained_hole(Squeezing(), {}, 1500, 2000)
    assert hole.sum() == 750 * 1000 and hole[375:1125, 500:1500].all() and "centre 16x16 square" in said
    hole, said = app.trained_hole(Native(), {"hole_max": 24}, 1500, 2000)
    assert hole.sum() == 24 * 24 and hole[738:762, 988:1012].all() and "24x24 px" in said


def test_a_large_photo_is_scored_around_its_hole():
    from app_actions import SCORE_MARGIN, scores
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 256, (1500, 2000, 3), dtype=np.uint8)
    hole = np.zeros((1500, 2000), bool)
    hole[700:740, 900:960] = True
    result = truth.copy()
    result[hole] = 0
    text = scores(result, truth, hole)
    assert f"hole's {60 + 2 * SCORE_MARGIN}x{40 + 2 * SCORE_MARGIN}-px box" in text
    import metrics
    crop = (slice(700 - SCORE_MARGIN, 740 + SCORE_MARGIN), slice(900 - SCORE_MARGIN, 960 + SCORE_MARGIN))
    assert f"in the hole: PSNR {metrics.psnr(result, truth, mask=hole):.2f} dB" in text   # the hole's own figure
    assert f"SSIM {metrics.ssim(result[crop], truth[crop]):.4f}" in text


@pytest.mark.skipif(not os.environ.get("CI") and not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()),
                    reason=f"needs Debian's chromium and chromium-driver ({CHROMIUM}, {CHROMEDRIVER})")
def test_the_browser_bench_times_each_action_and_the_handlers_share(trained, tmp_path):
    """bench/app_browser.py on the smoke runs: one row per action and size, every action gives a result
    (no message), and the page's seconds include the handler's."""
    from bench import app_browser
    out = tmp_path / "r.json"
    app_browser.main(["--runs", str(trained), "--sizes", "160x120", "--only", "D ·", "E ·", "--json", str(out)])
    rows = json.loads(out.read_text())["rows"]
    assert [r["action"].split(":")[0] for r in rows] == ["inpaint, centre square", "blur (Gaussian), then sharpen"]
    for r in rows:
        assert r["size"] == "160x120" and r["message"] == "" and 0 < r["handler_s"] <= r["seconds"] + 0.05, r
