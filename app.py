"""A local browser app: restore your own photos with the trained models, no mask files by hand.

    python app.py                         # the runs in runs/ and results/runs/ (python demo.py trains them)
    python app.py --port 8000 --model runs/train_iizuka --model generator.keras
    python app.py --runs my_runs other_runs

Open the printed URL (127.0.0.1 only, unless --host). Inpainting (papers A-D): upload a photo and
paint the hole with the brush, or let the app cut one (centre square, random rectangles, lost
macroblocks or bursts of them, the masks the models train on: data/masks.py); the hole is filled
by inpaint.py's completion (the photo resized to the model's size over its known pixels only,
every known pixel of the result the photo's own, Poisson-blended). Deblurring (paper E): upload a
blurred photo, or a sharp one and blur it with a Gaussian or camera-shake kernel (data/degrade.py)
to compare; sharpen.py's tiled sharpening. When the app damaged a clean photo itself, PSNR/SSIM
(metrics.py) against that photo are shown beside the result. Every bad input is one message in
the page, and the server keeps serving.
"""
import argparse
import functools
import json
import os
import tempfile
import time
import traceback
import zipfile
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")          # a user-facing tool: no TensorFlow info lines
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # offline: no usage pings

import numpy as np

import papers
import rundir
from errors import UserError, cli
import cliargs
from quiet_tf import import_tensorflow
from app_actions import (BLURS, Cancelled, Cancels, check_size, generated_hole, inpaint_photo, session_of,
                         sharpen_photo, trained_hole)

DEFAULT_RUNS = ("runs", "results/runs")
HOLES = {              # the hole choices: label -> data.masks kind (None = drawn with the brush)
    "drawn with the brush": None,
    "centre square": "center",
    "random rectangles": "rectangles",
    "lost macroblocks": "macroblock",
    "bursts of lost macroblocks": "burst",
}
NO_MODEL = ("no trained model found in {where}: train all five papers' models with `python demo.py` (minutes "
            "on a CPU; they land in results/runs), or one with e.g. `python {script} --smoke --run-dir runs/{run}`, "
            "or pass --model RUN_DIR_OR_KERAS")


def no_model(where, task=None):
    """NO_MODEL with a train script of `task`'s papers (the first the registry lists)."""
    paper = next((p for p in papers.PAPERS.values() if task in (None, p.task)), None)
    script = f"{paper.train_module}.py" if paper else "demo.py"
    return NO_MODEL.format(where=where, script=script, run=paper.train_module.removeprefix("train_") if paper else "x")


@dataclass(frozen=True)
class Entry:
    """A model the app offers: its path (run directory or .keras), task and what the label says."""
    path: str
    task: str            # "inpaint" or "deblur"
    letter: str          # the paper's letter, "" for a .keras file outside a run directory
    label: str
    search: bool = False  # its paper completes by a search (paper C): loaded per iteration count, listed last


def _keras_inputs(path):
    """The input names of a .keras file, read from its config.json inside the zip (no TensorFlow)."""
    try:
        with zipfile.ZipFile(path) as z:
            config = json.loads(z.read("config.json"))
        return [layer[0] for layer in config["config"]["input_layers"]]
    except (OSError, KeyError, ValueError, TypeError, IndexError, zipfile.BadZipFile):
        raise UserError(f"cannot read model {path}: not an exported Keras 3 .keras model") from None


def _short(path):
    """A path as the label shows it: relative to the working folder when inside it, else its last two parts."""
    path = Path(path)
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(Path("…", *path.parts[-2:])) if len(path.parts) > 2 else str(path)


