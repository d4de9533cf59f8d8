"""TensorBoard scalars and image grids (run_dir/logs), and the grids as PNG files (run_dir/images).

A grid has one row per named batch (e.g. input / output / target) and one column per example,
so a row-by-row look shows what the network got, made and should have made.

TF 2.21 no longer installs the `tensorboard` package, and tf.summary.scalar/image need it. The
events are therefore written with the core op tf.summary.write and the metadata TensorBoard's
own scalar and image summaries attach (tensorboard/plugins/{scalar,image}/summary_v2.py), so
training works without tensorboard and `tensorboard --logdir runs` reads the files as usual.
"""
from pathlib import Path

import numpy as np
import tensorflow as tf

from imagefiles import write_png
from training import cluster


def to_uint8(images):
    """[-1, 1] floats -> uint8 (clip, scale, round); uint8 passes; 1 channel (masks) -> 3 (gray).

    A mask in {0, 1} is drawn black/gray; pass `mask * 2 - 1` to draw holes white.
    """
    x = np.asarray(images)
    if x.dtype != np.uint8:
        x = np.clip(np.rint((x.astype(np.float32) + 1.0) * 127.5), 0, 255).astype(np.uint8)
    if x.shape[-1] == 1:
        x = np.repeat(x, 3, axis=-1)
    if x.shape[-1] != 3:
        raise ValueError(f"images need 1 or 3 channels, got shape {x.shape}")
    return x


def image_grid(rows, max_examples=4, pad=2, labels=False):
    """uint8 [H, W, 3] grid: one row per batch in `rows` (sequence or dict of [B, h, w, C]).

    Shows the first `max_examples` examples of each row; cells smaller than the largest are
    centred on black; `pad` white pixels separate cells. labels=True (rows a dict): each row's
    name is written in a white column on its left, so a grid reads without its table.
    """
    if labels and isinstance(rows, dict):
        grid = image_grid(rows, max_examples, pad)
        return _label_rows(grid, list(rows), pad)
    rows = list(rows.values()) if isinstance(rows, dict) else list(rows)
    if not rows:
        raise ValueError("image_grid needs at least one row")
    batches = [to_uint8(r)[:max_examples] for r in rows]
    batches = [b[None] if b.ndim == 3 else b for b in batches]
    cell_h = max(b.shape[1] for b in batches)
    cell_w = max(b.shape[2] for b in batches)
    cols = max(b.shape[0] for b in batches)
    grid = np.full((len(batches) * (cell_h + pad) + pad, cols * (cell_w + pad) + pad, 3), 255, np.uint8)
    for r, batch in enumerate(batches):
        for c, image in enumerate(batch):
            top = pad + r * (cell_h + pad)
            left = pad + c * (cell_w + pad)
            grid[top:top + cell_h, left:left + cell_w] = 0
            h, w = image.shape[:2]
            dy, dx = (cell_h - h) // 2, (cell_w - w) // 2
            grid[top + dy:top + dy + h, left + dx:left + dx + w] = image
    return grid


def _label_rows(grid, names, pad, width=190):
    """Prepend a white column with each row's name (OpenCV's Hershey font, wrapped at ~20 chars)."""
    import textwrap
    import cv2
    n = len(names)
    cell_h = (grid.shape[0] - pad) // n - pad
    column = np.full((grid.shape[0], width, 3), 255, np.uint8)
    scale = 0.45 if cell_h >= 48 else 0.35
    for r, name in enumerate(names):
        lines = textwrap.wrap(str(name), 22)[: max(1, cell_h // 16)]
        top = pad + r * (cell_h + pad) + (cell_h - 16 * len(lines)) // 2 + 12
        for i, line in enumerate(lines):
            cv2.putText(column, line, (6, top + 16 * i), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([column, grid], axis=1)


def _metadata(plugin, data_class):
    meta = tf.compat.v1.SummaryMetadata()
    meta.plugin_data.plugin_name = plugin      # plugin content: empty = version 0 of its proto
    meta.data_class = tf.compat.v1.SummaryMetadata.DESCRIPTOR.fields_by_name[
        "data_class"].enum_type.values_by_name[data_class].number
    return meta


_SCALAR = _metadata("scalars", "DATA_CLASS_SCALAR")
_IMAGE = _metadata("images", "DATA_CLASS_BLOB_SEQUENCE")


class Summaries:
    """Writes scalars and image grids of one run to TensorBoard (and grids to PNG).

    On a non-chief worker of --strategy multiworker it writes nothing (`enabled` is False, no
    event file is created, and train_loop does not even compute the image grids there).
    """

    def __init__(self, log_dir, image_dir=None):
        self.enabled = cluster.is_chief()
        self.writer = tf.summary.create_file_writer(str(log_dir)) if self.enabled else None
        self.image_dir = Path(image_dir) if image_dir is not None else None

    def scalars(self, step, values):
        if not self.enabled:
            return
        with self.writer.as_default(step=int(step)):
            for name, value in values.items():
                tf.summary.write(name, tf.constant(float(value), tf.float32), metadata=_SCALAR)

    def images(self, step, rows, name="samples", max_examples=4):
        """Log one grid of `rows` (dict name -> batch); also saved as images/<name>_<step>.png."""
        grid = image_grid(rows, max_examples=max_examples)
        if not self.enabled:
            return grid
        png = tf.io.encode_png(grid)
        # the image plugin's layout: [width, height, png, ...] as strings
        blob = tf.stack([tf.as_string(grid.shape[1]), tf.as_string(grid.shape[0]), png])
        with self.writer.as_default(step=int(step)):
            tf.summary.write(name, blob, metadata=_IMAGE)
        if self.image_dir is not None:
            write_png(self.image_dir / f"{name}_{int(step):08d}.png", grid)
        return grid

    def flush(self):
        if self.enabled:
            self.writer.flush()

    def close(self):
        if self.enabled:
            self.writer.close()
