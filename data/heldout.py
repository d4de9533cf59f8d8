"""The held-out photos of issue 14's experiments: crops of scikit-image's bundled TEST photos
(data.sources.SAMPLE_TEST_PHOTOS: astronaut, chelsea, coffee), which the `samples` source never
trains on, or of the test part of a user's folder (`split_folder`, `demo.py --dataset`).
Deterministic (a fixed grid, no randomness), so every experiment is scored on the same pixels.

    deblur_tiles(128)      paper E: the non-overlapping 128x128 tiles of each photo at its native
                           resolution (the blur scale of training), at most 16 per photo, evenly
                           spread (34 tiles of the bundled photos); blurred once each with
                           pipeline.eval_deblur_set's seeded "mixed" degradation.
    inpainting_images(S)   papers A-D: per photo the largest centred square, then its 2x2 and 3x3
                           grids of sub-squares (3 scales), each resized to S: 14 per photo, 42.
A photo over LARGE px on its short side (a user's or the foreign set's multi-megapixel photos;
none of the bundled ones) is scored at two scales: its native-resolution tiles and also those of
the photo area-downscaled to DOWNSCALED px on the short side, the bundled photos' scale (deblurring),
and besides its resized squares 4 native-resolution crops of S px (inpainting).
Baselines for inpainting: `mean_fill` (each hole pixel = the per-channel mean of the known
pixels of that image) and OpenCV Telea (evaluate.classical_inpaint).
"""
import json
import os
import shutil
from pathlib import Path

import numpy as np

from data.sources import list_images, open_source, samples_source
from errors import UserError

TEST_EVERY = 5          # split_folder: every 5th photo is held out (12 train / 3 test for 15 photos)
TILES_PER_PHOTO = 16    # deblur_tiles: at most this many tiles of one photo (a 12 MP photo has ~700)
LARGE = 1000            # a photo with a longer short side is also scored downscaled / as native crops
DOWNSCALED = 512        # short side of that downscaled copy (the bundled photos are 300-512 px)
FLAT = 4.0              # deblur_tiles skips tiles whose grey levels vary less (std): blur leaves them
                        # unchanged to the 8-bit level (a clear sky, a black frame), PSNR infinite


def split_folder(folder, dest, locked=False):
    """Split a folder of photos into dest/train and dest/test (links to the files, or copies where
    links are refused): in sorted order every TEST_EVERY-th photo is held out, at least one, so
    the two parts never share a photo. The user's files are only read. The split is recorded in
    dest/split.json; with `locked` (models were trained on the recorded split) a folder whose split
    has changed since is refused, so no photo trained on is ever scored; without, a changed split
    also removes dest/heldout (the held-out sets write_sets made of the old test part). Returns
    (train folder, test folder, n_train, n_test)."""
    if not os.path.isdir(folder):
        raise UserError(f"--dataset {folder} is not a folder; pass a folder of photos")
    paths = list_images(folder)
    if len(paths) < 2:
        raise UserError(f"--dataset {folder} holds {len(paths)} image(s); the demo needs at least 2 "
                        "(some to train on, one held out to score on)")
    test = [p for i, p in enumerate(paths) if i % TEST_EVERY == TEST_EVERY - 1] or paths[-1:]
    held = set(test)
    parts = {"train": [p for p in paths if p not in held], "test": test}
    record = Path(dest) / "split.json"
    split = {part: [os.path.abspath(p) for p in files] for part, files in parts.items()}
    if record.is_file() and json.loads(record.read_text()) != split:
        if locked:
            raise UserError(f"the photos in {folder} changed since the models were trained on the split recorded "
                            f"in {record}; delete the demo's runs folder (or pass another --out) to train afresh")
        shutil.rmtree(Path(dest) / "heldout", ignore_errors=True)
    for part, files in parts.items():
        where = Path(dest) / part
        if where.is_dir():            # only links/copies this function made: rebuilt every time
            shutil.rmtree(where)
        where.mkdir(parents=True)
        for i, path in enumerate(files):
            link = where / f"{i:05d}_{os.path.basename(path)}"
            try:
                os.symlink(os.path.abspath(path), link)
            except OSError:
                shutil.copy2(path, link)
    record.write_text(json.dumps(split, indent=1))
    return str(Path(dest) / "train"), str(Path(dest) / "test"), len(parts["train"]), len(test)


def test_photos(folder=None):
    """[(name, uint8 [H, W, 3])] of the held-out photos: the bundled ones in SAMPLE_TEST_PHOTOS
    order, or every readable image of `folder` (named by file stem)."""
    if folder is None:
        src = samples_source("test")
        names = src.photo_names
    else:
        src = open_source(str(folder), "test")
        names = [Path(p).stem for p in src.paths]
    return [(names[int(i)], im.numpy()) for i, im in src.dataset(with_index=True)]


