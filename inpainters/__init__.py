"""One interface over every trained inpainting model: `load_inpainter(path).predict(images, masks)`.

An Inpainter has `name`, `image_size` (int, square) and `predict(images [B,S,S,3] in [-1, 1],
masks [B,S,S,1] with 1 = hole) -> [B,S,S,3]` in [-1, 1], the full prediction BEFORE compositing.
Papers A, B and D export a feed-forward keras.Model with inputs [image, mask] to
<run_dir>/export/inpainter.keras (papers.py names the file); paper C, which exports nothing,
completes by latent search in its trained prior (inpainters/latent.py).
"""
import importlib
from pathlib import Path

import numpy as np

import papers
import rundir
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


def load_inpainter(path):
    """A .keras file, or a run directory (its config.json names the paper) -> an Inpainter."""
    path = Path(path)
    if path.is_dir():
        try:
            config = rundir.read_config(path) or {}
        except UserError as e:
            raise UserError(f"{e}; or pass the exported .keras file instead") from None
        paper = papers.PAPERS.get(config.get("paper"))
        if paper is not None and not paper.export:     # paper C: latent search in the trained prior
            from inpainters.latent import latent_inpainter
            return latent_inpainter(str(path))
        file = papers.INPAINTER
        exported = rundir.export_path(path, file)
        if not exported.is_file():
            raise UserError(f"{path} has no {rundir.EXPORT}/{file}; finish a training stage in that run "
                            f"directory first, or pass a .keras file")
        path = exported
    elif not path.exists():
        raise UserError(f"no model at {path}; pass a trained run directory or an exported .keras file")
    from training.export import load_exported
    import_model_modules()
    try:
        model = load_exported(path)
    except UserError as e:
        broken = "; ".join(f"{k} ({v[:80]})" for k, v in _IMPORT_ERRORS.items())
        raise UserError(f"{e}" + (f" [modules that failed to import: {broken}]" if broken else "")) from None
    return Inpainter(model, name=path.stem)
