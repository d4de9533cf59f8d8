"""Folder batches for the CLIs (inpaint.py --images, sharpen.py --images): a progress bar, unreadable
files skipped and counted, outputs that already exist skipped, so an interrupted batch resumes.

Each output is written to a temporary name and renamed into place (imagefiles.write_image_atomic):
a batch killed half-way never leaves a truncated output that a resumed batch would skip.
"""
from pathlib import Path

from errors import UserError
from imagefiles import FORMATS as IMAGE_EXTENSIONS   # the formats imagefiles reads and writes


def images_in(folder, what="--images"):
    """Sorted image files directly in `folder`; a missing or empty folder -> UserError."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"{what} {folder} is not a folder")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
    if not files:
        raise UserError(f"{what} {folder} holds no images ({' '.join(IMAGE_EXTENSIONS)})")
    return files


def mask_for(image, masks_folder):
    """The mask of `image` in `masks_folder`: the same stem (x.png for x.jpg), or <stem>_mask.*; None."""
    for stem in (image.stem, image.stem + "_mask"):
        for ext in IMAGE_EXTENSIONS:
            candidate = Path(masks_folder) / (stem + ext)
            if candidate.is_file():
                return candidate
    return None


def run_batch(items, out_folder, process, desc, log=print):
    """items: [(name, inputs)]; process(inputs, out_path) writes one output (UserError = skip it).

    Outputs go to out_folder/<name>.png; one that exists is skipped (resume). Returns a dict of counts."""
    from tqdm import tqdm

    out_folder = Path(out_folder)
    out_folder.mkdir(parents=True, exist_ok=True)
    counts = {"done": 0, "existing": 0, "skipped": 0}
    first_problem = None
    for name, inputs in tqdm(items, desc=desc, unit="img"):
        out = out_folder / f"{name}.png"
        if out.exists():
            counts["existing"] += 1
            continue
        try:
            process(inputs, out)
            counts["done"] += 1
        except UserError as e:
            counts["skipped"] += 1
            first_problem = first_problem or f"{name}: {e}"
    log(f"{desc}: {counts['done']} written to {out_folder}, {counts['existing']} already there (skipped), "
        f"{counts['skipped']} unreadable or unusable (skipped)" + (f"; first: {first_problem}" if first_problem else ""))
    return counts
