"""Fixed evaluation sets, made once from a seed and saved, so every method is scored on the same inputs.

- `MaskBank`: the evaluation hole masks (papers A-D): mask_NNNNN.png + manifest.json.
- `make_deblur_set` / `load_deblur_set`: paper E's degraded set: blurred/NNNNN.png,
  sharp/NNNNN.png + manifest.json (`python evaluate.py make-eval-set` runs `make_deblur_set_command`).

Both are saved the same way: the old manifest is removed first, the PNGs are written, and the
manifest (with sha256 checksums) last and atomically, so an interrupted save never leaves a
manifest that points at missing or different files; loading checks every file against it.
"""
import hashlib
import json
import os
import re
from pathlib import Path

import numpy as np
import tensorflow as tf

import rundir
from data.masks import as_seed, example_seed, make_mask
from errors import UserError
import cliargs
from cliargs import seed_int
from imagefiles import read_image, write_png

MANIFEST = "manifest.json"


# ----------------------------------------------------------------------------- PNG + manifest + sha256

def _begin(directory):
    """Create `directory` and remove its manifest: from here on the old set is invalid."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    manifest = directory / MANIFEST
    if manifest.exists():
        manifest.unlink()
    return directory


def _finish(directory, manifest):
    """Write the manifest last, atomically; returns its path."""
    path = Path(directory) / MANIFEST
    rundir.write_json_atomic(path, manifest)
    return path


def _read_manifest(directory, redo):
    """The manifest dict; missing or unreadable -> UserError ending in `redo`."""
    path = Path(directory) / MANIFEST
    if not path.is_file():
        raise UserError(f"no evaluation set in {directory}: {path} is missing; {redo}")
    try:
        return json.loads(path.read_text())
    except ValueError as e:
        raise UserError(f"evaluation set manifest {path} is unreadable ({type(e).__name__}: {e}); {redo}") from None


def sha256_file(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# ----------------------------------------------------------------------------- mask bank

def _sha256_masks(masks_u8, boxes):
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(masks_u8, np.uint8).tobytes())
    h.update(np.ascontiguousarray(boxes, "<i4").tobytes())
    return h.hexdigest()


def _jsonable(value):
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


class MaskBank:
    """The fixed evaluation masks: every method is scored on the same holes.

    Mask i comes from the stateless seed example_seed(seed, i), so it does not depend on how many masks
    are drawn.  Saved as lossless single-channel PNGs (0 / 255) plus manifest.json holding kind,
    options, seed, size, file names, boxes and a sha256 of the masks (uint8, N*H*W) followed by
    the boxes (int32 little-endian)."""

    MANIFEST = MANIFEST
    FORMAT = 2   # 2: glcic local areas centred on the hole (1: a random area, the hole at random inside)
    _FILE = re.compile(r"^mask_\d{5,}\.png$")

    def __init__(self, masks, boxes, kind, seed, kwargs=None):
        self.masks = np.asarray(masks, np.float32)
        self.boxes = np.asarray(boxes, np.int32)
        self.kind = kind
        self.seed = [int(s) for s in np.asarray(seed).reshape(-1)]
        self.kwargs = dict(kwargs or {})
        self.format = self.FORMAT

    def __len__(self):
        return len(self.masks)

    @property
    def height(self):
        return int(self.masks.shape[1])

    @property
    def width(self):
        return int(self.masks.shape[2])

    @classmethod
    def generate(cls, kind, n, height, width, seed, **kw):
        """n masks of `kind` at height x width; mask i from the seed derived from (seed, i)."""
        if int(n) < 1:
            raise UserError(f"a mask bank needs at least one mask, got n={n}")
        make_mask(kind, [0, 0], height, width, **kw)          # validate options once, eagerly
        base = as_seed(seed)

        def one(i):
            return make_mask(kind, example_seed(base, i), height, width, **kw)

        ds = tf.data.Dataset.range(int(n)).map(one, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        masks, boxes = next(iter(ds.batch(int(n))))
        return cls(masks.numpy(), boxes.numpy(), kind, base.numpy(), _jsonable(kw))

    def save(self, directory):
        """PNGs first, manifest last (see the module doc). Returns the manifest path."""
        directory = _begin(directory)
        masks_u8 = np.round(self.masks[..., 0] * 255).astype(np.uint8)
        names = [f"mask_{i:05d}.png" for i in range(len(self))]
        for name, m in zip(names, masks_u8):
            write_png(directory / name, m[..., None])
        for old in os.listdir(directory):                        # stale masks of a larger old bank
            if self._FILE.match(old) and old not in set(names):
                os.remove(directory / old)
        return _finish(directory, {
            "format": self.FORMAT, "kind": self.kind, "kwargs": self.kwargs, "seed": self.seed,
            "height": self.height, "width": self.width, "n": len(self), "files": names,
            "boxes": self.boxes.tolist(), "hole_fraction": float(self.masks.mean()),
            "sha256": _sha256_masks(masks_u8, self.boxes)})

    @classmethod
    def load(cls, directory):
        """Read a saved bank; raises UserError if the manifest, a file or the checksum is wrong."""
        redo = "regenerate the mask bank"
        data = _read_manifest(directory, redo)
        manifest = os.path.join(directory, MANIFEST)
        try:
            files, n, h, w = data["files"], int(data["n"]), int(data["height"]), int(data["width"])
            boxes = np.asarray(data["boxes"], np.int32).reshape(n, 4)
            kind, seed, checksum = data["kind"], data["seed"], data["sha256"]
        except (ValueError, KeyError, TypeError) as e:
            raise UserError(f"mask bank manifest {manifest} is unreadable ({type(e).__name__}: {e}); "
                            f"{redo}") from None
        if len(files) != n:
            raise UserError(f"mask bank manifest {manifest} lists {len(files)} files for n={n}; {redo}")
        masks = np.empty((n, h, w), np.uint8)
        for i, name in enumerate(files):
            path = os.path.join(directory, name)
            try:
                m = tf.io.decode_png(tf.io.read_file(path), channels=1).numpy()[..., 0]
            except (tf.errors.NotFoundError, tf.errors.InvalidArgumentError):
                raise UserError(f"mask bank file {path} is missing or not a PNG; {redo}") from None
            if m.shape != (h, w):
                raise UserError(f"mask bank file {path} is {m.shape[0]}x{m.shape[1]}, manifest says {h}x{w}; {redo}")
            masks[i] = m
        if _sha256_masks(masks, boxes) != checksum:
            raise UserError(f"mask bank in {directory} fails its sha256 check (files changed since saved); {redo}")
        bank = cls((masks[..., None] / 255.0).astype(np.float32), boxes, kind, seed, data.get("kwargs"))
        bank.format = int(data.get("format", 1))
        return bank


# ----------------------------------------------------------------------------- paper E's degraded set

def make_deblur_set(dataset, out, n=100, size=None, seed=0, blur="mixed", data_dir=None, log=print):
    """Write paper E's fixed evaluation set to `out`: blurred/NNNNN.png, sharp/NNNNN.png and
    manifest.json (settings, per image: kind, sigma, kernel, sha256 of both PNGs; written last).

    Images: the first n of the dataset's test split in source order (DIV2K: its 100 validation
    images), each blurred once from pipeline.eval_deblur_set's seed. Same arguments -> identical files.
    """
    from data import pipeline
    from data.degrade import KINDS
    from data.sources import open_source

    source = open_source(dataset, "test", data_dir=data_dir)
    out = _begin(out)
    names = {v: k for k, v in KINDS.items()}
    images = []
    for ex in pipeline.eval_deblur_set(source, size=size, seed=seed, n=n, blur_kind=blur):
        i = len(images)
        b = write_png(out / "blurred" / f"{i:05d}.png", ex["blurred"].numpy())
        s = write_png(out / "sharp" / f"{i:05d}.png", ex["sharp"].numpy())
        images.append(dict(file=f"{i:05d}.png", source_index=int(ex["index"]), kind=names[int(ex["kind"])],
                           sigma=float(ex["sigma"]), kernel=ex["kernel"].numpy().tolist(),
                           sha256_blurred=sha256_file(b), sha256_sharp=sha256_file(s)))
    manifest = dict(dataset=str(dataset), split="test", n=len(images), size=size, seed=int(seed), blur=blur,
                    kernel_size=len(images[0]["kernel"]) if images else None, images=images)
    path = _finish(out, manifest)
    log(f"wrote {len(images)} blurred/sharp pairs and {path}")
    return manifest


def has_deblur_set(folder):
    return (Path(folder) / MANIFEST).is_file()


def load_deblur_set(folder):
    """-> (manifest, list of (blurred uint8 [H,W,3], sharp uint8 [H,W,3])), checksums verified."""
    folder = Path(folder)
    manifest = _read_manifest(folder, f"make the set with `python evaluate.py make-eval-set --out {folder}`")
    pairs = []
    for item in manifest["images"]:
        pair = []
        for sub in ("blurred", "sharp"):
            p = folder / sub / item["file"]
            if not p.is_file() or sha256_file(p) != item[f"sha256_{sub}"]:
                raise UserError(f"{p} is missing or changed since the set was made; remake it with make-eval-set")
            pair.append(read_image(p))
        pairs.append(tuple(pair))
    return manifest, pairs


def make_deblur_set_command(argv):
    """`python evaluate.py make-eval-set ...`: make_deblur_set from the command line."""
    import argparse

    from data.degrade import KINDS

    p = cliargs.ArgumentParser(prog="evaluate.py make-eval-set", description=make_deblur_set.__doc__)
    p.add_argument("--dataset", default="div2k", help="tfds name, folder or 'samples' (default: %(default)s)")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--out", required=True, help="folder to write the set to")
    p.add_argument("--n", type=int, default=100, help="images (default: %(default)s, DIV2K validation)")
    p.add_argument("--size", type=int, default=None, help="centre crop size (default: whole images)")
    p.add_argument("--seed", type=seed_int, default=0, help="(default: %(default)s)")
    p.add_argument("--blur", choices=("mixed",) + tuple(KINDS), default="mixed", help="(default: %(default)s)")
    a = p.parse_args(argv)
    make_deblur_set(a.dataset, a.out, a.n, a.size, a.seed, a.blur, a.data_dir)
    return 0
