"""Issue 25: how much does a GLCIC hole's surround tell about it? A hand-made fill with the mean
colour of a ring around each hole against the per-image mean fill, hole PSNR, on the bundled and
foreign held-out crops and on crops of the demo's own training stream (64 px, the demo's holes).

    python -m experiments.surround [--heldout results/foreign/photos] [--ring 6]
"""
import argparse

import numpy as np

SIZE, HOLES = 64, dict(local=32, hole_min=12, hole_max=24)     # the demo's paper A


def ring_fill(image, hole, ring):
    """The hole filled with the mean colour of the known pixels within `ring` px of it."""
    import cv2
    k = np.ones((2 * ring + 1, 2 * ring + 1), np.uint8)
    around = (cv2.dilate(hole.astype(np.uint8), k) > 0) & ~hole
    out = image.copy()
    out[hole] = image[around].mean(axis=0).round()
    return out


def hole_psnr(a, b, hole):
    """Hole PSNR as metrics.psnr(mask=...), but capped at 100 dB: a flat foreign hole that the ring
    fills exactly would make metrics.psnr's mean infinite."""
    d = (a.astype(float) - b.astype(float))[hole]
    return 10 * np.log10(255 ** 2 / max(float((d ** 2).mean()), 1e-10))


def report(name, images, holes, ring):
    from data import heldout
    mean = np.mean([hole_psnr(heldout.mean_fill(i, h), i, h) for i, h in zip(images, holes)])
    around = np.mean([hole_psnr(ring_fill(i, h, ring), i, h) for i, h in zip(images, holes)])
    print(f"{name}: {len(images)} crops | mean fill {mean:.2f} dB | ring-mean fill {around:.2f} dB | "
          f"{around - mean:+.2f}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--heldout", default=None, metavar="FOLDER", help="also a folder of foreign photos")
    p.add_argument("--ring", type=int, default=6, help="ring width in px (default: %(default)s)")
    a = p.parse_args(argv)
    from data import heldout
    from data.evalsets import MaskBank
    from data.masks import glcic_kw
    from data.pipeline import inpainting_batches
    from data.preprocess import to_uint8
    from data.sources import SAMPLE_CROP_MIN, open_source
    from evaluation import common
    for folder, name in ((None, "bundled"), (a.heldout, "foreign")):
        if name == "foreign" and folder is None:
            continue
        images = [im for _, im in heldout.inpainting_images(SIZE, folder=folder)]
        bank = MaskBank.generate("glcic", len(images), SIZE, SIZE, [0, common.MASK_SEED], **glcic_kw(SIZE))
        report(name, images, list(np.asarray(bank.masks)[..., 0] > 0.5), a.ring)
    images, holes = [], []
    source = open_source("samples", "train", crop_min=SAMPLE_CROP_MIN)
    for b in inpainting_batches(source, SIZE, 8, "glcic", 1, **HOLES).take(50):
        images += list(to_uint8(b["image"]).numpy())
        holes += list(b["mask"].numpy()[..., 0] > 0.5)
    report("training stream", images, holes, a.ring)


if __name__ == "__main__":
    main()
