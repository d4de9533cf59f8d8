"""Pixel losses: masked MSE (paper A), contextual L1 (paper C), L1 content (paper E).

Images [B, H, W, C], masks [B, H, W, 1] (1 = hole, 0 = known, broadcast over channels).
Inputs are cast to float32 (safe under mixed precision); usable inside tf.function.
"""
import tensorflow as tf


def _f32(*xs):
    return [tf.cast(x, tf.float32) for x in xs]


def masked_mse(pred, target, mask, normalize="all"):
    """Paper A eq. 2:  L_M = || M * (G(x, M) - x) ||^2  (hole pixels only).

    normalize="all" (default): sum over the masked squared differences / number of ELEMENTS
        (B*H*W*C), i.e. mean over all elements of (M * (G - x))^2, as the public GLCIC
        re-implementations do (e.g. otenim/GLCIC-PyTorch: mse_loss(output * mask, input * mask)).
        Its scale then depends on the hole area, which is fixed in distribution during training.
    normalize="hole": / (number of hole pixels * C), the MSE over the hole itself.
    """
    pred, target, mask = _f32(pred, target, mask)
    sq = tf.square(mask * (pred - target))
    if normalize == "all":
        return tf.reduce_mean(sq)
    if normalize == "hole":
        count = tf.reduce_sum(tf.broadcast_to(mask, tf.shape(pred)))
        return tf.reduce_sum(sq) / tf.maximum(count, 1.0)  # an empty hole gives 0, not NaN
    raise ValueError(f"normalize must be 'all' or 'hole', got {normalize!r}")


def masked_l1(pred, target, mask, weights=None, per_example=False):
    """Paper C's contextual loss  L_contextual = || M_known * G(z) - M_known * y ||_1.

    `mask` selects the pixels that COUNT (for paper C: the known pixels, i.e. 1 - hole mask);
    `weights` (optional, [B, H, W, 1]) multiplies each pixel, e.g. `context_weights` for Yeh et
    al.'s weighted context. The L1 norm is a SUM over pixels and channels per example, as in Yeh et
    al.'s code, which their lambda = 0.003 is tuned to. per_example=True returns that [B] vector
    (for the latent search: each z gets its own loss; differentiate its sum); otherwise its mean
    over the batch.
    """
    pred, target, mask = _f32(pred, target, mask)
    w = mask if weights is None else mask * tf.cast(weights, tf.float32)
    per = tf.reduce_sum(tf.abs(w * pred - w * target), axis=tf.range(1, tf.rank(pred)))
    return per if per_example else tf.reduce_mean(per)


def context_weights(hole_mask, window=7):
    """Yeh et al. 2017 weighted context: each KNOWN pixel weighted by the fraction of hole pixels in
    its window x window neighbourhood (0 on hole pixels). Boundary 'symm' as Yeh's
    scipy.signal.convolve2d(..., mode='same', boundary='symm') (= tf.pad SYMMETRIC).
    hole_mask [B, H, W, 1] (1 = hole) -> weights [B, H, W, 1]."""
    (hole,) = _f32(hole_mask)
    pad = window // 2
    padded = tf.pad(hole, [[0, 0], [pad, window - 1 - pad], [pad, window - 1 - pad], [0, 0]], mode="SYMMETRIC")
    kernel = tf.ones([window, window, 1, 1], tf.float32) / float(window * window)
    frac = tf.nn.conv2d(padded, kernel, strides=1, padding="VALID")
    return (1.0 - hole) * frac


def contextual_loss(generated, image, hole_mask, weighted=False, per_example=True, window=7):
    """Paper C: L_contextual(z) over the known pixels (1 - hole_mask), optionally Yeh-weighted."""
    weights = context_weights(hole_mask, window) if weighted else None
    return masked_l1(generated, image, 1.0 - tf.cast(hole_mask, tf.float32), weights, per_example)


def l1(pred, target):
    """Paper E eq. 3 content loss: mean absolute error over all elements (||.||_1 / #elements)."""
    pred, target = _f32(pred, target)
    return tf.reduce_mean(tf.abs(pred - target))
