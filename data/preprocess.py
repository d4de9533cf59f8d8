"""Image preprocessing as TF ops (safe inside ``Dataset.map``): crops, resizes, uint8 <-> [-1, 1].

Resizing is done in float32 and the result is rounded back to uint8 (never truncated), so a
resize of a constant image stays constant and no half-grey-level bias creeps in.
"""
import tensorflow as tf

from errors import UserError


def to_float(image_uint8):
    """uint8 [0, 255] -> float32 [-1, 1] (the networks' range, tanh outputs)."""
    return tf.cast(image_uint8, tf.float32) / 127.5 - 1.0


def to_uint8(x_float):
    """float32 [-1, 1] -> uint8: clip, scale to [0, 255], round half to even (``tf.round``), cast.

    Rounding (not truncation) makes ``to_uint8(to_float(x)) == x`` for all 256 values and keeps
    metrics on [0, 255] unbiased.
    """
    x = (tf.clip_by_value(tf.cast(x_float, tf.float32), -1.0, 1.0) + 1.0) * 127.5
    return tf.cast(tf.round(x), tf.uint8)


def _round_uint8(x):
    """float32 in [0, 255] (e.g. a resized uint8 image) -> uint8 with rounding and clipping."""
    return tf.cast(tf.round(tf.clip_by_value(x, 0.0, 255.0)), tf.uint8)


def _resize_uint8(image_uint8, height, width, method):
    """Resize a uint8 image in float with antialiasing (matters when shrinking), round back.

    An image already height x width is returned as it is (what the resize would give): images
    converted at the training size (data/shards.py) skip the float round trip."""
    def resize():
        x = tf.image.resize(tf.cast(image_uint8, tf.float32), [height, width], method=method,
                            antialias=True)
        return _round_uint8(x)

    image_uint8 = tf.convert_to_tensor(image_uint8)
    shape = tf.shape(image_uint8)
    same = tf.logical_and(tf.equal(shape[-3], height), tf.equal(shape[-2], width))
    out = tf.cond(same, lambda: image_uint8, resize)
    return tf.ensure_shape(out, image_uint8.shape[:-3].concatenate([height, width, image_uint8.shape[-1]]))


def center_crop(image_uint8, size):
    """Centred ``size`` x ``size`` crop without resizing (keeps the blur scale of paper E's
    evaluation images). Offsets ``(H - size) // 2`` and ``(W - size) // 2``."""
    image_uint8 = tf.convert_to_tensor(image_uint8)
    shape = tf.shape(image_uint8)
    check = tf.debugging.assert_greater_equal(
        tf.minimum(shape[0], shape[1]), size,
        message=f"an image is smaller than the {size}x{size} centre crop: use a smaller size")
    with tf.control_dependencies([check]):
        top, left = (shape[0] - size) // 2, (shape[1] - size) // 2
        return image_uint8[top:top + size, left:left + size, :]


def center_crop_resize(image_uint8, size, method="bilinear"):
    """Largest centred square crop, then resize to ``size`` x ``size`` (uint8 in, uint8 out).

    PAPERS A: CelebA 178x218 -> centre 178x178 -> 128x128. The crop offset is
    ``(long_side - short_side) // 2`` (CelebA: 20 rows from the top).
    """
    image_uint8 = tf.convert_to_tensor(image_uint8)
    shape = tf.shape(image_uint8)
    h, w = shape[0], shape[1]
    side = tf.minimum(h, w)
    top = (h - side) // 2
    left = (w - side) // 2
    square = image_uint8[top:top + side, left:left + side, :]
    return _resize_uint8(square, size, size, method)


def stretch_resize(image_uint8, size, method="bilinear"):
    """Resize the whole image to ``size`` x ``size`` (the literal reading of "scaled to 128x128")."""
    return _resize_uint8(tf.convert_to_tensor(image_uint8), size, size, method)


def random_crop_flip(image_uint8, size, seed):
    """Stateless random ``size`` x ``size`` crop plus a random horizontal flip (probability 1/2).

    An image smaller than the crop is an error (no silent padding with invented content): a
    UserError when the shape is known in Python, an InvalidArgumentError naming the fix inside
    tf.data. ``seed``: int32/int64 tensor of shape [2]; the same seed gives the same crop and flip.
    """
    image_uint8 = tf.convert_to_tensor(image_uint8)
    static = image_uint8.shape
    if (isinstance(size, int) and static.rank is not None and None not in static[:2]
            and min(static[0], static[1]) < size):
        raise UserError(f"image of {static[0]}x{static[1]} is smaller than the {size}x{size} crop: "
                        f"use a smaller crop size or larger images")
    seeds = tf.random.experimental.stateless_split(tf.convert_to_tensor(seed, tf.int64), num=2)
    shape = tf.shape(image_uint8)
    check = tf.debugging.assert_greater_equal(
        tf.minimum(shape[0], shape[1]), size,
        message=(f"an image is smaller than the {size}x{size} random crop" if isinstance(size, int) else
                 "an image is smaller than the random crop") + ": use a smaller crop size or larger images")
    with tf.control_dependencies([check]):
        channels = static[2] if static.rank == 3 and static[2] is not None else shape[2]
        crop = tf.image.stateless_random_crop(image_uint8, [size, size, channels], seed=seeds[0])
    return tf.image.stateless_random_flip_left_right(crop, seed=seeds[1])


def random_square_crop_flip(image_uint8, min_side, seed):
    """Stateless random square crop at a random scale, plus a random horizontal flip.

    Side uniform in [min(min_side, short side), short side], position uniform, no resize (the
    caller resizes to its training size, so the crop's side sets the scale). ``seed``: [2] int64.
    """
    image_uint8 = tf.convert_to_tensor(image_uint8)
    s_side, s_crop, s_flip = tf.unstack(tf.random.experimental.stateless_split(
        tf.convert_to_tensor(seed, tf.int64), num=3))
    shape = tf.shape(image_uint8)
    short = tf.minimum(shape[0], shape[1])
    low = tf.minimum(tf.constant(int(min_side), tf.int32), short)
    side = tf.random.stateless_uniform([], s_side, low, short + 1, dtype=tf.int32)
    crop = tf.image.stateless_random_crop(image_uint8, tf.stack([side, side, shape[2]]), seed=s_crop)
    return tf.image.stateless_random_flip_left_right(crop, seed=s_flip)


def color_jitter(x_float, seed):
    """Random per-image colour change of a [-1, 1] image (a demo-scale aid, issue 25): channels in a
    random order, inverted with probability 1/2, then contrast x U(0.6, 1.4) about the image's mean
    and brightness + U(-0.3, 0.3), clipped. Filling a hole from its surround commutes with such a map,
    so it teaches the surround; a colour prior of a few training photos (dark space and microscopy
    surrounds) it averages out. ``seed``: [2] int64."""
    s_perm, s_inv, s_con, s_bri = tf.unstack(tf.random.experimental.stateless_split(
        tf.cast(seed, tf.int64), num=4))
    perm = tf.argsort(tf.random.stateless_uniform([3], s_perm))
    x = tf.gather(x_float, perm, axis=-1)
    x = tf.where(tf.random.stateless_uniform([], s_inv) < 0.5, -x, x)
    mean = tf.reduce_mean(x, axis=[0, 1], keepdims=True)
    x = (x - mean) * tf.random.stateless_uniform([], s_con, 0.6, 1.4) + mean
    return tf.clip_by_value(x + tf.random.stateless_uniform([], s_bri, -0.3, 0.3), -1.0, 1.0)
