"""What every table shares and needs no TensorFlow: the rows, their training data, the classical
baselines, the row cache.

A row is a Method; a trained model's row knows which images its model trained on (its run's
config.json, data/selection.py), and a model that saw any test image is not scored. The classical
rows (mean fill, OpenCV Telea / Navier-Stokes, scikit-image biharmonic, unsharp mask) are plain
functions of uint8 images. With evaluate.py --reuse-rows a row already scored on the same inputs by
the same model is read back from <out>/rows/ instead of computed again (RowCache, score_row).
"""
import dataclasses
import functools
import hashlib
import json
import os
import re
from pathlib import Path

import cv2
import numpy as np
from skimage.restoration import inpaint_biharmonic
from tqdm import tqdm

import rundir
from data import selection
from errors import UserError
from imagefiles import read_image

# ----------------------------------------------------------------------------- our choices
MASK_SEED = 2017                 # [choice] the one seed of every evaluation mask bank
INPAINT_RADIUS = 3               # [choice] cv2.inpaint radius for Telea and Navier-Stokes
UNSHARP_SIGMA = 2.0              # [choice] unsharp mask: cv2.GaussianBlur sigma (kernel from sigma)
UNSHARP_AMOUNT = 1.0             # [choice] out = x + amount * (x - blur(x)), rounded and clipped
GRID_EXAMPLES = 4
NOT_TRAINED = "not trained"
NOT_COMPARABLE = "not comparable: trained on test images"

MEAN_FILL = ("mean fill", "mean")   # each hole pixel = the per-channel mean of the image's known pixels
CLASSICAL = (("OpenCV Telea", "telea"), ("OpenCV Navier-Stokes", "ns"), ("scikit-image biharmonic", "biharmonic"))


def slug(name):
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def progress(iterable, desc, total=None):
    return tqdm(iterable, desc=desc, total=total, unit="img", leave=False)


def means(per_image):
    keys = [k for k in per_image[0] if k not in ("index", "file")] if per_image else []
    return {k: float(np.mean([r[k] for r in per_image])) for k in keys}


def image_names(n):
    """The file names of a table's n images: 00000.png, 00001.png, ..."""
    return [f"{i:05d}.png" for i in range(n)]


# ----------------------------------------------------------------------------- rows
class Method:
    """A row: `name`, `status` ("ok" / NOT_TRAINED / NOT_COMPARABLE / "failed: ..."), `where`,
    `fn`, and for a trained model `trained` (its training Selection, None if unknown).

    `load` instead of `fn`: fn is made on first use, so a row the row cache holds never loads its model;
    a UserError there makes the status "failed: ...". `identity`: what besides its name and inputs
    decides the row's outputs (a model's files and settings), part of the row cache's key."""

    def __init__(self, name, where, fn=None, status="ok", trained=None, trained_on=None, load=None, identity=None):
        self.name, self.where, self.status = name, str(where), status
        self.trained, self.trained_on, self.identity = trained, trained_on, identity
        self._fn, self._load = fn, load

    @property
    def pending(self):
        """True while the row's function is still to be loaded."""
        return self._load is not None

    @property
    def fn(self):
        """The row's function (loaded now if it is pending; None when that failed)."""
        if self._load is not None:
            load, self._load = self._load, None
            try:
                self._fn = load()
            except UserError as e:
                self.status = f"failed: {e}"
        return self._fn


def run_config(path):
    """The config.json of the run that made `path` (a run directory, or a file under <run>/export/)."""
    path = Path(path)
    for folder in ([path] if path.is_dir() else []) + [path.parent, path.parent.parent]:
        if rundir.config_path(folder).is_file():
            try:
                config = rundir.read_config(folder)
            except UserError:
                return None
            return config if isinstance(config, dict) else None
    return None


def files_identity(path, skip=(rundir.LOGS, rundir.IMAGES, rundir.LOCK)):
    """A model's files as [(relative path, size, mtime_ns)]: `path` itself, or each file of a run
    directory but its logs, training samples and lock (what training rewrites without changing the model)."""
    path = Path(path)
    if path.is_file():
        files = {path.name: path}
    else:
        files = {str(f.relative_to(path)): f for f in sorted(path.rglob("*"))
                 if f.is_file() and f.relative_to(path).parts[0] not in skip}
    return [(name, f.stat().st_size, f.stat().st_mtime_ns) for name, f in files.items()]


def training_selection(path):
    """(Selection or None, one-line description) of the images the model at `path` trained on."""
    config = run_config(path)
    trained = selection.of_config(config) if config else None
    if trained is None:
        return None, "unknown (no config.json naming its dataset)"
    return trained, trained.describe()


def comparable(trained, test):
    """False when a model's training selection shares images with the test selection."""
    return trained is None or test is None or not selection.overlaps(trained, test)


def scored_part(test, n):
    """The first n images of a test Selection (what a --limit run scores)."""
    return dataclasses.replace(test, hi=min(test.hi, test.lo + n))


def training_lines(methods, test, label="Test images"):
    """Markdown lines: which images the table scores and which each model row trained on."""
    lines = [f"{label}: {test.describe() if test is not None else 'see the protocol'}. Training images of each "
             f"model row (from its run's config.json); a row whose model saw any test image is not scored:", ""]
    for m in methods:
        if m.trained_on is not None:
            lines.append(f"- {m.name}: {m.trained_on}" + (f" -> **{m.status}**" if m.status == NOT_COMPARABLE else ""))
    return lines + [""]


