"""Hole masks for inpainting (pure TF, stateless seeds) and the fixed evaluation mask bank.

Every generator takes a seed (int tensor of shape [2] for ``tf.random.stateless_*``; a Python int
or pair is accepted too), Python-int sizes, and returns a float32 mask [H, W, 1] with 1 = hole,
0 = known.  The generators use TF ops only, so they run inside ``Dataset.map(num_parallel_calls=
AUTOTUNE)`` and ``tf.function``; the same seed always gives the same mask.  Every mask holds at
least one hole pixel and at least one known pixel.

Kinds (``make_mask``): "center" (papers C, D), "glcic" (paper A), "rectangles" (paper B),
"brush" (free-form, DeepFill v2), "macroblock" and "burst" (paper D's transmission errors).
"""
import hashlib
import json
import math
import os
import re

import numpy as np
import tensorflow as tf

from errors import UserError

KINDS = ("center", "glcic", "rectangles", "brush", "macroblock", "burst")


# ----------------------------------------------------------------------------- helpers

def as_seed(seed):
    """A stateless seed tensor of shape [2] from a Python int, a pair, or an int tensor."""
    if isinstance(seed, (int, np.integer)):
        return tf.constant([int(seed), 0], tf.int64)
    seed = tf.convert_to_tensor(seed)
    if not seed.dtype.is_integer:
        raise UserError(f"a mask seed must be integers, got dtype {seed.dtype.name}")
    if seed.shape.rank is not None and seed.shape.as_list() != [2]:
        raise UserError(f"a mask seed must have shape [2], got {seed.shape.as_list()}")
    return tf.cast(seed, tf.int64)       # int32 and int64 seeds of equal value give equal masks


def example_seed(seed, index):
    """The seed of example/mask `index` under run seed `seed`: fold_in(seed, int64 index).
    Depends only on (seed, index), so mask i never depends on how many masks are drawn."""
    return tf.random.experimental.stateless_fold_in(as_seed(seed), tf.cast(index, tf.int64))


def _split(seed, n):
    """n independent sub-seeds, each [2]."""
    return tf.unstack(tf.random.experimental.stateless_split(as_seed(seed), n))


def _randint(seed, shape, lo, hi):
    """Uniform int32 in [lo, hi], both inclusive; lo, hi are ints or tensors broadcastable to shape."""
    lo = tf.cast(lo, tf.float32)
    hi = tf.cast(hi, tf.float32)
    u = tf.random.stateless_uniform(shape, seed, dtype=tf.float32)
    return tf.cast(tf.minimum(lo + tf.floor(u * (hi - lo + 1.0)), hi), tf.int32)


def _range_arg(value, name):
    """(lo, hi) inclusive integer range from an int or a pair."""
    if isinstance(value, (int, np.integer)):
        return int(value), int(value)
    try:
        lo, hi = (int(v) for v in value)
    except (TypeError, ValueError):
        raise UserError(f"{name} must be an int or a (min, max) pair, got {value!r}") from None
    if lo > hi:
        raise UserError(f"{name} range ({lo}, {hi}) has min > max")
    return lo, hi


def _check_size(height, width):
    if not all(isinstance(v, (int, np.integer)) and v >= 2 for v in (height, width)):
        raise UserError(f"mask size must be Python ints >= 2, got height={height!r} width={width!r}")
    return int(height), int(width)


def _rect(height, width, top, left, h, w):
    """Boolean [H, W] that is True inside rows [top, top+h), columns [left, left+w)."""
    rows = tf.range(height)[:, None]
    cols = tf.range(width)[None, :]
    return (rows >= top) & (rows < top + h) & (cols >= left) & (cols < left + w)


def _to_mask(hole):
    """Boolean [H, W] -> float32 [H, W, 1]."""
    return tf.cast(hole, tf.float32)[..., None]


def _not_full(hole):
    """Guarantee a known pixel: if every pixel is a hole, pixel (0, 0) becomes known."""
    height, width = hole.shape
    return hole & ~(tf.reduce_all(hole) & _rect(height, width, 0, 0, 1, 1))


