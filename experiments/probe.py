"""Issue 14's controlled experiments: train one model with the demo's settings plus the flags
given, then score it on the held-out photos (data/heldout.py) against the trivial
baselines. One model per call, same seed, same held-out set: change one thing between calls.

    python -m experiments.probe E OUT --steps 60 -- --variant nonbn_res --filters 8
    python -m experiments.probe D OUT --steps 200 -- --width 8 --rec-only
    python -m experiments.probe A OUT --steps 120 20 60 -- --width 8
    python -m experiments.probe B OUT --steps 200 -- --width 16 --image-size 32
    python -m experiments.probe C OUT --steps 200 -- --loss bce --width 16 --image-size 32

Writes OUT/result.json (figures, wall time) and OUT/grid.png (rows: input, baselines, model,
truth) and prints one line. Inpainting is scored at the model's size with the centre square
hole of half the side (D's mask) or the GLCIC hole bank (A, B, C), on the hole pixels, pasted
(no Poisson blend) and blended.
"""
import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

import papers
from data import heldout

QUIET = ["--log-every", "50", "--save-every", "100000", "--image-every", "100000"]


def _base(out, vgg="none"):
    return ["--smoke", "--dataset", "samples", "--vgg-weights", vgg, "--run-dir", str(out / "run")] + QUIET


def _grid(rows, path, n=6):
    from training.summaries import image_grid, write_png
    write_png(path, image_grid({k: np.stack(v[:n]) for k, v in rows.items()}, max_examples=n))


def deblur(paper, out, steps, extra, seed=0, folder=None, tag=""):
    import tensorflow as tf
    from evaluation import common, protocol
    from data import degrade, pipeline
    from data.masks import example_seed
    from data.preprocess import to_float, to_uint8
    from sharpen import load_generator, sharpen_array
    t = time.time()
    if not (out / "run" / "export" / paper.export).exists():
        papers.train_module(paper.letter).main(_base(out) + ["--steps", str(steps)] + extra)
    train_s = time.time() - t
    G = load_generator(out / "run")
    tiles = heldout.deblur_tiles(128, folder=folder)
    base = pipeline._base_seed(seed, pipeline._EVAL_DEBLUR)
    sharp = [im for _, im in tiles]
    blurred = [to_uint8(degrade.random_blur(example_seed(base, tf.constant(i, tf.int64)), to_float(im), "mixed",
                                            padding="reflect")[0]).numpy() for i, im in enumerate(sharp)]
    rows = {"blurred": blurred, "unsharp": [common.unsharp_mask(b) for b in blurred],
            "model": [sharpen_array(G, b) for b in blurred], "sharp": sharp}
    res = {k: common.means(protocol.score(v, sharp)) for k, v in rows.items() if k != "sharp"}
    _grid(rows, out / f"grid{tag}.png")
    return res, train_s


def _zero_mean_correction(iizuka):
    """Experiment only (issue 25): paper A's --residual correction with its per-channel mean over the
    hole removed, so G can add structure to the mean fill but not shift its colour."""
    import keras
    from keras import ops
    from models.layers import AddInput, ImageMeanFill

    @keras.saving.register_keras_serializable(package="probe")
    class HoleZeroMean(keras.layers.Layer):
        def call(self, inputs):
            x, mask = inputs
            m = ops.cast(mask, x.dtype)
            mean = ops.sum(x * m, axis=(1, 2), keepdims=True) / ops.maximum(ops.sum(m, axis=(1, 2), keepdims=True), 1.0)
            return x - mean * m

    original = iizuka.completion_network
    if getattr(original, "zero_mean", False):           # patched already (the --heldout second call)
        return

    def patched(*a, **kw):
        g = original(*a, **kw)
        if not kw.get("residual"):
            return g
        correction = keras.Model(g.inputs, g.get_layer("tanh").output, name="correction")
        image, mask = keras.Input(g.inputs[0].shape[1:], name="image"), keras.Input(g.inputs[1].shape[1:], name="mask")
        z = HoleZeroMean(name="hole_zero_mean")([correction([image, mask]), mask])
        out = AddInput(name="residual")([ImageMeanFill(name="image_mean_fill")([image, mask]), z])
        return keras.Model([image, mask], out, name=g.name)

    patched.zero_mean = True
    iizuka.completion_network = patched