# ----------------------------------------------------------------------------- classical baselines
def classical_inpaint(method, image, hole):
    """Mean fill, OpenCV Telea / Navier-Stokes (radius INPAINT_RADIUS) or scikit-image biharmonic."""
    if method == "mean":      # the trivial baseline: every hole pixel = the mean colour of the known pixels
        return np.where(hole[..., None], image[~hole].mean(axis=0).round().astype(np.uint8), image)
    if method == "biharmonic":
        out = inpaint_biharmonic(image.astype(np.float64) / 255.0, hole, channel_axis=-1)
        out = np.clip(np.rint(out * 255.0), 0, 255).astype(np.uint8)
        return np.where(hole[..., None], out, image)
    flag = {"telea": cv2.INPAINT_TELEA, "ns": cv2.INPAINT_NS}[method]
    bgr = np.ascontiguousarray(image[..., ::-1])
    out = cv2.inpaint(bgr, hole.astype(np.uint8) * 255, INPAINT_RADIUS, flag)[..., ::-1]
    return np.where(hole[..., None], out, image).astype(np.uint8)


def classical_method(name, key):
    return Method(name, "classical", fn=lambda im, h: classical_inpaint(key, im, h))


def unsharp_mask(image, sigma=UNSHARP_SIGMA, amount=UNSHARP_AMOUNT):
    """uint8 -> uint8: x + amount * (x - GaussianBlur(x, sigma)), the classical sharpening baseline."""
    x = image.astype(np.float32)
    blur = cv2.GaussianBlur(x, (0, 0), sigma)
    return np.clip(np.rint(x + amount * (x - blur)), 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------- the row cache
ROWS = "rows"                    # <out>/rows/<set>/<method>.json: the rows evaluate.py --reuse-rows saved
ROW_FORMAT = 1                   # part of every row's key: bump it when a change alters what a row holds
ROOT = Path(__file__).resolve().parents[1]


@functools.cache
def code_identity():
    """sha256 of the repository's Python source (tests and the virtual environment left out): part of
    every row's key, so a row scored by other code (a blend, a metric, a model change) is scored again."""
    files = []
    for folder, subfolders, names in os.walk(ROOT):
        subfolders[:] = sorted(d for d in subfolders if not d.startswith(".") and d not in ("tests", "results"))
        files += [Path(folder) / n for n in sorted(names) if n.endswith(".py")]
    return digest([(str(f.relative_to(ROOT)), f.read_bytes()) for f in files])


def digest(*parts):
    """sha256 hex of numpy arrays (shape, dtype, bytes), lists of them and anything else by repr."""
    h = hashlib.sha256()

    def feed(part):
        if isinstance(part, np.ndarray):
            h.update(repr((part.shape, part.dtype.str)).encode())
            h.update(np.ascontiguousarray(part).tobytes())
        elif isinstance(part, (list, tuple)):
            h.update(f"[{len(part)}".encode())
            for p in part:
                feed(p)
        else:
            h.update(repr(part).encode())
    feed(parts)
    return h.hexdigest()


class RowCache:
    """evaluate.py --reuse-rows: each scored row of one image set is saved as <out>/rows/<set>/<slug of
    its name>.json with the key of what made it (its name and identity, the set's inputs and settings)
    and reused while the key matches and its output PNGs are there, so a table rescored after one more
    model is trained (demo.py) computes that model's rows only."""

    def __init__(self, out_dir, set_name, *inputs):
        self.out_dir, self.folder = Path(out_dir), Path(out_dir) / ROWS / set_name
        self.inputs = digest(ROW_FORMAT, code_identity(), *inputs)

    def _key(self, method):
        return digest(self.inputs, method.name, method.identity)

    def _file(self, method):
        return self.folder / f"{slug(method.name)}.json"

    def get(self, method):
        """The saved entry of `method`'s row (its `where` as now), or None."""
        try:
            saved = json.loads(self._file(method).read_text())
        except (OSError, ValueError):
            return None
        entry = saved.get("entry") if isinstance(saved, dict) and saved.get("key") == self._key(method) else None
        if entry is None or not all((self.out_dir / r["file"]).is_file() for r in entry["per_image"]):
            return None
        return {**entry, "where": method.where}

    def put(self, method, entry):
        self.folder.mkdir(parents=True, exist_ok=True)
        rundir.write_json_atomic(self._file(method), {"key": self._key(method), "entry": entry})

    def shown(self, entry):
        """The row's first GRID_EXAMPLES outputs, read back from its PNGs (lossless: as computed)."""
        return [read_image(self.out_dir / r["file"]) for r in entry["per_image"][:GRID_EXAMPLES]]


def row_cache(reuse, out_dir, set_name, *inputs):
    """A RowCache of one image set when `reuse` (evaluate.py --reuse-rows), else None."""
    return RowCache(out_dir, set_name, *inputs) if reuse else None


def score_row(method, cache, compute):
    """(entry, grid images) of one row: entry = dict(status, where[, mean, per_image]), the images its
    first GRID_EXAMPLES outputs (None when unscored). From `cache` when it holds the row, else
    compute(method) -> (per_image, grid images), with the model loaded only then, and saved to it."""
    held = cache.get(method) if cache is not None and method.status == "ok" else None
    if held is not None:
        return held, cache.shown(held)
    ready = method.status == "ok" and method.fn is not None      # loads the model; a failure sets the status
    entry = {"status": method.status, "where": method.where}
    if not ready:
        return entry, None
    per, shown = compute(method)
    entry.update(mean=means(per), per_image=per)
    if cache is not None:
        cache.put(method, entry)
    return entry, shown