def deblur_tiles(size=128, folder=None, per_photo=TILES_PER_PHOTO):
    """[(name, uint8 [size, size, 3])]: the non-overlapping grid of size x size tiles of each
    held-out photo (grid centred in the photo), native resolution, flat tiles (FLAT) skipped; at
    most `per_photo` of them per photo, evenly spread over the grid."""
    import cv2
    out = []
    for name, im in _with_downscaled(test_photos(folder), cv2):
        h, w = im.shape[:2]
        ny, nx = h // size, w // size
        top, left = (h - ny * size) // 2, (w - nx * size) // 2
        cells = [(i, j) for i in range(ny) for j in range(nx)
                 if im[top + i * size:top + (i + 1) * size, left + j * size:left + (j + 1) * size].mean(-1).std() >= FLAT]
        if len(cells) > per_photo:
            cells = [cells[k] for k in np.linspace(0, len(cells) - 1, per_photo).round().astype(int)]
        for i, j in cells:
            y, x = top + i * size, left + j * size
            out.append((f"{name}_{i}{j}" if max(ny, nx) <= 10 else f"{name}_{i}_{j}", im[y:y + size, x:x + size]))
    return out


def _with_downscaled(photos, cv2):
    """The photos, each followed by its copy area-downscaled to DOWNSCALED px on the short side
    (named <name>_s512) when its short side is over LARGE."""
    for name, im in photos:
        yield name, im
        h, w = im.shape[:2]
        if min(h, w) > LARGE:
            f = DOWNSCALED / min(h, w)
            yield f"{name}_s{DOWNSCALED}", cv2.resize(im, (round(w * f), round(h * f)), interpolation=cv2.INTER_AREA)


def inpainting_images(size, scales=(1, 2, 3), folder=None):
    """[(name, uint8 [size, size, 3])]: for each held-out photo its largest centred square split
    into k x k sub-squares for k in `scales`, each area-resized to size x size; for a photo over
    LARGE px also a native-resolution size x size crop at the centre of each 2x2 sub-square. A
    crop whose centre half is flat (grey-level std under FLAT) is left out."""
    import cv2
    out = []
    for name, im in test_photos(folder):
        h, w = im.shape[:2]
        side = min(h, w)
        top, left = (h - side) // 2, (w - side) // 2
        sq = im[top:top + side, left:left + side]
        for k in scales:
            s = side // k
            for i in range(k):
                for j in range(k):
                    crop = sq[i * s:(i + 1) * s, j * s:(j + 1) * s]
                    out.append((f"{name}_k{k}_{i}{j}", cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)))
        if side > LARGE:
            for i in range(2):
                for j in range(2):
                    y, x = (2 * i + 1) * side // 4 - size // 2, (2 * j + 1) * side // 4 - size // 2
                    out.append((f"{name}_native_{i}{j}", sq[y:y + size, x:x + size].copy()))
    q = size // 4       # a flat centre (a clear sky) is filled exactly by the mean: PSNR infinite
    return [(n, im) for n, im in out if im[q:size - q, q:size - q].mean(-1).std() >= FLAT]


def write_sets(folder, inpaint_size=128, tile=128, photos=None, rebuild=False):
    """Write the held-out sets as PNG folders for evaluate.py (`demo.py`): folder/inpaint
    (inpainting_images(inpaint_size), 42 images of the bundled photos) and folder/deblur
    (deblur_tiles(tile), 34 tiles), of the bundled test photos or of the folder `photos`. Returns
    {"inpaint": (path, n), "deblur": (path, n)}; a folder that already holds PNGs is used as it is
    (the sets are deterministic, so a rerun writes nothing). rebuild: `photos` is a folder the user
    may change (demo.py --heldout-dataset): the sets are remade when its files (names, sizes, times)
    differ from those recorded in folder/photos.json."""
    from imagefiles import write_png
    if rebuild:
        record = Path(folder) / "photos.json"
        files = [[p, os.path.getsize(p), int(os.path.getmtime(p))] for p in list_images(str(photos))]
        if not record.is_file() or json.loads(record.read_text()) != files:
            shutil.rmtree(folder, ignore_errors=True)
            Path(folder).mkdir(parents=True)
            record.write_text(json.dumps(files, indent=0))
    out = {}
    for key, items in (("inpaint", lambda: inpainting_images(inpaint_size, folder=photos)),
                       ("deblur", lambda: deblur_tiles(tile, folder=photos))):
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
