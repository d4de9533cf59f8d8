"""Decoded images in TFRecord shards: a one-time conversion so training reads pixels, not JPEGs.

Decoding and resizing a full-size JPEG costs far more than the masks or crops a step needs; on
a GPU that can starve the step (docs/PERFORMANCE.md). Convert a dataset once, at the size the
paper trains on, and pass the folder as ``--dataset``:

    python -m data.shards celeb_a datasets/celeba128 --size 128 --first 100000
    python train_iizuka.py --stage 1 --dataset datasets/celeba128      # same --first/--n-train as before

A prepared folder holds ``shards.json`` and ``images-NNNNN.tfrecord`` files, each record one
``tf.io.serialize_tensor`` of a uint8 [H, W, 3] image, in the source's order. Convert the first N
images (or all) and keep ``--first/--n-train`` for training: the folder's order is the source's
order, so the same selection picks the same images. ``open_source`` recognises such a
folder (data/records.py's `RecordSource`): unshuffled it yields exactly the converted images in order; shuffled,
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
from data.records import FORMAT, MANIFEST, VERSION, read_manifest
from data.sources import open_source
from errors import UserError, cli
import cliargs
from cliargs import nonnegative_int, positive_int

PARTIAL = "shards.partial.json"
RESIZE = ("crop", "stretch", "none")
SHARD_IMAGES = 2000


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
    p = cliargs.ArgumentParser(prog="python -m data.shards", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dataset", help="tfds name (celeb_a, cifar10, div2k/bicubic_x4), an image folder, or 'samples'")
    p.add_argument("out", help="folder to write (created; rerun the same command to resume)")
    p.add_argument("--size", type=int, default=None, help="training resolution (needed unless --resize none)")
    p.add_argument("--resize", choices=RESIZE, default="crop",
                   help="crop: centred square resized to --size (A, B, C); stretch; none: full images "
                        "(D, E take random crops) (default: %(default)s)")
    p.add_argument("--split", default="train", help="train or test (default: %(default)s)")
    p.add_argument("--first", type=positive_int, default=None, help="convert only the first N images (then split)")
    p.add_argument("--n-train", type=nonnegative_int, default=None, help="with --first: the first K of them are train")
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
    cli(main)
