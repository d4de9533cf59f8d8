"""Seconds to sharpen a 3-MP and a 12-MP photo on this machine: sharpen.py's own tiling and
compiled generator, with the generator of the demo's paper-E models (16 filters) and of the
paper (64 filters, 5 blocks). Random weights: the time does not depend on them.

    python -m bench.sharpen_speed [--filters 16 64] [--sizes 2000x1500 4000x3000] [--tile 512]
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


def measure(filters, width, height, tile, blocks=5):
    G = deblur.generator("nonbn_res", filters=filters, blocks=blocks)
    overlap = sharpen.receptive_radius(G)
    photo = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    sharpen.sharpen_array(G, photo[:tile, :tile], tile, overlap)          # trace once, as the first tile does
    start = time.perf_counter()
    sharpen.sharpen_array(G, photo, tile, overlap)
    seconds = time.perf_counter() - start
    tiles = len(sharpen.tile_windows(height, tile, overlap)) * len(sharpen.tile_windows(width, tile, overlap))
    return dict(filters=filters, size=f"{width}x{height}", megapixels=round(width * height / 1e6, 1), tile=tile,
                tiles=tiles, seconds=round(seconds, 1), s_per_tile=round(seconds / tiles, 2))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--filters", type=int, nargs="+", default=[16, 64])
    p.add_argument("--sizes", nargs="+", default=["2000x1500", "4000x3000"])
    p.add_argument("--tile", type=int, default=sharpen.DEFAULT_TILE)
    p.add_argument("--json", default=None, help="also write the rows here")
    a = p.parse_args(argv)
    rows = []
    print(f"machine: {machine()}")
    print("| generator filters | photo | tiles | seconds | s / tile |\n|---|---|---|---|---|")
    for filters in a.filters:
        for size in a.sizes:
            w, h = map(int, size.split("x"))
            r = measure(filters, w, h, a.tile)
            rows.append(r)
            print(f"| {filters} | {r['size']} ({r['megapixels']} MP) | {r['tiles']} of {a.tile} | {r['seconds']} | "
                  f"{r['s_per_tile']} |", flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(dict(machine=machine(), rows=rows), f, indent=1)
    return 0


if __name__ == "__main__":
    main()
