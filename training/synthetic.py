"""Synthetic batches and a stand-in VGG for the benchmark hooks of the train scripts.

Each train script's `synthetic` hook (read by bench/steps.py, tests/test_precision.py and
tests/test_mirrored.py) and `paper_step_batch` hook (bench/paper_step.py) build their batches
from these: deterministic, image-like [-1, 1] pictures, rectangular holes, and `tiny_vgg`, the
feature extractor tiny tests use instead of VGG19. They live here, not in bench/, because a
train script imports nothing from bench/.
"""
import keras
import numpy as np
import tensorflow as tf


def images(i, batch, size, channels=3, seed=0):
    """Batch number `i`: [batch, size, size, channels] smooth images in [-1, 1] (a bilinear upscale
    of quarter-size noise, plus a little pixel noise), the same for the same (seed, i)."""
    rng = np.random.default_rng([seed, i])
    low = rng.uniform(-1, 1, (batch, max(size // 4, 1), max(size // 4, 1), channels)).astype(np.float32)
    img = tf.image.resize(low, [size, size], "bilinear")                   # smooth, image-like
    return tf.clip_by_value(img + 0.05 * rng.standard_normal(img.shape).astype(np.float32), -1, 1)


def holes(i, batch, size, hole, seed=1):
    """(masks [batch, size, size, 1] with one hole x hole square of 1s each, boxes [batch, 4] as
    (top, left, height, width)), the same for the same (seed, i)."""
    rng = np.random.default_rng([seed, i])
    m = np.zeros((batch, size, size, 1), np.float32)
    boxes = np.zeros((batch, 4), np.int32)
    for b in range(batch):
        t, l = rng.integers(0, size - hole + 1, 2)
        m[b, t:t + hole, l:l + hole] = 1.0
        boxes[b] = (t, l, hole, hole)
    return tf.constant(m), boxes


def box_blur(sharp):
    """A 3x3 box blur of images [..., S, S, C] (any leading dimensions): the synthetic blur."""
    shape = tf.shape(sharp)
    flat = tf.reshape(sharp, tf.concat([[-1], shape[-3:]], 0))
    return tf.reshape(tf.nn.avg_pool2d(flat, 3, 1, "SAME"), shape)


def tiny_vgg(layers):
    """A stand-in for vgg19_features in tiny tests: same interface (image in [-1, 1] -> dict of
    named feature maps, frozen), one 4-channel conv per layer; full VGG19 makes XLA compiles slow."""
    x = inp = keras.Input((None, None, 3))
    out = {}
    for i, name in enumerate(layers):
        x = keras.layers.Conv2D(4, 3, strides=1 if i == 0 else 2, padding="same", activation="relu",
                                name=f"tiny_{name}")(x)
        out[name] = x
    model = keras.Model(inp, out, name="tiny_vgg")
    model.trainable = False
    return model