def entry_for(path):
    """A run directory or .keras file -> Entry, None when it holds no usable model; papers.py and the
    run's config.json say which paper it is (a .keras file inside <run>/export/ gets its run's)."""
    path = Path(path)
    if path.is_dir():
        config = rundir.read_config(path)
        paper = papers.PAPERS.get((config or {}).get("paper"))
        if paper is None:
            return None
        if paper.export:
            usable = rundir.export_path(path, paper.export).is_file() or (
                paper.task == "deblur" and rundir.has_checkpoints(path))
        else:                                                    # paper C: latent search in the checkpoint
            usable = rundir.has_checkpoints(path)
        if not usable:
            return None
        return Entry(str(path), paper.task, paper.letter, f"{paper.label(config)} · {_short(path)}",
                     search=bool(paper.inpainter))
    if path.suffix == ".keras" and path.is_file():
        inputs = _keras_inputs(path)
        task = "inpaint" if len(inputs) == 2 else "deblur" if len(inputs) == 1 else None
        if task is None:
            raise UserError(f"{path} takes the inputs {inputs}: neither an inpainter [image, mask] nor a generator")
        config = rundir.read_config(path.parent.parent) if path.parent.name == rundir.EXPORT else None
        paper = papers.PAPERS.get((config or {}).get("paper"))
        what = paper.label(config) if paper else ("inpainter" if task == "inpaint" else "deblurring generator")
        return Entry(str(path), task, paper.letter if paper else "", f"{what} · {_short(path)}")
    raise UserError(f"no model at {path}; pass a trained run directory or an exported .keras file")


def find_models(roots=DEFAULT_RUNS, models=()):
    """Every usable model: each root that is a run, each run directly inside a root, then --model paths."""
    found = []
    for root in map(Path, roots):
        if not root.is_dir():
            continue
        runs = [root] if rundir.config_path(root).is_file() else sorted(p for p in root.iterdir() if p.is_dir())
        found += [e for e in map(entry_for, runs) if e is not None]
    for path in models:
        entry = entry_for(path)
        if entry is None:
            raise UserError(f"{path} holds no trained model (no config.json naming a paper, or nothing exported "
                            f"yet); finish training it or pass its export/*.keras file")
        found.append(entry)
    return list({e.path: e for e in found}.values())


class Models:
    """The app's models by path, each loaded on first use (paper C's latent search per iteration count)."""

    def __init__(self, entries):
        self.entries = {e.path: e for e in entries}
        self._loaded = {}

    def entry(self, key, task):
        entry = self.entries.get(key)
        if entry is None or entry.task != task:
            names = [e.path for e in self.entries.values() if e.task == task]
            raise UserError(f"no {task} model {key!r}: choose one of {', '.join(names) or 'none (train one first)'}")
        return entry

    def preload(self, log=print, iterations=300):
        """Load every model now and run it once on a small input (Keras builds, tf.function traces), so
        that no action waits on a first-use load; `iterations`: the app's default for a search."""
        start, failed = time.time(), 0
        log(f"app: loading {len(self.entries)} models ...")
        for entry in self.entries.values():
            try:
                model = self.get(entry, iterations)
            except Exception as e:       # one broken run must not stop the app: choosing it says why
                failed += 1
                log(f"app: cannot load {entry.path} ({type(e).__name__}: {' '.join(str(e).split())[:200]}); "
                    f"the app serves the others")
                continue
            if entry.task == "deblur":
                from sharpen import compiled
                compiled(model)(np.zeros((1, 64, 64, 3), np.float32))
            elif hasattr(model, "model"):            # a feed-forward inpainter (not a search)
                s = model.image_size
                model.predict(np.zeros((1, s, s, 3), np.float32), np.ones((1, s, s, 1), np.float32))
        log(f"app: {len(self.entries) - failed} models loaded in {time.time() - start:.0f} s")

    def sharpen(self, entry, image, on_tile=None):
        """sharpen.py's tiled sharpening of a uint8 photo with this entry's generator."""
        from sharpen import sharpen_array
        return sharpen_array(self.get(entry), image, on_tile=on_tile)

    def get(self, entry, iterations=None):
        key = (entry.path, iterations if entry.search else None)
        if key not in self._loaded:
            if entry.task == "deblur":
                from sharpen import load_generator
                self._loaded[key] = load_generator(entry.path)
            else:
                from inpainters import load_inpainter
                search = dict(iterations=int(iterations)) if entry.search else {}
                self._loaded[key] = load_inpainter(entry.path, **search)
        return self._loaded[key]


