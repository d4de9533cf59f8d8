"""Reading a folder of decoded-image shards written by `python -m data.shards` (see data/shards.py).

`open_source` recognises such a folder (`is_prepared`) and reads it as a `RecordSource`.
"""
from __future__ import annotations

import json
import os

import tensorflow as tf

from data.imagesource import (SHUFFLE_WINDOW_BYTES, SHUFFLE_WINDOW_MAX, ImageSource, check_split, select,
                              shuffle_windows)
from errors import UserError

MANIFEST = "shards.json"
FORMAT = "gan-restoration image shards"
VERSION = 1
_INTERLEAVE = 4


def is_prepared(folder) -> bool:
    """True for a folder written by this module (its shards.json exists)."""
    return os.path.isfile(os.path.join(folder, MANIFEST))


def read_manifest(folder) -> dict:
    path = os.path.join(folder, MANIFEST)
    try:
        with open(path) as f:
            manifest = json.load(f)
    except (OSError, ValueError) as e:
        raise UserError(f"{path} is unreadable ({type(e).__name__}); convert the dataset again "
                        "with python -m data.shards") from e
    if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
        raise UserError(f"{path} is not a version-{VERSION} {FORMAT!r} manifest; convert the dataset "
                        "again with python -m data.shards")
    missing = [s["file"] for s in manifest["shards"] if not os.path.isfile(os.path.join(folder, s["file"]))]
    if missing:
        raise UserError(f"prepared dataset {folder} lacks {len(missing)} shard file(s) (e.g. {missing[0]}); "
                        "convert it again with python -m data.shards")
    return manifest


class RecordSource(ImageSource):
    """Images [start, stop) of a prepared folder, in its order (see the module docstring)."""

    def __init__(self, folder: str, manifest: dict, start: int, stop: int, name: str | None = None):
        super().__init__(name or os.path.basename(os.path.normpath(folder)), stop - start)
        self.folder, self.manifest = folder, manifest
        files, skips, takes, offset = [], [], [], 0
        for shard in manifest["shards"]:
            lo, hi = max(start, offset), min(stop, offset + shard["count"])
            if lo < hi:  # the shard holds some of [start, stop): skip into it, take the overlap
                files.append(os.path.join(folder, shard["file"]))
                skips.append(lo - offset)
                takes.append(hi - lo)
            offset += shard["count"]
        self._table = (tf.constant(files, tf.string), tf.constant(skips, tf.int64), tf.constant(takes, tf.int64))
        per_image = max(1, int(manifest.get("bytes_per_image", 1)))
        self.window = max(1, min(SHUFFLE_WINDOW_MAX, SHUFFLE_WINDOW_BYTES // per_image, self._count))

    def _records(self, order):
        files, skips, takes = (tf.gather(t, order) for t in self._table)
        table = tf.data.Dataset.from_tensor_slices((files, skips, takes))
        return table.interleave(lambda f, s, t: tf.data.TFRecordDataset(f).skip(s).take(t),
                                cycle_length=_INTERLEAVE, block_length=1,
                                num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)

    def _epochs(self, seed):
        n_shards = int(self._table[0].shape[0])
        if seed is None:
            # One shard at a time, in order: exactly the source's order.
            files, skips, takes = self._table
            table = tf.data.Dataset.from_tensor_slices((files, skips, takes))
            base = table.flat_map(lambda f, s, t: tf.data.TFRecordDataset(f).skip(s).take(t))
            return lambda e: base

        def epoch(e):
            epoch_seed = tf.random.experimental.stateless_fold_in(seed, e)
            order = tf.random.experimental.stateless_shuffle(tf.range(n_shards), seed=epoch_seed, alg="philox")

            return shuffle_windows(self._records(order), epoch_seed, self.window, first=1)

        return epoch

    def _decode(self, item):
        return tf.ensure_shape(tf.io.parse_tensor(item, tf.uint8), [None, None, 3])


def record_source(folder: str, split="train", first=None, n_train=None) -> RecordSource:
    """A prepared folder as a source; first/n_train select as for an image folder."""
    check_split(split)
    manifest = read_manifest(folder)
    chosen = select(range(int(manifest["count"])), split, first, n_train, f"prepared dataset {folder}")
    return RecordSource(folder, manifest, chosen.start, chosen.stop)
