"""Training batches and evaluation examples: source + preprocessing + masks / blur, in tf.data.

Randomness is per example and stateless: example number i of the (shuffled, repeated) stream
draws its crop, flip, mask and blur from ``fold_in([seed, stream], i)``. A run restarted with
``start_step=k`` skips ``k * batch_size`` examples in the source (cheaply, before decoding) and
numbers them from there, so it sees exactly the batches k, k+1, ... of an uninterrupted run.
When the source can report each image's position in its undecoded stream (``with_index``), that
position is the example number, so a skipped unreadable file does not shift later seeds.
"""
import inspect
import sys

import tensorflow as tf

from data import degrade
from data.masks import example_seed, make_mask
from data.preprocess import (center_crop, center_crop_resize, color_jitter, random_crop_flip, stretch_resize,
                             to_float, to_uint8)
from errors import UserError

AUTOTUNE = tf.data.AUTOTUNE
RESIZE = ("crop", "stretch", "random_crop")
# Second word of the base seed, one per stream, so inpainting, training blur and the evaluation
# blur never share random numbers for the same run seed.
_INPAINT, _DEBLUR, _EVAL_DEBLUR = 0x1A, 0x2B, 0x3C
_JITTER = 0x4D          # folded into an example's seed for its colour jitter


def _base_seed(seed, stream):
    if isinstance(seed, int):
        return tf.constant([seed, stream], tf.int64)
    return tf.random.experimental.stateless_fold_in(tf.cast(tf.convert_to_tensor(seed), tf.int64), stream)


def _indexed(source, shuffle_seed, repeat, skip):
    """(index, uint8 image) pairs: the source's own stream position when it offers one."""
    params = inspect.signature(source.dataset).parameters
    if "with_index" in params:
        return source.dataset(shuffle_seed=shuffle_seed, repeat=repeat, skip=skip, with_index=True)
    ds = source.dataset(shuffle_seed=shuffle_seed, repeat=repeat, skip=skip)
    return ds.enumerate(start=skip)


def _resize_fn(resize, size):
    if resize == "crop":
        return lambda image, seed: center_crop_resize(image, size)
    if resize == "stretch":
        return lambda image, seed: stretch_resize(image, size)
    if resize == "random_crop":
        return lambda image, seed: random_crop_flip(image, size, seed)
    raise UserError(f"unknown resize {resize!r}: use one of {', '.join(RESIZE)}")


def _warn_batch(source, batch_size):
    """One warning line when a batch is larger than the whole dataset (every batch then repeats
    images); not for a source that crops each photo anew (the samples train stream)."""
    n = len(source) if hasattr(source, "__len__") else None
    if (n is not None and 0 < n < int(batch_size) and getattr(source, "crop_min", None) is None
            and not getattr(source, "_warned_batch", False)):
        source._warned_batch = True            # once per source, not at every restart of the stream
        print(f"warning: batch size {batch_size} is larger than the {n} training images of {source.name}: "
              f"every batch repeats images; lower --batch-size or add images", file=sys.stderr)


def _check_run(source, batch_size, start_step, seed, shuffle):
    """The checks every training stream shares; a shuffled (training) stream also warns about a
    batch larger than its dataset."""
    if int(batch_size) < 1:
        raise UserError(f"batch size must be >= 1, got {batch_size}")
    if int(start_step) < 0:
        raise UserError(f"start_step must be >= 0, got {start_step}")
    if not isinstance(seed, int):
        raise UserError(f"the run seed must be a Python int, got {seed!r}")
    if shuffle:
        _warn_batch(source, batch_size)


def inpainting_batches(source, image_size, batch_size, mask_kind, seed, resize="crop", shuffle=True,
                       repeat=True, start_step=0, drop_remainder=True, jitter=False, **mask_kw):
    """Batches of dict(image [B,S,S,3] float32 in [-1, 1], mask [B,S,S,1] float32 (1 = hole),
    box [B,4] int32 (top, left, height, width): GLCIC's local area or the hole's bounding box).

    resize: "crop" (largest centred square, then resize; PAPERS A), "stretch" (whole image
    resized), "random_crop" (random S x S crop + horizontal flip; images must be >= S).
    The image is the clean ground truth; the model's input is the composite the train step makes.
    jitter: each image's colours changed at random (preprocess.color_jitter; a demo-scale aid).
    """
    _check_run(source, batch_size, start_step, seed, shuffle)
    size = int(image_size)
    prep = _resize_fn(resize, size)
    make_mask(mask_kind, tf.constant([0, 0], tf.int64), size, size, **mask_kw)  # bad options fail here
    base = _base_seed(seed, _INPAINT)
    skip = int(start_step) * int(batch_size)

    def example(index, image):
        seed = example_seed(base, index)
        s_crop, s_mask = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
        mask, box = make_mask(mask_kind, s_mask, size, size, **mask_kw)
        image = to_float(prep(image, s_crop))
        if jitter:
            image = color_jitter(image, tf.random.experimental.stateless_fold_in(seed, _JITTER))
        return dict(image=tf.ensure_shape(image, [size, size, 3]), mask=mask, box=tf.cast(box, tf.int32))

    ds = _indexed(source, seed if shuffle else None, repeat, skip)
    ds = ds.map(example, num_parallel_calls=AUTOTUNE, deterministic=True)
    return ds.batch(int(batch_size), drop_remainder=drop_remainder).prefetch(AUTOTUNE)