def _editor_photo_and_strokes(editor, payload):
    """An ImageEditor payload -> (uint8 photo [H, W, 3], bool strokes [H, W]); unreadable -> UserError."""
    from gradio.components.image_editor import EditorData
    if not payload or not (payload.get("background") or payload.get("id")):
        raise UserError("no photo: upload one (drop a file on the editor or click it)")
    try:
        value = editor.preprocess(EditorData(**payload))
    except Exception:
        raise UserError("cannot read the uploaded photo: not a JPEG/PNG/BMP/WebP/GIF image") from None
    background = value and value.get("background")
    if background is None:
        raise UserError("no photo: upload one (drop a file on the editor or click it)")
    photo = _rgb(np.asarray(background))
    strokes = np.zeros(photo.shape[:2], bool)
    for layer in value.get("layers") or []:
        layer = np.asarray(layer)
        alpha = layer[..., 3] if layer.ndim == 3 and layer.shape[-1] == 4 else np.zeros(layer.shape[:2], np.uint8)
        if alpha.shape != strokes.shape:               # a layer drawn on another canvas size: scale it
            import cv2
            alpha = cv2.resize(alpha, strokes.shape[::-1], interpolation=cv2.INTER_NEAREST)
        strokes |= alpha > 0
    return photo, strokes


def _rgb(image):
    """uint8 [H, W], [H, W, 3] or [H, W, 4] -> uint8 RGB, transparency composited onto white."""
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)
    if image.shape[-1] == 4:
        alpha = image[..., 3:].astype(np.float32) / 255.0
        image = np.rint(image[..., :3] * alpha + 255.0 * (1.0 - alpha))
    return np.ascontiguousarray(image[..., :3]).astype(np.uint8)


def _uploaded_photo(payload):
    """A gr.Image upload payload (FileData) -> uint8 RGB, read by imagefiles like every CLI reads."""
    import imagefiles
    path = (payload or {}).get("path") if isinstance(payload, dict) else None
    if not path:
        raise UserError("no photo: upload one (drop a file on the image box or click it)")
    try:
        return imagefiles.read_image(path, "uploaded photo")
    except UserError:
        name = payload.get("orig_name") or Path(path).name
        raise UserError(f"cannot read the uploaded photo {name}: not a JPEG/PNG/BMP/WebP/GIF image") from None


def _png(image, out_dir, name):
    """An image as a PNG in the app's folder -> its path. The page gets these files, not arrays: Gradio
    would encode an array again with PIL, 3.5 s for a 12-MP photo against OpenCV's 0.5 s."""
    from imagefiles import write_png
    fd, path = tempfile.mkstemp(dir=out_dir, prefix=f"{name}_", suffix=".png")
    os.close(fd)
    return str(write_png(path, image))


def _guarded(fn, n_out):
    """A handler whose UserError (or any failure) is a warning and a message box, never a traceback.
    functools.wraps keeps fn's signature, where Gradio finds its gr.Request and gr.Progress."""
    @functools.wraps(fn)
    def handler(*args):
        import gradio as gr
        try:
            return (*fn(*args), "")
        except Cancelled as e:
            gr.Info(str(e))
            return (*([None] * n_out), str(e))
        except UserError as e:
            message = f"error: {' '.join(str(e).split())}"
        except Exception as e:   # the server keeps serving; the console keeps the traceback
            traceback.print_exc()
            message = f"error: unexpected {type(e).__name__}: {' '.join(str(e).split())[:300]}"
        gr.Warning(message)
        return (*([None] * n_out), message)
    return handler


def _model_picker(gr, choices, what, prefix, task):
    """The no-model note (when there is none) and the model dropdown of one tab."""
    if not choices:
        text = no_model("the runs searched", task)
        gr.Markdown(f"No {what} model found. {text[0].upper()}{text[1:]}.")
    return gr.Dropdown(choices, value=choices[0][1] if choices else None, label="Model (paper · method · run)",
                       elem_id=f"{prefix}-model")


def _result_column(gr, input_label, result_label, prefix):
    """A tab's outputs: the input as the model saw it, the result, scores, the PNG download, the message."""
    with gr.Column():
        with gr.Row():
            shown = gr.Image(label=input_label, format="png", interactive=False, elem_id=f"{prefix}-input")
            result = gr.Image(label=result_label, format="png", interactive=False, elem_id=f"{prefix}-output")
        text = gr.Textbox(label="PSNR / SSIM", lines=2, elem_id=f"{prefix}-scores")
        download = gr.File(label="Download the result (PNG)", height=120, elem_id=f"{prefix}-download")
        message = gr.Textbox(label="Message", elem_id=f"{prefix}-message")
    return [shown, result, text, download, message]


