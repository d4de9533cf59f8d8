"""The protocol every table follows: load each row's model, complete or sharpen the same inputs,
save every output, score it against the ground truth (RGB [0, 255], per image) and draw the grid.

Imports TensorFlow (metrics, data/, inpainters/, sharpen): the table modules import this module
when they make a table, not when evaluate.py builds its parser.
"""
import copy
import os
from pathlib import Path

import cv2
import numpy as np

from quiet_tf import import_tensorflow
import_tensorflow()        # before the imports below load TensorFlow: its start-up INFO lines stay off stderr

import keras
import metrics
from blend import poisson_blend
from data.evalsets import MaskBank
from data.preprocess import center_crop_resize
from errors import UserError
from evaluation.common import (GRID_EXAMPLES, MASK_SEED, NOT_COMPARABLE, NOT_TRAINED, Method, comparable,
                               files_identity, image_names, progress, row_cache, score_row, slug,
                               training_selection)
from evaluation.grids import write_grid
from imagefiles import write_png
from inpainters import Inpainter, to_model_size
from inpainters.latent import LatentInpainter, latent_inpainter
from sharpen import load_generator, sharpen_array


def score(outputs, truths, masks=None):
    """Per-image dict(psnr, ssim[, psnr_hole, ssim_hole]) list; RGB [0, 255], masks 1 = hole.
    Same-size images are scored as one batch (the metrics are per image either way)."""
    if len({np.shape(o) for o in outputs}) == 1 and len(outputs) > 1:
        a, b = np.stack(outputs), np.stack(truths)
        cols = {"psnr": metrics.psnr(a, b), "ssim": metrics.ssim(a, b)}
        if masks is not None:
            cols.update(psnr_hole=metrics.psnr(a, b, mask=masks), ssim_hole=metrics.ssim(a, b, mask=masks))
        return [{k: float(v[i]) for k, v in cols.items()} for i in range(len(a))]
    rows = []
    for i, (out, gt) in enumerate(zip(outputs, truths)):
        r = {"psnr": float(metrics.psnr(out, gt)), "ssim": float(metrics.ssim(out, gt))}
        if masks is not None:
            r["psnr_hole"] = float(metrics.psnr(out, gt, mask=masks[i]))
            r["ssim_hole"] = float(metrics.ssim(out, gt, mask=masks[i]))
        rows.append(r)
    return rows


def write_images(folder, images, names):
    return [str(write_png(Path(folder) / n, im)) for im, n in zip(images, names)]


def scored_rows(outputs, truths, files, out_dir, first=0, masks=None):
    """score() of `outputs`, each row with its image's index and its saved file (relative to out_dir)."""
    rows = score(outputs, truths, masks)
    for k, (r, f) in enumerate(zip(rows, files)):
        r.update(index=first + k, file=os.path.relpath(f, out_dir))
    return rows


# ----------------------------------------------------------------------------- models
class Sharpener:
    """A paper-E row's function: uint8 blurred -> uint8 sharpened with `generator`."""

    def __init__(self, generator):
        self.generator = generator

    def __call__(self, image):
        return sharpen_array(self.generator, image)


# Loaders of model rows (model_method's `loader`: path -> the row's function); an inpainting
# model's is inpainters.load_inpainter.
def load_sharpener(path):
    """The row function of the deblurring generator at `path` (run directory or .keras file)."""
    return Sharpener(load_generator(path))


def latent_search_loader(iterations):
    """A loader of paper C's latent search (a run directory) with `iterations` steps, no progress bar."""
    def load(path):
        return latent_inpainter(str(path), iterations=iterations, progress=False)
    return load


def model_method(name, path, loader, test=None, settings=None):
    """A trained-model row; a missing path -> NOT_TRAINED, a model whose run config.json says it
    trained on any of the `test` images (a data.selection.Selection) -> NOT_COMPARABLE, unscored;
    a load failure -> "failed: ..." (the table still completes). The model is loaded when the row is
    first scored (not at all when the row cache holds it); its identity is its files and `settings`
    (what else the loader decides, e.g. the latent search's iterations)."""
    if path is None or not Path(path).exists():
        return Method(name, path, status=NOT_TRAINED)
    trained, trained_on = training_selection(path)
    if not comparable(trained, test):
        return Method(name, path, status=NOT_COMPARABLE, trained=trained, trained_on=trained_on)
    return Method(name, path, load=lambda: loader(path), trained=trained, trained_on=trained_on,
                  identity=(settings, files_identity(path)))


def fresh_copy(fn, seed=0):
    """Row function `fn` with its network(s) at fresh initial weights (their layers' own initialisers,
    seeded), None for a row without a network. Paper C's copy is the same latent search in an
    untrained G and D."""
    if isinstance(fn, LatentInpainter):
        keras.utils.set_random_seed(seed)
        twin = copy.copy(fn)
        twin.G, twin.D = keras.models.clone_model(fn.G), keras.models.clone_model(fn.D)
        twin.name = f"{fn.name} (step 0)"
        return twin
    net = fn.model if isinstance(fn, Inpainter) else getattr(fn, "generator", None)
    if net is None:
        return None
    keras.utils.set_random_seed(seed)
    fresh = keras.models.clone_model(net)
    return Inpainter(fresh, name=f"{fn.name} (step 0)") if isinstance(fn, Inpainter) else Sharpener(fresh)


