"""Decoded images in TFRecord shards: a one-time conversion so training reads pixels, not JPEGs.

Decoding and resizing a full-size JPEG costs far more than the masks or crops a step needs; on
a GPU that can starve the step (README "Performance"). Convert a dataset once, at the size the
paper trains on, and pass the folder as ``--dataset``:

    python -m data.shards celeb_a datasets/celeba128 --size 128 --first 100000
    python train_iizuka.py --stage 1 --dataset datasets/celeba128      # same --first/--n-train as before

A prepared folder holds ``shards.json`` and ``images-NNNNN.tfrecord`` files, each record one
``tf.io.serialize_tensor`` of a uint8 [H, W, 3] image, in the source's order. Convert the first N
images (or all) and keep ``--first/--n-train`` for training: the folder's order is the source's
order, so the same selection picks the same images. ``open_source`` recognises such a
folder (`RecordSource`): unshuffled it yields exactly the converted images in order; shuffled,
each epoch permutes the order of the shards and then windows of consecutive records (like a tfds
source), from (seed, epoch) with stateless ops, so runs resume exactly.

The conversion resumes: each shard is written to a temporary file and renamed, progress is kept
in ``shards.partial.json``, and ``shards.json`` appears only when every shard is in place.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import tensorflow as tf

from data.preprocess import center_crop_resize, stretch_resize
from data.sources import (SHUFFLE_WINDOW_BYTES, SHUFFLE_WINDOW_MAX, ImageSource, _check_split, _select,
                          shuffle_windows)
from errors import UserError

MANIFEST = "shards.json"
PARTIAL = "shards.partial.json"
FORMAT = "gan-restoration image shards"
VERSION = 1
RESIZE = ("crop", "stretch", "none")
SHARD_IMAGES = 2000
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


# ----------------------------------------------------------------------------- reading
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
    _check_split(split)
    manifest = read_manifest(folder)
    chosen = _select(range(int(manifest["count"])), split, first, n_train, f"prepared dataset {folder}")
    return RecordSource(folder, manifest, chosen.start, chosen.stop)


# ----------------------------------------------------------------------------- writing
def _prepare_fn(resize, size):
    if resize == "crop":
        return lambda image: center_crop_resize(image, size)
    if resize == "stretch":
        return lambda image: stretch_resize(image, size)
    return lambda image: image


def convert(spec, out, size=None, resize="crop", split="train", first=None, n_train=None, data_dir=None,
            shard_images=SHARD_IMAGES, progress=True) -> dict:
    """Write source `spec` (split/first/n_train as open_source takes them) to shards in `out`.

    resize: "crop" (largest centred square, resized to size: paper A's CelebA, B and C),
    "stretch" (whole image to size x size), "none" (full decoded images: paper D's and E's random
    crops). Resumes a conversion that stopped; refuses a folder converted with other settings.
    """
    from data.sources import open_source

    if resize not in RESIZE:
        raise UserError(f"--resize must be one of {', '.join(RESIZE)}, not {resize!r}")
    if resize != "none" and (size is None or int(size) < 1):
        raise UserError(f"--resize {resize} needs --size (the training resolution, e.g. 128)")
    if int(shard_images) < 1:
        raise UserError(f"--shard-images must be >= 1, got {shard_images}")
    out = Path(out)
    settings = dict(source=str(spec), split=split, first=first, n_train=n_train, resize=resize,
                    size=None if resize == "none" else int(size))
    if (out / MANIFEST).exists():
        done = read_manifest(str(out))
        if done.get("settings") != settings:
            raise UserError(f"{out} already holds a dataset converted with {done.get('settings')}; "
                            "choose another --out")
        return done
    source = open_source(str(spec), split, data_dir=data_dir, first=first, n_train=n_train)
    out.mkdir(parents=True, exist_ok=True)
    state = dict(settings=settings, shards=[], next=0, bytes=0)
    if (out / PARTIAL).exists():
        state = json.loads((out / PARTIAL).read_text())
        if state.get("settings") != settings:
            raise UserError(f"{out} holds a partial conversion with other settings "
                            f"({state.get('settings')}); delete it or choose another --out")
    prepare = _prepare_fn(resize, None if size is None else int(size))
    ds = source.dataset(skip=state["next"], with_index=True)
    ds = ds.map(lambda i, image: (i, tf.io.serialize_tensor(prepare(image))),
                num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).prefetch(tf.data.AUTOTUNE)
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=len(source), initial=state["next"], unit="img", desc=f"converting to {out}",
                   file=sys.stderr)
    it = iter(ds)
    while state["next"] < len(source):
        name = f"images-{len(state['shards']):05d}.tfrecord"
        tmp = out / (name + ".tmp")
        count, last, nbytes = 0, state["next"] - 1, 0
        with tf.io.TFRecordWriter(str(tmp)) as writer:
            for index, record in it:
                data = record.numpy()
                writer.write(data)
                count, last, nbytes = count + 1, int(index), nbytes + len(data)
                if count == int(shard_images):
                    break
        if bar is not None:
            bar.update(last + 1 - state["next"])
        if count == 0:
            tmp.unlink()
            break
        os.replace(tmp, out / name)
        state["shards"].append(dict(file=name, count=count))
        state["next"], state["bytes"] = last + 1, state["bytes"] + nbytes
        _write_json(out / PARTIAL, state)
        if count < int(shard_images):
            break
    if bar is not None:
        bar.close()
    total = sum(s["count"] for s in state["shards"])
    if total == 0:
        raise UserError(f"no image of {spec} could be converted")
    manifest = dict(format=FORMAT, version=VERSION, settings=settings, count=total, shards=state["shards"],
                    bytes_per_image=state["bytes"] // total, source_images=len(source))
    _write_json(out / MANIFEST, manifest)
    (out / PARTIAL).unlink(missing_ok=True)
    return manifest


def _write_json(path, obj):
    tmp = Path(str(path) + ".tmp")
    tmp.write_text(json.dumps(obj, indent=1))
    os.replace(tmp, path)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m data.shards", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dataset", help="tfds name (celeb_a, cifar10, div2k/bicubic_x4), an image folder, or 'samples'")
    p.add_argument("out", help="folder to write (created; rerun the same command to resume)")
    p.add_argument("--size", type=int, default=None, help="training resolution (needed unless --resize none)")
    p.add_argument("--resize", choices=RESIZE, default="crop",
                   help="crop: centred square resized to --size (A, B, C); stretch; none: full images "
                        "(D, E take random crops) (default: %(default)s)")
    p.add_argument("--split", default="train", help="train or test (default: %(default)s)")
    p.add_argument("--first", type=int, default=None, help="convert only the first N images (then split)")
    p.add_argument("--n-train", type=int, default=None, help="with --first: the first K of them are train")
    p.add_argument("--data-dir", default=None, help="tfds data directory")
    p.add_argument("--shard-images", type=int, default=SHARD_IMAGES, help="images per shard (default: %(default)s)")
    args = p.parse_args(argv)
    m = convert(args.dataset, args.out, args.size, args.resize, args.split, args.first, args.n_train,
                args.data_dir, args.shard_images)
    skipped = m["source_images"] - m["count"]
    print(f"{args.out}: {m['count']} images in {len(m['shards'])} shards "
          f"({m['bytes_per_image'] / 1024:.1f} KiB per image)" + (f"; {skipped} unreadable skipped" if skipped else ""))
    return 0


if __name__ == "__main__":
    from training import run
    run.cli(main)