def deblur_batches(source, crop_size, batch_size, seed, blur_kind="mixed", shuffle=True, repeat=True,
                   start_step=0, kernel_size=degrade.MOTION_SIZE, quantize=True, drop_remainder=True,
                   scale_range=(1.0, 1.0), sharp_fraction=0.0, **blur_kw):
    """Batches of dict(blurred, sharp), each [B,C,C,3] float32 in [-1, 1] (paper E).

    Each example is a random (C + k - 1)-square crop with a random horizontal flip, blurred with
    its own kernel (Gaussian or motion, see data.degrade) by a "valid" convolution, so every
    blurred pixel of the C x C result sees real neighbours (no padding artefacts); sharp is the
    matching centre C x C. quantize: round the blurred image to 8 bits, as a real blurry photo is.
    Kernels are drawn per batch (one motion-trajectory loop per batch, not per example), each from
    its example's own seed.
    scale_range (LO, HI): [choice, off by default] each crop is taken at a log-uniform random scale
    s in [LO, HI] of the photo (a (C + k - 1) * s square, resized to C + k - 1 and rounded to 8
    bits; s < 1 zooms in: softer content, as a multi-megapixel photo's pixels are), so the model
    meets content at more scales than its photos have.
    sharp_fraction: [choice, off by default] this share of the examples is not blurred (input =
    target), so the model learns to leave an already sharp image alone.
    """
    _check_run(source, batch_size, start_step, seed, shuffle)
    crop, k = int(crop_size), int(kernel_size)
    degrade.random_kernels(tf.zeros([1, 2], tf.int64), blur_kind, k, **blur_kw)  # bad options fail here
    margin = crop + k - 1
    r = k // 2
    base = _base_seed(seed, _DEBLUR)
    skip = int(start_step) * int(batch_size)

    lo, hi = (float(v) for v in scale_range)
    if not 0 < lo <= hi:
        raise UserError(f"scale range {lo} {hi}: need 0 < LO <= HI (1 1 = the photos' own scale)")
    if not 0 <= sharp_fraction < 1:
        raise UserError(f"sharp fraction {sharp_fraction}: need 0 <= F < 1")

    def scaled_crop(image, seed):
        s_scale, s_crop = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
        s = tf.exp(tf.random.stateless_uniform([], s_scale, tf.math.log(lo), tf.math.log(hi)))
        shape = tf.shape(image)
        side = tf.clip_by_value(tf.cast(tf.round(margin * s), tf.int32), 8, tf.minimum(shape[0], shape[1]))
        big = tf.image.resize(tf.cast(random_crop_flip(image, side, s_crop), tf.float32), [margin, margin],
                              method="bicubic", antialias=True)
        return tf.cast(tf.clip_by_value(tf.round(big), 0, 255), tf.uint8)

    def example(index, image):
        s_crop, s_blur = tf.unstack(tf.random.experimental.stateless_split(example_seed(base, index), 2))
        big = to_float(random_crop_flip(image, margin, s_crop) if lo == hi == 1 else scaled_crop(image, s_crop))
        return dict(big=tf.ensure_shape(big, [margin, margin, 3]), seed=s_blur)

    def degrade_batch(batch):
        kernels, _ = degrade.random_kernels(batch["seed"], blur_kind, k, **blur_kw)
        blurred = degrade.blur(batch["big"], kernels, padding="valid")
        if quantize:
            blurred = to_float(to_uint8(blurred))
        sharp = batch["big"][:, r:r + crop, r:r + crop, :]
        if sharp_fraction > 0:     # the example's own blur seed decides, so a resumed run draws the same
            u = tf.map_fn(lambda sd: tf.random.stateless_uniform([], tf.random.experimental.stateless_fold_in(sd, 7)),
                          batch["seed"], fn_output_signature=tf.float32)
            blurred = tf.where((u < sharp_fraction)[:, None, None, None], sharp, blurred)
        return dict(blurred=blurred, sharp=sharp)

    ds = _indexed(source, seed if shuffle else None, repeat, skip)
    ds = ds.map(example, num_parallel_calls=AUTOTUNE, deterministic=True)
    ds = ds.batch(int(batch_size), drop_remainder=drop_remainder)
    ds = ds.map(degrade_batch, num_parallel_calls=AUTOTUNE, deterministic=True)
    return ds.prefetch(AUTOTUNE)


def eval_deblur_set(source, size=None, seed=0, n=100, blur_kind="mixed",
                    kernel_size=degrade.MOTION_SIZE, **blur_kw):
    """Paper E's fixed evaluation set: the first n images in source order (DIV2K: its 100
    validation images), each degraded once from the seed fold_in([seed, stream], i).

    size None: whole images (variable size; reflect padding at the image border); an int: the
    centred size x size crop (no resize, so the blur scale is that of training). Yields dicts
    blurred uint8, sharp uint8 ([H, W, 3]), index int64 and the recorded degradation
    kind int32 (0 Gaussian, 1 motion), sigma float32, kernel float32 [k, k]. Unbatched.
    """
    if int(n) < 1:
        raise UserError(f"the deblur evaluation set needs n >= 1 images, got {n}")
    k = int(kernel_size)
    degrade.random_kernels(tf.zeros([1, 2], tf.int64), blur_kind, k, **blur_kw)  # bad options fail here
    base = _base_seed(seed, _EVAL_DEBLUR)

    def example(index, image):
        if size is not None:
            image = center_crop(image, int(size))
        blurred, params = degrade.random_blur(example_seed(base, index), to_float(image), blur_kind, k,
                                              padding="reflect", **blur_kw)
        return dict(blurred=to_uint8(blurred), sharp=image, index=tf.cast(index, tf.int64), **params)

    ds = _indexed(source, None, False, 0).take(int(n))
    return ds.map(example, num_parallel_calls=AUTOTUNE, deterministic=True).prefetch(AUTOTUNE)