def build_app(entries, models=None):
    """The gr.Blocks page for these entries (two tabs), with the API endpoints inpaint and sharpen.
    models: a Models of these entries (main preloads it), else one that loads each on first use."""
    import gradio as gr
    models = models or Models(entries)
    out_dir = tempfile.mkdtemp(prefix="gan-restoration-app-")
    # a search (paper C's latent search) is slow: listed last, so a feed-forward model is the default
    inpainters = [(e.label, e.path) for e in sorted((e for e in entries if e.task == "inpaint"),
                                                    key=lambda e: e.search)]
    sharpeners = [(e.label, e.path) for e in entries if e.task == "deblur"]
    letters = {task: ", ".join(p.letter for p in papers.PAPERS.values() if p.task == task) for task in ("inpaint", "deblur")}

    cancels = Cancels()

    def cancel(request: gr.Request = None):
        """The Cancel buttons: a queued action is dropped (Gradio's cancels, which also stops the page
        waiting for it), a running one stops at its next step; the message box says so."""
        cancels.ask(session_of(request))
        return "cancelled: the action stops at its next step (a tile, a stage); nothing was changed"

    with gr.Blocks(title="GAN image restoration") as app:
        gr.Markdown("# GAN image restoration\nYour own photos with the trained models of papers "
                    f"{', '.join(papers.LETTERS)} "
                    "(see the README). Pick a model, give a photo, press the button.")
        with gr.Tab(f"Inpaint (papers {letters['inpaint']})"):
            with gr.Row():
                with gr.Column():
                    model = _model_picker(gr, inpainters, "inpainting", "inpaint", "inpaint")
                    editor = gr.ImageEditor(
                        type="numpy", image_mode="RGBA", format="png", label="Photo: upload, then paint the hole",
                        brush=gr.Brush(colors=["#ff00ff"], default_color="#ff00ff", color_mode="fixed",
                                       default_size=16),
                        layers=False, elem_id="inpaint-photo", height=420)
                    hole = gr.Radio(list(HOLES), value=next(iter(HOLES)), label="Hole")
                    with gr.Row():
                        go = gr.Button("Fill the hole", variant="primary", elem_id="inpaint-run")
                        stop = gr.Button("Cancel", variant="stop", elem_id="inpaint-cancel")
                    with gr.Accordion("Options", open=False):
                        with gr.Row():
                            seed = gr.Number(0, precision=0, label="Seed of a generated hole")
                            block = gr.Slider(4, 64, 16, step=4, label="Macroblock side (px)")
                        with gr.Row():
                            blend = gr.Checkbox(True, label="Poisson blending")
                            clean = gr.Checkbox(True, label="The photo is clean: score the result against it")
                        iterations = gr.Slider(10, 1500, 300, step=10, label="Paper C: latent search iterations")
                outputs = _result_column(gr, "Input (hole in white)", "Result", "inpaint")

            def inpaint_event(key, payload, hole_label, seed, block, blend, clean, iterations,
                              request: gr.Request = None, progress=gr.Progress()):
                step = cancels.steps(session_of(request), progress)
                step(0.0, "reading the photo")
                entry = models.entry(key, "inpaint")
                photo, strokes = _editor_photo_and_strokes(editor, payload)
                check_size(photo)
                if hole_label not in HOLES:
                    raise UserError(f"unknown hole {hole_label!r}: choose one of {', '.join(HOLES)}")
                kind = HOLES[hole_label]
                h, w = strokes.shape
                cut = ""
                if kind == "center":                 # the hole this model was trained to fill
                    config = rundir.read_config(entry.path) if Path(entry.path).is_dir() else None
                    holes, cut = trained_hole(models.get(entry, int(iterations)), config, h, w)
                else:
                    holes = strokes if kind is None else generated_hole(kind, int(seed or 0), h, w, int(block))
                if kind is None and not strokes.any():
                    raise UserError("no hole: paint over the region to fill with the brush, or choose a "
                                    "generated hole")
                damaged, out, scored = inpaint_photo(models, entry, photo, holes, bool(blend), bool(clean),
                                                     int(iterations), progress=step)
                step(0.95, "sending the result")
                result = _png(out, out_dir, "inpainted")
                return _png(damaged, out_dir, "input"), result, \
                    (f"{cut[0].upper()}{cut[1:]}.\n{scored}" if cut else scored), result

            run = go.click(_guarded(inpaint_event, 4), [model, editor, hole, seed, block, blend, clean, iterations],
                           outputs, api_name="inpaint", preprocess=False, show_progress_on=outputs[-1])
            stop.click(cancel, None, outputs[-1], cancels=[run], queue=False, api_name="cancel_inpaint")

        with gr.Tab(f"Deblur (paper {letters['deblur']})"):
            with gr.Row():
                with gr.Column():
                    model_e = _model_picker(gr, sharpeners, "deblurring", "sharpen", "deblur")
                    photo_e = gr.Image(type="numpy", format="png", label="Photo", elem_id="sharpen-photo")
                    how = gr.Radio(list(BLURS), value=BLURS[0], label="Blur")
                    with gr.Row():
                        go_e = gr.Button("Sharpen", variant="primary", elem_id="sharpen-run")
                        stop_e = gr.Button("Cancel", variant="stop", elem_id="sharpen-cancel")
                    with gr.Accordion("Options", open=False):
                        with gr.Row():
                            sigma = gr.Slider(0.5, 3.0, 1.5, step=0.1, label="Gaussian sigma (px)")
                            seed_e = gr.Number(0, precision=0, label="Motion kernel seed")
                outputs_e = _result_column(gr, "Blurred input", "Sharpened", "sharpen")

            def sharpen_event(key, payload, how, sigma, seed, request: gr.Request = None, progress=gr.Progress()):
                step = cancels.steps(session_of(request), progress)
                step(0.0, "reading the photo")
                entry = models.entry(key, "deblur")
                photo = check_size(_uploaded_photo(payload))
                blurred, out, scored = sharpen_photo(models, entry, photo, how, float(sigma), int(seed or 0),
                                                     progress=step)
                step(0.95, "sending the result")
                result = _png(out, out_dir, "sharpened")
                return _png(blurred, out_dir, "blurred"), result, scored, result

            run_e = go_e.click(_guarded(sharpen_event, 4), [model_e, photo_e, how, sigma, seed_e],
                               outputs_e, api_name="sharpen", preprocess=False, show_progress_on=outputs_e[-1])
            stop_e.click(cancel, None, outputs_e[-1], cancels=[run_e], queue=False, api_name="cancel_sharpen")
    app.queue(default_concurrency_limit=1)     # one model call at a time: the CPU is the bottleneck
    app.out_dir = out_dir
    return app


