"""One interface over every trained inpainting model: `load_inpainter(path).predict(images, masks)`.

An Inpainter has `name`, `image_size` (int, square) and `predict(images [B,S,S,3] in [-1, 1],
masks [B,S,S,1] with 1 = hole) -> [B,S,S,3]` in [-1, 1], the full prediction BEFORE compositing.
Papers A, B and D export a feed-forward keras.Model with inputs [image, mask] to
<run_dir>/export/inpainter.keras (papers.py names the file); paper C, which exports nothing,
completes by latent search in its trained prior (inpainters/latent.py).
"""
import importlib
import zipfile
from pathlib import Path

import cv2
import numpy as np

import papers
import rundir
from blend import poisson_blend
from errors import UserError

_IMPORT_ERRORS = {}


def import_model_modules():
    """Import every paper's model module (papers.py) so their registered custom layers are known to
    Keras. A module that fails to import is remembered (and named if a load then fails), not fatal."""
    for paper in papers.PAPERS.values():
        try:
            importlib.import_module(paper.model_module)
        except Exception as e:  # another paper's file may be broken; a model that needs it will say so
            _IMPORT_ERRORS[paper.model_module] = f"{type(e).__name__}: {e}"


class Inpainter:
    """A feed-forward inpainting keras.Model with inputs [image, mask] and one output."""

    def __init__(self, model, name=None):
        self.model = model
        self.name = name or model.name
        shape = model.inputs[0].shape
        if len(model.inputs) != 2 or shape[1] is None or shape[1] != shape[2]:
            raise UserError(f"model {self.name} is not an inpainter: it needs inputs [image [B,S,S,3], "
                            f"mask [B,S,S,1]] of a fixed square size")
        self.image_size = int(shape[1])

    def any_size(self):
        """The same network and weights taking images of any size (multiples of 4), or None.

        Only a fully convolutional network qualifies: one whose features never collapse to a 1x1
        vector at its training size (paper A's completion network, as GLCIC, keeps S/4 maps; the
        context encoders of B and D squeeze the image into one code). Rebuilt once from the model's
        config with free spatial input dims, and cached."""
        if getattr(self, "_any_size", False) is not False:
            return self._any_size
        self._any_size = None
        layers = self.model._flatten_layers(include_self=False, recursive=True)
        shapes = [tuple(getattr(getattr(layer, "output", None), "shape", ()) or ()) for layer in layers]
        if any(len(s) == 4 and s[1] == 1 and s[2] == 1 for s in shapes) or any(len(s) == 2 for s in shapes):
            return None
        config = self.model.get_config()
        for layer in config["layers"]:
            if layer["class_name"] == "InputLayer":
                shape = layer["config"]["batch_shape"]
                layer["config"]["batch_shape"] = [shape[0], None, None, shape[-1]]
        try:
            import keras
            model = keras.Model.from_config(config)
            model.set_weights(self.model.get_weights())
        except Exception:        # a layer that needs its input size: not fully convolutional after all
            return None
        self._any_size = model
        return model

    def predict_any_size(self, image, mask):
        """One image [H,W,3] in [-1, 1] and mask [H,W,1] (H, W multiples of 4) -> [H,W,3] prediction."""
        model = self.any_size()
        return np.asarray(model([image[None].astype(np.float32), mask[None].astype(np.float32)],
                                training=False), np.float32)[0]

    def predict(self, images, masks, batch_size=16):
        """[B,S,S,3] in [-1, 1] and [B,S,S,1] masks -> [B,S,S,3] float32 predictions (no compositing)."""
        images = np.asarray(images, np.float32)
        masks = np.asarray(masks, np.float32)
        out = [np.asarray(self.model([images[i:i + batch_size], masks[i:i + batch_size]], training=False),
                          np.float32) for i in range(0, len(images), batch_size)]
        return np.concatenate(out, axis=0)


def check_keras_file(path):
    """A .keras file's path, checked without TensorFlow to be a Keras 3 archive (a zip with config.json)."""
    try:
        with zipfile.ZipFile(path) as z:
            z.getinfo("config.json")
    except (OSError, KeyError, zipfile.BadZipFile):
        raise UserError(f"{path} is not a Keras model file (damaged or another format); re-export it from "
                        f"its run directory") from None
    return Path(path)


def locate_inpainter(path):
    """(paper or None, what load_inpainter will load: a .keras file, or the run directory of a paper
    that completes by search), checked without TensorFlow: every mistake in --model is one line
    before anything heavy loads."""
    path = Path(path)
    if path.is_dir():
        try:
            config = rundir.read_config(path)
        except UserError as e:
            raise UserError(f"{e}; or pass the exported .keras file instead") from None
        paper = papers.of(config or {})
        if paper is not None and paper.task != "inpaint":
            raise UserError(f"{path} is a run of paper {paper.letter} ({paper.name}), which does not inpaint; "
                            f"pass an inpainting run or its exported .keras file")
        if paper is not None and paper.inpainter:     # the paper's own inpainter (C: latent search in its prior)
            if not rundir.has_checkpoints(path):
                raise UserError(f"{path} has no checkpoint yet; train it first ({paper.train_module}.py)")
            return paper, path
        file = paper.exports.get("inpainter", papers.INPAINTER) if paper is not None else papers.INPAINTER
        exported = rundir.export_path(path, file)
        if not exported.is_file():
            raise UserError(f"{path} has no {rundir.EXPORT}/{file}; finish a training stage in that run "
                            f"directory first, or pass a .keras file")
        return paper, check_keras_file(exported)
    if not path.exists():
        raise UserError(f"no model at {path}; pass a trained run directory or an exported .keras file")
    return None, check_keras_file(path)