def bounding_box(mask):
    """(top, left, height, width) int32 [4] of the hole pixels of a mask [H, W, 1]; zeros if empty."""
    hole = mask[..., 0] > 0.5
    rows = tf.reduce_any(hole, axis=1)
    cols = tf.reduce_any(hole, axis=0)

    def span(v):
        n = tf.shape(v, out_type=tf.int32)[0]
        first = tf.argmax(tf.cast(v, tf.int32), output_type=tf.int32)
        last = n - 1 - tf.argmax(tf.cast(tf.reverse(v, [0]), tf.int32), output_type=tf.int32)
        return first, last - first + 1

    top, h = span(rows)
    left, w = span(cols)
    box = tf.stack([top, left, h, w])
    return tf.where(tf.reduce_any(hole), box, tf.zeros_like(box))


# ----------------------------------------------------------------------------- generators

def center_square(height, width, side):
    """The centred square hole: paper D (128 image, side 64), paper C (64 image, side 32)."""
    height, width = _check_size(height, width)
    if not 1 <= side < min(height, width) or not isinstance(side, (int, np.integer)):
        raise UserError(f"centre square side must be an int in [1, {min(height, width) - 1}], got {side!r}")
    top, left = (height - side) // 2, (width - side) // 2
    return _to_mask(_rect(height, width, top, left, side, side))