def inpaint(paper, out, steps, extra, size, folder=None, tag=""):
    """Train paper `paper` (a papers.Paper) unless done, then score it on the held-out photos."""
    from evaluation import common, protocol
    from data.evalsets import MaskBank
    from data.masks import glcic_kw, make_mask
    from inpainters import load_inpainter
    t = time.time()
    m = papers.train_module(paper.letter)
    run, exported = out / "run", out / "run" / "export"
    if os.environ.get("PROBE_A_LAST_INIT"):   # experiment only (paper A): the residual's last conv init
        m.iizuka.LAST_INIT = os.environ["PROBE_A_LAST_INIT"]
    if os.environ.get("PROBE_A_ZERO_MEAN"):   # experiment only (paper A, issue 25): zero-mean correction
        _zero_mean_correction(m.iizuka)
    if os.environ.get("PROBE_A_ADAM"):   # experiment only (paper A): Adam(lr) instead of Adadelta
        lr = float(os.environ["PROBE_A_ADAM"])
        m.optimizer_spec = lambda config: {"name": "Adam", "learning_rate": lr, "beta_1": 0.5}
    stages = sorted(k for k in paper.exports if k.startswith("stage"))      # paper A: one call per stage
    if stages:
        for k, stage in enumerate(stages[:len(steps)], 1):
            if not (exported / paper.exports[stage]).exists():
                m.main(_base(out) + ["--stage", str(k), "--steps", str(steps[k - 1])] + extra)
    elif not ((exported / paper.export).exists() if paper.export else (run / "ckpt").exists()):
        m.main(_base(out) + ["--steps", str(steps[0])] + extra)
    train_s = time.time() - t
    images = [im for _, im in heldout.inpainting_images(size, folder=folder)]
    n = len(images)
    if paper.card.get("mask") == "center":                  # paper D: its centre square
        hole = make_mask("center", [0, 0], size, size, side=size // 2)[0].numpy()[..., 0] > 0.5
        holes = np.repeat(hole[None], n, axis=0)
    else:
        bank = MaskBank.generate("glcic", n, size, size, [0, common.MASK_SEED], **glcic_kw(size))
        holes = np.asarray(bank.masks)[..., 0] > 0.5
    models = {}
    if stages:                                              # the first stage and the last one trained
        for stage in dict.fromkeys((stages[0], stages[:len(steps)][-1])):
            models[stage] = load_inpainter(exported / paper.exports[stage])
    elif paper.inpainter:                                   # a search (paper C): 200 iterations
        models["model"] = load_inpainter(run, iterations=200, progress=False)
    else:
        models["model"] = load_inpainter(run)
    rows = {"input": [np.where(h[..., None], 255, im).astype(np.uint8) for im, h in zip(images, holes)],
            "mean fill": [heldout.mean_fill(im, h) for im, h in zip(images, holes)],
            "telea": [common.classical_inpaint("telea", im, h) for im, h in zip(images, holes)]}
    from blend import poisson_blend
    rows["mean fill+blend"] = [poisson_blend(m_, im, h) for m_, im, h in zip(rows["mean fill"], images, holes)]
    for name, model in models.items():
        rows[name] = list(protocol.complete_batch(model, np.stack(images), holes, blend=False))
        rows[name + "+blend"] = list(protocol.complete_batch(model, np.stack(images), holes, blend=True))
    rows["truth"] = images
    masks = holes[..., None].astype(np.float32)
    res = {k: common.means(protocol.score(v, images, masks)) for k, v in rows.items() if k not in ("input", "truth")}
    _grid(rows, out / f"grid{tag}.png")
    return res, train_s


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    argv = argv[:argv.index("--")] if "--" in argv else argv
    p = argparse.ArgumentParser()
    p.add_argument("paper", choices=list(papers.LETTERS))
    p.add_argument("out")
    p.add_argument("--steps", type=int, nargs="+", required=True)
    p.add_argument("--size", type=int, default=32, help="inpainting evaluation size (the model's)")
    p.add_argument("--no-crops", action="store_true", help="train on the 12 whole photos (before issue 14)")
    p.add_argument("--heldout", default=None, metavar="FOLDER",
                   help="also score on the held-out sets of this folder of photos (issue 25: "
                        "experiments/foreign.py fetch), same protocol; written as figures_heldout")
    a = p.parse_args(argv)
    if a.no_crops:
        import data.sources
        data.sources.SAMPLE_CROP_MIN = None
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    t = time.time()
    paper = papers.PAPERS[a.paper]
    deblurs = paper.task == "deblur"
    run = deblur if deblurs else inpaint
    steps = a.steps[0] if deblurs else a.steps
    size = () if deblurs else (a.size,)
    res, train_s = run(paper, out, steps, extra, *size)
    result = dict(paper=a.paper, steps=a.steps, extra=extra, train_s=round(train_s, 1), figures=res)
    sets = {"bundled": res}
    if a.heldout:
        sets["heldout"] = result["figures_heldout"] = run(paper, out, steps, extra, *size, folder=a.heldout,
                                                          tag="_heldout")[0]
    result["wall_s"] = round(time.time() - t, 1)
    (out / "result.json").write_text(json.dumps(result, indent=1))
    key = "psnr" if deblurs else "psnr_hole"
    for name, figures in sets.items():
        print(f"RESULT {a.paper} {out.name} {name} train {train_s:.0f}s | " + " | ".join(
            f"{k} {v[key]:.2f}/{v['ssim' if deblurs else 'ssim_hole']:.3f}" for k, v in figures.items()))


if __name__ == "__main__":
    main()
