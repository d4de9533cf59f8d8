"""PSNR and SSIM on [0, 255] images: whole image, hole only, Y channel, border crop.

Conventions (see docs/PAPER_NOTES.md, "Metrics"):
- Inputs: numpy arrays or tf tensors, uint8 or float in [0, 255]; one image [H, W, C] (or a grey
  [H, W]) or a batch [B, H, W, C]. Floats are used as given (the pipeline rounds to uint8 first).
- Outputs are PER IMAGE: a Python float for one image, a float64 numpy array [B] for a batch.
  A table reports the MEAN OF PER-IMAGE values (`mean_psnr`, `mean_ssim`), never the PSNR of a
  batch-mean MSE.
- Identical images give PSNR = inf (MSE 0); an empty hole mask gives NaN.
- SSIM: Gaussian window 11x11, sigma 1.5, K1 0.01, K2 0.03, population (co)variances. The SSIM map
  is computed with 'reflect' boundary handling (scipy's mode, = tf.pad SYMMETRIC), exactly as
  scikit-image filters before cropping; the whole-image SSIM is the mean of the map over the
  pixels at least 5 from every border (skimage's crop, = a 'valid' filter), averaged over channels.
  This equals `skimage.metrics.structural_similarity(a, b, gaussian_weights=True, sigma=1.5,
  use_sample_covariance=False, data_range=max_val, channel_axis=-1)`.
- Hole only (`mask`, 1 = hole): PSNR from the MSE over hole pixels (all channels);
  SSIM = mean of the full-size (reflect-padded) SSIM map over the hole pixels and channels, so
  hole pixels near the border count too. The map at a hole pixel still sees known pixels within
  its 11x11 window: that is inherent to SSIM.
- Y channel: ITU-R BT.601 luma as MATLAB's rgb2ycbcr, the super-resolution convention:
  Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255 for R, G, B in [0, 255], giving Y in
  [16, 235]; not rounded; max_val stays 255 (as BasicSR / the SR literature).
- crop_border: that many pixels removed from each side (images and mask) before anything else.
Computed with TensorFlow ops, so large evaluations run on the GPU when one is visible; without one,
SSIM's Gaussian filter is OpenCV's (float64, the same values to 1e-13, 10x faster on a CPU).
"""
import functools

import cv2
import numpy as np
import tensorflow as tf

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03
# MATLAB rgb2ycbcr (BT.601) luma row, for R, G, B in [0, 1]; output offset 16 on a 0..255 scale.
_Y_COEFFS = (65.481, 128.553, 24.966)


def _as_batch(x, name):
    """-> (float64 tensor [B, H, W, C], was_single)."""
    x = tf.convert_to_tensor(x)
    x = tf.cast(x, tf.float64)
    rank = x.shape.rank
    if rank == 2:  # one grey image
        return x[tf.newaxis, :, :, tf.newaxis], True
    if rank == 3:
        return x[tf.newaxis], True
    if rank == 4:
        return x, False
    raise ValueError(f"{name} must be [H, W], [H, W, C] or [B, H, W, C], got shape {x.shape}")


def _prepare(a, b, mask, y_channel, crop_border):
    a, single = _as_batch(a, "a")
    b, _ = _as_batch(b, "b")
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {a.shape} vs {b.shape}")
    if mask is not None:
        m = tf.cast(tf.convert_to_tensor(mask), tf.float64)
        if m.shape.rank == 2:
            m = m[:, :, tf.newaxis]
        if m.shape.rank == 3:
            m = m[tf.newaxis]
        m = tf.broadcast_to(tf.cast(m > 0.5, tf.float64), tf.concat([tf.shape(a)[:3], [1]], 0))
    else:
        m = None
    if crop_border:
        c = int(crop_border)
        a, b = a[:, c:-c, c:-c, :], b[:, c:-c, c:-c, :]
        m = None if m is None else m[:, c:-c, c:-c, :]
    if y_channel:
        a, b = rgb_to_y(a), rgb_to_y(b)
    return a, b, m, single


def _out(values, single):
    values = values.numpy().astype(np.float64)
    return float(values[0]) if single else values


def rgb_to_y(images):
    """BT.601 luma Y in [16, 235] of RGB images in [0, 255] (MATLAB rgb2ycbcr), shape [..., 1]."""
    images = tf.cast(images, tf.float64)
    w = tf.constant(_Y_COEFFS, tf.float64) / 255.0
    return 16.0 + tf.reduce_sum(images * w, axis=-1, keepdims=True)


