"""A table's image grid: one labelled row per method (input, each scored method, ground truth),
the first GRID_EXAMPLES images side by side."""
import numpy as np

from evaluation.common import GRID_EXAMPLES
from imagefiles import write_png
from training.summaries import image_grid


def centre(image, side):
    """The centre side x side crop of `image` (its whole shorter side when that is smaller)."""
    h, w = image.shape[:2]
    s = min(side, h, w)
    top, left = (h - s) // 2, (w - s) // 2
    return image[top:top + s, left:left + s]


def one_size(images):
    """A row's images as one array: as they are when they share one shape, else each centre-cropped
    to the shortest side among them."""
    if len({im.shape for im in images}) == 1:
        return np.stack(images)
    side = min(min(im.shape[:2]) for im in images)
    return np.stack([centre(im, side) for im in images])


def write_grid(path, rows):
    """rows: {label: uint8 images [N,H,W,3] or a list of them} -> a PNG grid at `path`."""
    stacked = {label: one_size(images) for label, images in rows.items()}
    return write_png(path, image_grid(stacked, max_examples=GRID_EXAMPLES, labels=True))