def launch(app, port=7860, host="127.0.0.1"):
    """Start serving without blocking -> the local URL; a busy port -> UserError."""
    try:
        app.launch(server_name=host, server_port=port, prevent_thread_lock=True, quiet=True, show_error=True,
                   allowed_paths=[app.out_dir])
    except OSError as e:
        raise UserError(f"cannot serve on {host}:{port} ({' '.join(str(e).split())}): pass another --port") from None
    return app.local_url


def main(argv=None):
    p = cliargs.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter, verbose=True)
    p.add_argument("--port", type=int, default=7860, help="the local port (default: %(default)s)")
    p.add_argument("--host", default="127.0.0.1",
                   help="the address to bind (default: %(default)s, this machine only; 0.0.0.0 shares it)")
    p.add_argument("--model", action="append", default=[], metavar="PATH",
                   help="a run directory or exported .keras file to offer (repeat for more)")
    p.add_argument("--runs", nargs="+", default=list(DEFAULT_RUNS), metavar="DIR",
                   help="folders of run directories to search (default: %(default)s)")
    a = p.parse_args(argv)
    if not 0 < a.port < 65536:
        raise UserError(f"--port must be 1..65535, got {a.port}")
    entries = find_models(a.runs, a.model)
    if not entries:
        raise UserError(no_model(", ".join(f"{r}/" for r in a.runs)))
    import_tensorflow()           # the models found; TensorFlow's start-up lines stay off stderr
    models = Models(entries)
    models.preload()
    app = build_app(entries, models)
    url = launch(app, a.port, a.host)
    print(f"app: {len(entries)} models ({', '.join(sorted({e.letter or '?' for e in entries}))}); "
          f"open {url} (Ctrl-C stops it)", flush=True)
    try:
        app.block_thread()
    finally:
        app.close()
    return 0


if __name__ == "__main__":
    cli(main)
