"""Seconds to sharpen a 3-MP and a 12-MP photo on this machine: sharpen.py's own tiling and
compiled generator, with the generator of the demo's paper-E models (16 filters) and of the
paper (64 filters, 5 blocks), in float32 and in bfloat16 (sharpen.py --precision). Random weights:
the time does not depend on them. --model PATH --photo FILE also says how far bfloat16's result is
from float32's for a trained generator on a real photo (grey levels).

    python -m bench.sharpen_speed [--filters 16 64] [--sizes 2000x1500 4000x3000] [--tile 512]
                                  [--precisions float32 bfloat16] [--model RUN --photo FILE]
"""
import argparse
import json
import time

import numpy as np

from quiet_tf import import_tensorflow

import_tensorflow()

import sharpen  # noqa: E402
from bench.report import machine  # noqa: E402
from models import deblur  # noqa: E402


def measure(filters, width, height, tile, precision="float32", blocks=5):
    G = sharpen.in_precision(deblur.generator("nonbn_res", filters=filters, blocks=blocks), precision)
    overlap = sharpen.receptive_radius(G)
    photo = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    sharpen.sharpen_array(G, photo[:tile, :tile], tile, overlap)          # trace once, as the first tile does
    start = time.perf_counter()
    sharpen.sharpen_array(G, photo, tile, overlap)
    seconds = time.perf_counter() - start
    padded = [side + 2 * overlap for side in (height, width)]        # sharpen_float mirrors the border first
    tiles = len(sharpen.tile_windows(padded[0], tile, overlap)) * len(sharpen.tile_windows(padded[1], tile, overlap))
    return dict(filters=filters, precision=precision, size=f"{width}x{height}",
                megapixels=round(width * height / 1e6, 1), tile=tile, tiles=tiles, seconds=round(seconds, 1), s_per_tile=round(seconds / tiles, 2))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--filters", type=int, nargs="+", default=[16, 64])
    p.add_argument("--sizes", nargs="+", default=["2000x1500", "4000x3000"])
    p.add_argument("--tile", type=int, default=sharpen.DEFAULT_TILE)
    p.add_argument("--precisions", nargs="+", choices=sharpen.PRECISIONS, default=list(sharpen.PRECISIONS))
    p.add_argument("--model", default=None, help="a trained generator (run directory or .keras) for --photo")
    p.add_argument("--photo", default=None, help="with --model: bfloat16's result against float32's on this photo")
    p.add_argument("--json", default=None, help="also write the rows here")
    a = p.parse_args(argv)
    rows = []
    print(f"machine: {machine()}")
    print("| generator filters | precision | photo | tiles | seconds | s / tile |\n|---|---|---|---|---|---|")
    for filters in a.filters:
        for precision in a.precisions:
            for size in a.sizes:
                w, h = map(int, size.split("x"))
                r = measure(filters, w, h, a.tile, precision)
                rows.append(r)
                print(f"| {filters} | {precision} | {r['size']} ({r['megapixels']} MP) | {r['tiles']} of {r['tile']} | "
                      f"{r['seconds']} | {r['s_per_tile']} |", flush=True)
    agreement = None
    if a.model and a.photo:
        agreement = compare(a.model, a.photo, a.tile)
        print(f"{a.model} on {a.photo}: bfloat16 against float32: {agreement}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(dict(machine=machine(), rows=rows, bfloat16_against_float32=agreement), f, indent=1)
    return 0


def compare(model, photo, tile):
    """How far bfloat16's sharpened photo is from float32's: mean / max grey levels, PSNR between them."""
    import metrics
    G = sharpen.load_generator(model)
    image = sharpen.read_image(photo)
    exact = sharpen.sharpen_array(G, image, tile)
    rough = sharpen.sharpen_array(sharpen.in_precision(G, "bfloat16"), image, tile)
    diff = np.abs(exact.astype(int) - rough.astype(int))
    return dict(photo=str(photo), size=f"{image.shape[1]}x{image.shape[0]}", mean_levels=round(float(diff.mean()), 3),
                max_levels=int(diff.max()), psnr_db=round(float(metrics.psnr(exact, rough)), 2))


if __name__ == "__main__":
    main()
