"""What every table shares and needs no TensorFlow: the rows, their training data, the classical baselines.

A row is a Method; a trained model's row knows which images its model trained on (its run's
config.json, data/selection.py), and a model that saw any test image is not scored. The classical
rows (mean fill, OpenCV Telea / Navier-Stokes, scikit-image biharmonic, unsharp mask) are plain
functions of uint8 images.
"""
import dataclasses
import re
from pathlib import Path

import cv2
import numpy as np
from skimage.restoration import inpaint_biharmonic
from tqdm import tqdm

import rundir
from data import selection
from errors import UserError

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
    `fn`, and for a trained model `trained` (its training Selection, None if unknown)."""

    def __init__(self, name, where, fn=None, status="ok", trained=None, trained_on=None):
        self.name, self.where, self.fn, self.status = name, str(where), fn, status
        self.trained, self.trained_on = trained, trained_on


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
