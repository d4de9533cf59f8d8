"""The held-out photos of issue 14's experiments: crops of scikit-image's bundled TEST photos
(data.sources.SAMPLE_TEST_PHOTOS: astronaut, chelsea, coffee), which the `samples` source never
trains on. Deterministic (a fixed grid, no randomness), so every experiment is scored on the
same pixels.

    deblur_tiles(128)      paper E: every non-overlapping 128x128 tile of each photo at its native
                           resolution (the blur scale of training), 34 tiles; blurred once each
                           with pipeline.eval_deblur_set's seeded "mixed" degradation.
    inpainting_images(S)   papers A-D: per photo the largest centred square, then its 2x2 and 3x3
                           grids of sub-squares (3 scales), each resized to S: 14 per photo, 42.
Baselines for inpainting: `mean_fill` (each hole pixel = the per-channel mean of the known
pixels of that image) and OpenCV Telea (evaluate.classical_inpaint).
"""
from pathlib import Path

import numpy as np

from data.sources import samples_source


def test_photos():
    """[(name, uint8 [H, W, 3])] of the held-out photos, in SAMPLE_TEST_PHOTOS order."""
    src = samples_source("test")
    return list(zip(src.photo_names, (im.numpy() for im in src.dataset())))


def deblur_tiles(size=128):
    """[(name, uint8 [size, size, 3])]: the non-overlapping grid of size x size tiles of each
    held-out photo (grid centred in the photo), native resolution."""
    out = []
    for name, im in test_photos():
        h, w = im.shape[:2]
        ny, nx = h // size, w // size
        top, left = (h - ny * size) // 2, (w - nx * size) // 2
        for i in range(ny):
            for j in range(nx):
                y, x = top + i * size, left + j * size
                out.append((f"{name}_{i}{j}", im[y:y + size, x:x + size]))
    return out


def inpainting_images(size, scales=(1, 2, 3)):
    """[(name, uint8 [size, size, 3])]: for each held-out photo its largest centred square split
    into k x k sub-squares for k in `scales`, each area-resized to size x size."""
    import cv2
    out = []
    for name, im in test_photos():
        h, w = im.shape[:2]
        side = min(h, w)
        sq = im[(h - side) // 2:(h - side) // 2 + side, (w - side) // 2:(w - side) // 2 + side]
        for k in scales:
            s = side // k
            for i in range(k):
                for j in range(k):
                    crop = sq[i * s:(i + 1) * s, j * s:(j + 1) * s]
                    out.append((f"{name}_k{k}_{i}{j}", cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)))
    return out


def write_sets(folder, inpaint_size=128, tile=128):
    """Write the held-out sets as PNG folders for evaluate.py (`demo.py --budget long`):
    folder/inpaint (inpainting_images(inpaint_size), 42 images) and folder/deblur
    (deblur_tiles(tile), 34 tiles). Returns {"inpaint": (path, n), "deblur": (path, n)}; a folder
    that already holds PNGs is used as it is (the sets are deterministic, so a rerun writes nothing)."""
    from imagefiles import write_png
    out = {}
    for key, items in (("inpaint", lambda: inpainting_images(inpaint_size)), ("deblur", lambda: deblur_tiles(tile))):
        path = Path(folder) / key
        have = sorted(path.glob("*.png")) if path.is_dir() else []
        if not have:
            path.mkdir(parents=True, exist_ok=True)
            for name, image in items():
                write_png(path / f"{name}.png", image)
            have = sorted(path.glob("*.png"))
        out[key] = (str(path), len(have))
    return out


def mean_fill(image, hole):
    """uint8 [H, W, 3], bool [H, W] -> the hole filled with the per-channel mean of the known
    pixels (rounded), known pixels unchanged: the trivial baseline every inpainter must beat."""
    mean = image[~hole].astype(np.float64).mean(axis=0)
    out = image.copy()
    out[hole] = np.clip(np.rint(mean), 0, 255).astype(np.uint8)
    return out
