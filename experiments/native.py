"""Issue 16 item 2: `inpaint.py --resolution model` against `native` for paper A's fully
convolutional network, on the held-out photos resized to 256 and 384 px, with holes of the
training size (GLCIC rectangles of the model's hole sides), no blending; hole PSNR.

    python -m experiments.native RUN_DIR_OR_STAGE_KERAS [--hole-min 12 --hole-max 24 --holes 4]
"""
import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import cv2
import numpy as np


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("model")
    p.add_argument("--hole-min", type=int, default=12)
    p.add_argument("--hole-max", type=int, default=24)
    p.add_argument("--holes", type=int, default=4, help="holes per photo and size")
    a = p.parse_args(argv)
    import inpainters
    from data import heldout
    from metrics import psnr
    model = inpainters.load_inpainter(a.model)
    rng = np.random.default_rng(16)
    scores = {"model": [], "native": [], "mean fill": [], "mean fill of the native crop": []}
    for side in (256, 384):
        for _, photo in heldout.test_photos():
            h, w = photo.shape[:2]
            s = min(h, w)
            sq = photo[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
            image = cv2.resize(sq, (side, side), interpolation=cv2.INTER_AREA)
            for _ in range(a.holes):
                hh, ww = rng.integers(a.hole_min, a.hole_max + 1, 2)
                top, left = rng.integers(0, side - hh), rng.integers(0, side - ww)
                hole = np.zeros((side, side), bool)
                hole[top:top + hh, left:left + ww] = True
                for name in ("model", "native"):
                    out = inpainters.complete(model, image, hole, blend=False, resolution=name)
                    scores[name].append(float(psnr(out, image, mask=hole[..., None])))
                scores["mean fill"].append(float(psnr(heldout.mean_fill(image, hole), image, mask=hole[..., None])))
                # the same crop native mode gives the network: the mean of ITS known pixels (a local mean)
                ys, xs = np.nonzero(hole)
                margin = max(inpainters.NATIVE_MARGIN, int(max(hh, ww)))
                y0, x0 = max(ys.min() - margin, 0), max(xs.min() - margin, 0)
                y1, x1 = min(ys.max() + 1 + margin, side), min(xs.max() + 1 + margin, side)
                local = image.copy()
                local[y0:y1, x0:x1] = heldout.mean_fill(image[y0:y1, x0:x1], hole[y0:y1, x0:x1])
                scores["mean fill of the native crop"].append(float(psnr(local, image, mask=hole[..., None])))
    for name, v in scores.items():
        print(f"{name}: hole PSNR {np.mean(v):.2f} dB over {len(v)} holes")


if __name__ == "__main__":
    main()