def load_inpainter(path, **search):
    """A .keras file, or a run directory (its config.json names the paper) -> an Inpainter.
    `search`: settings for a paper whose inpainter is a search, not an export (paper C: iterations=)."""
    paper, path = locate_inpainter(path)
    if path.is_dir():
        return papers.hook(paper.inpainter)(str(path), **search)
    from training.export import load_exported     # TensorFlow: only once the path is known to be good
    import_model_modules()
    try:
        model = load_exported(path)
    except UserError as e:
        broken = "; ".join(f"{k} ({v[:80]})" for k, v in _IMPORT_ERRORS.items())
        raise UserError(f"{e}" + (f" [modules that failed to import: {broken}]" if broken else "")) from None
    return Inpainter(model, name=path.stem)


# ----------------------------------------------------------------------------- one photo, any size
def check_hole(hole, what="the mask"):
    """bool hole [H, W] -> itself; no hole or all hole -> UserError naming `what` (inpaint.py, app.py)."""
    if not hole.any():
        raise UserError(f"{what} has no hole (no white pixels): paint the region to fill in white")
    if hole.all():
        raise UserError(f"{what} is all hole: leave some of the image known (black in the mask)")
    return hole


def to_model_size(image, hole, size):
    """The image and mask at size x size. The image is averaged over KNOWN pixels only (area
    resampling of image * known, divided by that of known), and every small pixel that any hole
    pixel touches is a hole, so the hole's content never reaches the network."""
    known = (~hole).astype(np.float32)
    small_known = cv2.resize(known, (size, size), interpolation=cv2.INTER_AREA)
    weighted = cv2.resize(image.astype(np.float32) * known[..., None], (size, size), interpolation=cv2.INTER_AREA)
    small_hole = small_known < 1.0 - 1e-4
    small = weighted / np.maximum(small_known, 1e-6)[..., None]
    small[small_hole] = 0.0
    return small / 127.5 - 1.0, small_hole.astype(np.float32)[..., None]


NATIVE_MARGIN = 64   # [choice] native resolution: context kept around the hole's box, in pixels (at least)
RESOLUTIONS = ("auto", "model", "native")
# [choice, measured] "auto" (the default): native where the network is fully convolutional (paper A), model
# for B, C, D. On the 3 held-out photos at 256 and 384 px, 24 holes of the demo's training size (12-24 px),
# the demo's paper-A model (64 px, residual output) fills holes at 16.95 dB native against 14.48 dB model
# (python -m experiments.native; docs/papers/A.md "Native resolution").


def native_prediction(inpainter, image, hole):
    """uint8 [H,W,3] prediction of a fully convolutional network run at the photo's own resolution,
    on a crop around the hole (its box plus max(NATIVE_MARGIN, box side) of context), reflect-padded
    to a multiple of 4; pixels outside the crop are the input's own."""
    ys, xs = np.nonzero(hole)
    side = max(ys.max() - ys.min(), xs.max() - xs.min()) + 1
    margin = max(NATIVE_MARGIN, int(side))
    y0, y1 = max(ys.min() - margin, 0), min(ys.max() + 1 + margin, hole.shape[0])
    x0, x1 = max(xs.min() - margin, 0), min(xs.max() + 1 + margin, hole.shape[1])
    crop, crop_hole = image[y0:y1, x0:x1].astype(np.float32), hole[y0:y1, x0:x1]
    pad = ((0, -crop.shape[0] % 4), (0, -crop.shape[1] % 4))
    x = np.pad(crop / 127.5 - 1.0, pad + ((0, 0),), mode="reflect")
    m = np.pad(crop_hole, pad, mode="constant").astype(np.float32)[..., None]
    x[m[..., 0] > 0] = 0.0                           # the hole's content never reaches the network
    pred = inpainter.predict_any_size(x, m)[:crop.shape[0], :crop.shape[1]]
    out = image.copy()
    out[y0:y1, x0:x1] = np.clip(np.rint((pred + 1.0) * 127.5), 0, 255).astype(np.uint8)
    return out


def complete(inpainter, image, hole, blend=True, resolution="auto"):
    """uint8 image [H, W, 3] + bool hole [H, W] -> uint8 [H, W, 3] with the known pixels unchanged.

    resolution "model": the photo goes to the network's size and the prediction comes back by a cubic
    resize; "native": a fully convolutional network (paper A) runs at the photo's own size on a crop
    around the hole (an inpainter without that ability -> UserError); "auto": native where possible."""
    height, width = hole.shape
    can = hasattr(inpainter, "any_size") and inpainter.any_size() is not None
    native = resolution in ("native", "auto") and can
    if resolution == "native" and not can:
        raise UserError(f"{inpainter.name} squeezes the image into a fixed-size code, so it only runs at its "
                        f"own {inpainter.image_size}x{inpainter.image_size}: use --resolution model")
    if native:
        big = native_prediction(inpainter, image, hole)
    else:
        small, small_hole = to_model_size(image, hole, inpainter.image_size)
        pred = inpainter.predict(small[None], small_hole[None])[0]
        big = cv2.resize(np.asarray(pred, np.float32), (width, height), interpolation=cv2.INTER_CUBIC)
        big = np.clip(np.rint((big + 1.0) * 127.5), 0, 255).astype(np.uint8)
    out = np.where(hole[..., None], big, image)
    if blend:
        out = poisson_blend(out, image, hole)
    return out
