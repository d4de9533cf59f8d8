"""Mean-fill figures for a finished demo's tables A and D, on exactly the demo's images and holes
(issue 14; until evaluate.py carries a mean-fill row).

    python -m experiments.demo_baselines results      # prints and writes results/meanfill.json

D: the 3 held-out photos centre-cropped and resized to 128, centre 64x64 hole, pasted (table D's
protocol), scored whole-image and hole-only; the two D models' saved outputs are rescored hole-only
beside it. A: the demo's GLCIC and centre mask banks at 64 px, mean fill pasted and Poisson-blended
(table A blends every method). Mean fill = data.heldout.mean_fill.
"""
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import cv2
import numpy as np

from evaluation import common, protocol
from blend import poisson_blend
from data.evalsets import MaskBank
from data.masks import make_mask
from data.sources import open_source
from data.heldout import mean_fill


def main(out):
    out = Path(out)
    res = {}
    src = open_source("samples", "test")
    ims = protocol.load_eval_images(src, 128, len(src), "D images")
    hole = make_mask("center", [0, 0], 128, 128, side=64)[0].numpy()[..., 0] > 0.5
    holes = np.repeat(hole[None], len(ims), 0)
    rows = {"mean fill": [mean_fill(i, h) for i, h in zip(ims, holes)],
            "OpenCV Telea": [common.classical_inpaint("telea", i, h) for i, h in zip(ims, holes)]}
    for m in ("ours(l_rec)", "ours(l_rec + l_adv)"):
        files = sorted((out / "table_D" / "images" / "D_set5" / common.slug(m)).glob("*.png"))
        if files:
            rows[m] = [cv2.imread(str(f))[..., ::-1] for f in files]
    masks = holes[..., None].astype(np.float32)
    res["table_D_centre"] = {k: common.means(protocol.score(v, list(ims), masks)) for k, v in rows.items()}
    ims64 = protocol.load_eval_images(src, 64, len(src), "A images")
    for kind in ("glcic", "center"):
        bank = MaskBank.load(out / "mask_banks" / kind)
        hs = np.asarray(bank.masks)[:len(ims64), ..., 0] > 0.5
        mk = hs[..., None].astype(np.float32)
        mf = [mean_fill(i, h) for i, h in zip(ims64, hs)]
        blended = [poisson_blend(m, i, h) for m, i, h in zip(mf, ims64, hs)]
        res[f"A_{kind}"] = {"mean fill": common.means(protocol.score(mf, list(ims64), mk)),
                            "mean fill + blend": common.means(protocol.score(blended, list(ims64), mk))}
    (out / "meanfill.json").write_text(json.dumps(res, indent=1))
    for table, methods in res.items():
        for name, f in methods.items():
            print(table, name, " ".join(f"{k} {v:.3f}" for k, v in f.items()))
    return res


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "results")