def psnr(a, b, max_val=255.0, mask=None, y_channel=False, crop_border=0):
    """Peak signal-to-noise ratio in dB per image; 10 log10(max_val^2 / MSE), MSE over hole pixels
    (all channels) when `mask` (1 = hole) is given. inf for identical images."""
    a, b, m, single = _prepare(a, b, mask, y_channel, crop_border)
    sq = tf.square(a - b)
    if m is None:
        mse = tf.reduce_mean(sq, axis=[1, 2, 3])
    else:
        channels = tf.cast(tf.shape(sq)[-1], tf.float64)
        mse = tf.reduce_sum(sq * m, axis=[1, 2, 3]) / (tf.reduce_sum(m, axis=[1, 2, 3]) * channels)
    max_val = tf.constant(float(max_val), tf.float64)
    # log10(max^2 / 0) = +inf: identical images give inf, as skimage does.
    value = 10.0 * (2.0 * tf.math.log(max_val) - tf.math.log(mse)) / tf.math.log(tf.constant(10.0, tf.float64))
    return _out(value, single)


def _gaussian_window(size=SSIM_WINDOW, sigma=SSIM_SIGMA):
    r = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    g = np.exp(-(r ** 2) / (2.0 * sigma ** 2))
    g /= g.sum()
    return tf.constant(g, tf.float64)


@functools.cache
def _cpu_only():
    return not tf.config.list_logical_devices("GPU")


def _filter(x, g):
    """Separable Gaussian filter per channel with reflect (SYMMETRIC) padding; same size out. Eager
    on a CPU: OpenCV's sepFilter2D (BORDER_REFLECT is SYMMETRIC), float64 as TensorFlow's float64
    depthwise convolution, 10x faster (0.02 s against 0.21 s for a 2-MP RGB image)."""
    if tf.executing_eagerly() and _cpu_only():
        k = g.numpy()
        images = x.numpy()
        return tf.constant(np.stack([cv2.sepFilter2D(im, -1, k, k, borderType=cv2.BORDER_REFLECT).reshape(im.shape)
                                     for im in images]))
    size = int(g.shape[0])
    pad = (size - 1) // 2
    channels = x.shape[-1]
    x = tf.pad(x, [[0, 0], [pad, pad], [pad, pad], [0, 0]], mode="SYMMETRIC")
    kv = tf.tile(tf.reshape(g, [size, 1, 1, 1]), [1, 1, channels, 1])
    kh = tf.tile(tf.reshape(g, [1, size, 1, 1]), [1, 1, channels, 1])
    x = tf.nn.depthwise_conv2d(x, kv, [1, 1, 1, 1], "VALID")
    return tf.nn.depthwise_conv2d(x, kh, [1, 1, 1, 1], "VALID")


def ssim_map(a, b, max_val=255.0):
    """Full-size SSIM map [B, H, W, C] (float64) of two batches, reflect boundary handling."""
    a = tf.cast(a, tf.float64)
    b = tf.cast(b, tf.float64)
    g = _gaussian_window()
    c1 = (SSIM_K1 * max_val) ** 2
    c2 = (SSIM_K2 * max_val) ** 2
    mu_a, mu_b = _filter(a, g), _filter(b, g)
    # Population (co)variances, as use_sample_covariance=False / Wang et al. 2004.
    var_a = _filter(a * a, g) - mu_a * mu_a
    var_b = _filter(b * b, g) - mu_b * mu_b
    cov = _filter(a * b, g) - mu_a * mu_b
    num = (2.0 * mu_a * mu_b + c1) * (2.0 * cov + c2)
    den = (mu_a * mu_a + mu_b * mu_b + c1) * (var_a + var_b + c2)
    return num / den


def ssim(a, b, max_val=255.0, mask=None, y_channel=False, crop_border=0):
    """Structural similarity per image. Whole image: mean of the map over the 'valid' interior
    (5 px from each border, as skimage), averaged over channels. With `mask` (1 = hole): mean of
    the full-size map over hole pixels and channels."""
    a, b, m, single = _prepare(a, b, mask, y_channel, crop_border)
    if min(a.shape[1], a.shape[2]) < SSIM_WINDOW:
        raise ValueError(f"SSIM needs images of at least {SSIM_WINDOW}x{SSIM_WINDOW}, got {a.shape[1:3]}")
    s = ssim_map(a, b, max_val)
    if m is None:
        pad = (SSIM_WINDOW - 1) // 2
        value = tf.reduce_mean(s[:, pad:-pad, pad:-pad, :], axis=[1, 2, 3])
    else:
        channels = tf.cast(tf.shape(s)[-1], tf.float64)
        value = tf.reduce_sum(s * m, axis=[1, 2, 3]) / (tf.reduce_sum(m, axis=[1, 2, 3]) * channels)
    return _out(value, single)


def mean_psnr(a, b, **kw):
    """Mean over images of per-image PSNR (the protocol of every table); inf if any pair is identical."""
    return float(np.mean(psnr(a, b, **kw)))


def mean_ssim(a, b, **kw):
    """Mean over images of per-image SSIM."""
    return float(np.mean(ssim(a, b, **kw)))