def untrained(method, seed=0):
    """The row's model untrained (fresh_copy): what training started from, so a table shows learning
    as the difference to this row; None for a row without a network. A model row not loaded yet gets
    a twin that loads it when the twin is scored (deterministic, so the row cache keys it by the
    model's identity)."""
    def load():
        if method.fn is None:
            raise UserError(method.status.removeprefix("failed: "))
        return fresh_copy(method.fn, seed)

    if method.pending:
        made = dict(load=load)
    else:
        made = dict(fn=fresh_copy(method.fn, seed))
        if made["fn"] is None:
            return None
    return Method(f"{method.name} (step 0)", method.where, trained=method.trained, trained_on="none (initial weights)",
                  identity=(method.identity, "step 0", seed), **made)


def with_step0(methods):
    """Each trained model row followed by the same model untrained (step 0), where it has one."""
    out = []
    for m in methods:
        out.append(m)
        twin = untrained(m) if m.status == "ok" else None
        if twin is not None:
            out.append(twin)
    return out


# ----------------------------------------------------------------------------- inputs
def mask_bank(directory, kind, n, size, seed=MASK_SEED, log=print, **kw):
    """The saved bank in `directory` (generated and saved on first use). The bank is the source of
    truth: it is reused as saved; a bank made with other settings is refused; one with fewer than
    n masks is extended (mask i depends only on (seed, i), so its first masks stay the same)."""
    directory = Path(directory)
    if (directory / MaskBank.MANIFEST).is_file():
        bank = MaskBank.load(str(directory))
        want = dict(kind=kind, seed=[0, seed], size=[size, size], kwargs=kw, format=MaskBank.FORMAT)
        have = dict(kind=bank.kind, seed=bank.seed, size=[bank.height, bank.width], kwargs=bank.kwargs,
                    format=bank.format)
        if have != want:
            raise UserError(f"the mask bank in {directory} was made with {have}, not {want}; "
                            f"pass another --mask-bank or delete that folder")
        if len(bank) >= n:
            return bank
        log(f"extending the mask bank {directory} from {len(bank)} to {n} masks (same seed)")
    bank = MaskBank.generate(kind, n, size, size, [0, seed], **kw)
    bank.save(str(directory))
    log(f"saved {n} {kind} masks (seed {seed}) to {directory}")
    return bank


def load_eval_images(source, size, n, desc):
    """The first n images of `source`, centre square crop resized to size -> uint8 [n,S,S,3]."""
    images = [center_crop_resize(im, size).numpy()
              for im in progress(source.dataset().take(n), desc, total=n)]
    if not images:
        raise UserError(f"no readable images in {source}")
    return np.stack(images)


# ----------------------------------------------------------------------------- inpainting
def complete_batch(inpainter, images, holes, blend=True, batch_size=16):
    """inpainters.complete for a batch: uint8 [N,H,W,3] + bool [N,H,W] -> uint8 [N,H,W,3].

    Each image goes to the model's size (known pixels only, inpainters.to_model_size), the
    prediction comes back by cubic resize, known pixels are kept, and (blend) the hole is
    Poisson-blended. Batched so a latent search optimises many images at once."""
    size = inpainter.image_size
    out = []
    for k in range(0, len(images), batch_size):
        ims, hs = images[k:k + batch_size], holes[k:k + batch_size]
        small = [to_model_size(im, h, size) for im, h in zip(ims, hs)]
        preds = inpainter.predict(np.stack([s[0] for s in small]).astype(np.float32),
                                  np.stack([s[1] for s in small]).astype(np.float32))
        for im, h, pred in zip(ims, hs, preds):
            big = cv2.resize(np.asarray(pred, np.float32), (h.shape[1], h.shape[0]), interpolation=cv2.INTER_CUBIC)
            big = np.clip(np.rint((big + 1.0) * 127.5), 0, 255).astype(np.uint8)
            done = np.where(h[..., None], big, im)
            out.append(poisson_blend(done, im, h) if blend else done)
    return np.stack(out)


def run_inpainting(methods, images, holes, out_dir, set_name, blend, reuse=False):
    """Complete `images` with every method; save outputs; -> {name: dict(status, where, mean, per_image)}.
    reuse: keep the rows the row cache holds for these inputs (evaluate.py --reuse-rows)."""
    names = image_names(len(images))
    base = Path(out_dir) / "images" / set_name
    write_images(base / "ground_truth", images, names)
    shown = np.where(holes[..., None], np.uint8(255), images)          # holes drawn white
    write_images(base / "input", shown, names)
    chunk_size = 64        # completed, saved and scored chunk by chunk: 20,000 outputs never sit in memory

    def compute(m):
        per, first = [], None
        bar = progress(range(len(images)), f"{set_name}: {m.name}")
        for i in range(0, len(images), chunk_size):
            ims, hs = images[i:i + chunk_size], holes[i:i + chunk_size]
            if hasattr(m.fn, "predict"):
                done = complete_batch(m.fn, ims, hs, blend)
            else:
                done = np.stack([m.fn(im, h) for im, h in zip(ims, hs)])
            files = write_images(base / slug(m.name), done, names[i:i + chunk_size])
            per += scored_rows(done, ims, files, out_dir, first=i, masks=hs.astype(np.float32)[..., None])
            first = done[:GRID_EXAMPLES] if first is None else first
            bar.update(len(done))
        bar.close()
        return per, first

    cache = row_cache(reuse, out_dir, set_name, images, holes, blend)
    results, outputs = {}, {}
    for m in methods:
        results[m.name], grid_images = score_row(m, cache, compute)
        if grid_images is not None:
            outputs[m.name] = grid_images
    write_grid(Path(out_dir) / f"grid_{set_name}.png",
               {"input": shown[:GRID_EXAMPLES], **outputs, "ground truth": images[:GRID_EXAMPLES]})
    return results