def _glcic(seed, height, width, local, hole_min, hole_max):
    if not (isinstance(local, (int, np.integer)) and 1 <= hole_min <= hole_max <= local <= min(height, width)):
        raise UserError(f"glcic needs 1 <= hole_min <= hole_max <= local <= image side, got hole_min={hole_min} "
                        f"hole_max={hole_max} local={local} image {height}x{width}")
    if hole_max >= height and hole_max >= width:
        raise UserError("glcic hole_max must be smaller than the image so some pixels stay known")
    s_size, s_pos = _split(seed, 2)
    hw = _randint(s_size, [2], hole_min, hole_max)                                  # sides in [min, max]
    top_left = _randint(s_pos, [2], 0, tf.constant([height, width]) - hw)           # uniform in the image
    hole = _rect(height, width, top_left[0], top_left[1], hw[0], hw[1])
    # [paper] seed 000, sections 2.3 and 4.1: the local D sees "a 64x64 area centred on the completed
    # region": the box is centred on the hole and clamped to the image (the hole stays inside it).
    box_tl = tf.clip_by_value(top_left + (hw - local) // 2, 0, tf.constant([height - local, width - local]))
    box = tf.stack([box_tl[0], box_tl[1], tf.constant(local), tf.constant(local)])
    return _to_mask(hole), box


def glcic_kw(size):
    """GLCIC's 128-px hole settings (local area 64, hole sides 24..48) scaled to an image side `size`."""
    return dict(local=size // 2, hole_min=max(1, size * 24 // 128), hole_max=max(1, size * 48 // 128))


def glcic_hole(seed, size=128, local=64, hole_min=24, hole_max=48):
    """Paper A's hole: a rectangle with sides uniform in [hole_min, hole_max] placed uniformly in the
    image, and the local area of side `local` centred on it (clamped to the image). Returns (mask, box);
    box = (top, left, height, width) int32 of the local area, which the local discriminator sees."""
    size = _check_size(size, size)[0]
    return _glcic(seed, size, size, int(local), int(hole_min), int(hole_max))


def random_rectangles(seed, height, width, count=(1, 4), min_side=None, max_side=None, margin=None):
    """Union of `count` (int or inclusive range) axis-aligned rectangles with sides uniform in
    [min_side, max_side], kept `margin` pixels off the border (so the mask is never all-hole).
    Defaults follow LaMa's CelebA box masks at 256 (margin 10, sides 30..150, 1..4 boxes),
    scaled by min(H, W)/256: at 64x64 margin 2, sides 8..38."""
    height, width = _check_size(height, width)
    scale = min(height, width) / 256.0
    margin = max(1, round(10 * scale)) if margin is None else int(margin)
    min_side = max(1, round(30 * scale)) if min_side is None else int(min_side)
    max_side = round(150 * scale) if max_side is None else int(max_side)
    max_side = min(max_side, height - 2 * margin, width - 2 * margin)
    lo_n, hi_n = _range_arg(count, "count")
    if margin < 1 or lo_n < 1 or not 1 <= min_side <= max_side:
        raise UserError(f"rectangles need margin >= 1, count >= 1 and 1 <= min_side <= max_side <= image - "
                        f"2*margin, got margin={margin} count={count} sides {min_side}..{max_side}")
    s_n, s_hw, s_t, s_l = _split(seed, 4)
    n = _randint(s_n, [], lo_n, hi_n)
    hw = _randint(s_hw, [hi_n, 2], min_side, max_side)
    top = margin + _randint(s_t, [hi_n], 0, height - 2 * margin - hw[:, 0])
    left = margin + _randint(s_l, [hi_n], 0, width - 2 * margin - hw[:, 1])
    rows = tf.range(height)[None, :, None]
    cols = tf.range(width)[None, None, :]
    t, l, h, w = (v[:, None, None] for v in (top, left, hw[:, 0], hw[:, 1]))
    each = (rows >= t) & (rows < t + h) & (cols >= l) & (cols < l + w)
    active = (tf.range(hi_n) < n)[:, None, None]
    return _to_mask(tf.reduce_any(each & active, axis=0))


def _segments_mask(height, width, p, q, radius):
    """Union of capsules: pixels within `radius` of segment p->q. p, q [N, 2] (x, y); radius [N]."""
    ys = tf.cast(tf.range(height), tf.float32)[None, :, None]
    xs = tf.cast(tf.range(width), tf.float32)[None, None, :]
    px, py = p[:, 0, None, None], p[:, 1, None, None]
    dx, dy = (q[:, 0] - p[:, 0])[:, None, None], (q[:, 1] - p[:, 1])[:, None, None]
    length2 = tf.maximum(dx * dx + dy * dy, 1e-12)
    t = tf.clip_by_value(((xs - px) * dx + (ys - py) * dy) / length2, 0.0, 1.0)   # closest point
    dist2 = tf.square(xs - px - t * dx) + tf.square(ys - py - t * dy)
    return tf.reduce_any(dist2 <= tf.square(radius)[:, None, None], axis=0)


def brush_strokes(seed, height, width, strokes=(1, 3), vertices=(4, 11), width_range=None,
                  mean_angle=2 * math.pi / 5, angle_range=2 * math.pi / 15):
    """Free-form brush strokes after DeepFill v2 (Yu et al. 2019, Alg. 1 and its public
    `brush_stroke_mask`): per stroke a random walk of `vertices` steps with angles around
    `mean_angle` (alternately reflected), step lengths ~ N(d/8, d/16) clipped to [0, d/4]
    (d = image diagonal), one brush width per stroke, drawn as thick segments with round joints;
    then random horizontal/vertical flips.  Vertices are clipped to the image (DeepFill: one
    pixel beyond), so a stroke stays one connected piece.  width_range defaults to DeepFill's
    (12, 40) at 256 scaled by min(H, W)/256: (3, 10) at 64x64.  Rasterised by distance-to-segment."""
    height, width = _check_size(height, width)
    lo_s, hi_s = _range_arg(strokes, "strokes")
    lo_v, hi_v = _range_arg(vertices, "vertices")
    scale = min(height, width) / 256.0
    w_lo, w_hi = (12 * scale, 40 * scale) if width_range is None else (float(v) for v in width_range)
    if lo_s < 1 or lo_v < 1 or not 1.0 <= w_lo <= w_hi:
        raise UserError(f"brush needs strokes >= 1, vertices >= 1 and 1 <= min width <= max width, got "
                        f"strokes={strokes} vertices={vertices} width_range=({w_lo}, {w_hi})")
    avg_r = math.sqrt(height * height + width * width) / 8
    seeds = _split(seed, 9)
    n_strokes = _randint(seeds[0], [], lo_s, hi_s)
    n_vert = _randint(seeds[1], [hi_s], lo_v, hi_v)
    a_min = mean_angle - tf.random.stateless_uniform([hi_s, 1], seeds[2], 0.0, angle_range)
    a_max = mean_angle + tf.random.stateless_uniform([hi_s, 1], seeds[3], 0.0, angle_range)
    angle = a_min + (a_max - a_min) * tf.random.stateless_uniform([hi_s, hi_v], seeds[4])
    angle = tf.where(tf.range(hi_v)[None, :] % 2 == 0, 2 * math.pi - angle, angle)
    r = tf.clip_by_value(tf.random.stateless_normal([hi_s, hi_v], seeds[5], avg_r, float(avg_r // 2)), 0, 2 * avg_r)
    brush = tf.floor(tf.random.stateless_uniform([hi_s], seeds[6], w_lo, w_hi))
    start = tf.floor(tf.random.stateless_uniform([hi_s, 2], seeds[7]) * [float(width), float(height)])
    points = [start]
    for i in range(hi_v):                            # the walk; static length, vectorised over strokes
        step = tf.stack([r[:, i] * tf.cos(angle[:, i]), r[:, i] * tf.sin(angle[:, i])], axis=1)
        points.append(tf.floor(tf.clip_by_value(points[-1] + step, 0.0, [width - 1.0, height - 1.0])))
    pts = tf.stack(points, axis=1)                   # [S, V+1, 2]
    flip = tf.random.stateless_uniform([2], seeds[8]) < 0.5
    pts = tf.where(flip[None, None, :], [float(width - 1), float(height - 1)] - pts, pts)
    active = (tf.range(hi_s)[:, None] < n_strokes) & (tf.range(hi_v)[None, :] < n_vert[:, None])
    radius = tf.where(active, brush[:, None] / 2.0, -1.0)          # inactive segments draw nothing
    hole = _segments_mask(height, width, tf.reshape(pts[:, :-1], [-1, 2]), tf.reshape(pts[:, 1:], [-1, 2]),
                          tf.reshape(radius, [-1]))
    return _to_mask(_not_full(hole))


def _blocks_to_pixels(lost, height, width, block):
    """Block grid [nby, nbx] bool -> pixel mask [H, W, 1], each block a block x block square."""
    rows = tf.range(height) // block
    cols = tf.range(width) // block
    return _to_mask(tf.gather(tf.gather(lost, rows, axis=0), cols, axis=1))


def _block_grid(height, width, block):
    height, width = _check_size(height, width)
    if not isinstance(block, (int, np.integer)) or block < 1:
        raise UserError(f"macroblock size must be a positive int, got {block!r}")
    nby, nbx = -(-height // block), -(-width // block)
    if nby * nbx < 2:
        raise UserError(f"a {height}x{width} image has fewer than 2 blocks of {block}: use a smaller block")
    return height, width, nby, nbx


def macroblocks(seed, height, width, block=16, rate=0.25):
    """Independently lost block x block macroblocks on the aligned grid, each with probability
    `rate` (paper D's random transmission errors).  At least one block is lost (the one with the
    smallest draw) and at least one kept (the largest draw).  rate 0.25 = the expected area of
    paper D's centre square (a quarter of the image)."""
    height, width, nby, nbx = _block_grid(height, width, block)
    if not 0.0 <= rate <= 1.0:
        raise UserError(f"macroblock rate must be in [0, 1], got {rate}")
    u = tf.reshape(tf.random.stateless_uniform([nby * nbx], as_seed(seed)), [-1])
    lost = u < rate
    idx = tf.range(nby * nbx)
    lost = lost | (~tf.reduce_any(lost) & tf.equal(idx, tf.argmin(u, output_type=tf.int32)))
    lost = lost & ~(tf.reduce_all(lost) & tf.equal(idx, tf.argmax(u, output_type=tf.int32)))
    return _blocks_to_pixels(tf.reshape(lost, [nby, nbx]), height, width, block)


def burst_macroblocks(seed, height, width, block=16, bursts=(1, 3), run=(2, None)):
    """Burst errors: each lost packet removes a run of consecutive macroblocks in raster-scan
    order (a run may continue on the next block row).  `bursts` runs (inclusive range), each of
    length uniform in `run` (inclusive; None max = one block row, i.e. a one-row slice), starting
    uniformly where the whole run fits in the frame.  Never all blocks: if runs cover everything,
    the last block is kept."""
    height, width, nby, nbx = _block_grid(height, width, block)
    n = nby * nbx
    lo_b, hi_b = _range_arg(bursts, "bursts")
    lo_r, hi_r = (run, run) if isinstance(run, (int, np.integer)) else run
    lo_r, hi_r = _range_arg((lo_r, min(nbx if hi_r is None else hi_r, n - 1)), "run")
    if lo_b < 1 or lo_r < 1:
        raise UserError(f"burst needs bursts >= 1 and 1 <= run <= {n - 1} blocks, got bursts={bursts} run={run}")
    s_n, s_len, s_start = _split(seed, 3)
    count = _randint(s_n, [], lo_b, hi_b)
    length = _randint(s_len, [hi_b], lo_r, hi_r)
    start = _randint(s_start, [hi_b], 0, n - length)                # the whole run fits
    idx = tf.range(n)[None, :]
    runs = (idx >= start[:, None]) & (idx < (start + length)[:, None]) & (tf.range(hi_b) < count)[:, None]
    lost = tf.reduce_any(runs, axis=0)
    lost = lost & ~(tf.reduce_all(lost) & tf.equal(tf.range(n), n - 1))
    return _blocks_to_pixels(tf.reshape(lost, [nby, nbx]), height, width, block)


# ----------------------------------------------------------------------------- dispatch

_KWARGS = {
    "center": ("side",),
    "glcic": ("local", "hole_min", "hole_max"),
    "rectangles": ("count", "min_side", "max_side", "margin"),
    "brush": ("strokes", "vertices", "width_range", "mean_angle", "angle_range"),
    "macroblock": ("block", "rate"),
    "burst": ("block", "bursts", "run"),
}


def make_mask(kind, seed, height, width, **kw):
    """Mask of the named kind and its box (int32 [4] = top, left, height, width): the local area
    for "glcic", the hole's bounding box for every other kind."""
    if kind not in _KWARGS:
        raise UserError(f"unknown mask kind {kind!r}: choose one of {', '.join(KINDS)}")
    extra = sorted(set(kw) - set(_KWARGS[kind]))
    if extra:
        raise UserError(f"mask kind {kind!r} takes no option {', '.join(extra)}; "
                        f"its options are: {', '.join(_KWARGS[kind])}")
    if kind == "glcic":
        height, width = _check_size(height, width)
        return _glcic(seed, height, width, int(kw.get("local", 64)), int(kw.get("hole_min", 24)),
                      int(kw.get("hole_max", 48)))
    if kind == "center":
        mask = center_square(height, width, kw.get("side", min(height, width) // 2))
    else:
        fn = {"rectangles": random_rectangles, "brush": brush_strokes,
              "macroblock": macroblocks, "burst": burst_macroblocks}[kind]
        mask = fn(seed, height, width, **kw)
    return mask, bounding_box(mask)


# ----------------------------------------------------------------------------- evaluation bank

def _sha256(masks_u8, boxes):
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

    MANIFEST = "manifest.json"
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
        """PNGs first, manifest last (temp file + os.replace): an interrupted save never leaves a
        manifest that points at missing or different files.  Returns the manifest path."""
        os.makedirs(directory, exist_ok=True)
        manifest = os.path.join(directory, self.MANIFEST)
        if os.path.exists(manifest):
            os.remove(manifest)                                  # the old bank is invalid from here
        masks_u8 = np.round(self.masks[..., 0] * 255).astype(np.uint8)
        names = [f"mask_{i:05d}.png" for i in range(len(self))]
        for name, m in zip(names, masks_u8):
            png = tf.io.encode_png(m[..., None]).numpy()
            tmp = os.path.join(directory, name + ".tmp")
            with open(tmp, "wb") as f:
                f.write(png)
            os.replace(tmp, os.path.join(directory, name))
        for old in os.listdir(directory):                        # stale masks of a larger old bank
            if self._FILE.match(old) and old not in set(names):
                os.remove(os.path.join(directory, old))
        data = {"format": self.FORMAT, "kind": self.kind, "kwargs": self.kwargs, "seed": self.seed,
                "height": self.height, "width": self.width, "n": len(self), "files": names,
                "boxes": self.boxes.tolist(), "hole_fraction": float(self.masks.mean()),
                "sha256": _sha256(masks_u8, self.boxes)}
        tmp = manifest + ".tmp"
        with open(tmp, "w") as f:
            json.dump(data, f, indent=1)
        os.replace(tmp, manifest)
        return manifest

    @classmethod
    def load(cls, directory):
        """Read a saved bank; raises UserError if the manifest, a file or the checksum is wrong."""
        manifest = os.path.join(directory, cls.MANIFEST)
        redo = "regenerate the mask bank"
        try:
            with open(manifest) as f:
                data = json.load(f)
            files, n, h, w = data["files"], int(data["n"]), int(data["height"]), int(data["width"])
            boxes = np.asarray(data["boxes"], np.int32).reshape(n, 4)
            kind, seed, checksum = data["kind"], data["seed"], data["sha256"]
        except FileNotFoundError:
            raise UserError(f"no mask bank in {directory}: {manifest} is missing; {redo}") from None
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
        if _sha256(masks, boxes) != checksum:
            raise UserError(f"mask bank in {directory} fails its sha256 check (files changed since saved); {redo}")
        bank = cls((masks[..., None] / 255.0).astype(np.float32), boxes, kind, seed, data.get("kwargs"))
        bank.format = int(data.get("format", 1))
        return bank
