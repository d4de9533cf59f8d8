"""Blur degradations for paper E (pure TF, stateless seeds, usable inside ``Dataset.map``).

Paper E does not say how its blurred inputs were made (PAPERS.md E "Blur [choice]"). We ship:

* Gaussian blur, isotropic, sigma ~ U(0.5, 3.0) on a 21x21 support (Real-ESRGAN's first-order
  blur draws sigma in [0.2, 3] with kernels up to 21; we raise the floor to 0.5 so every example
  is visibly blurred). 21 >= 6 * 3 + 1, so the largest Gaussian is not truncated noticeably.
* Camera-shake motion blur: random trajectories after Boracchi & Foi (2012) as implemented in
  DeblurGAN (Kupyn et al. 2018, ``motion_blur/generate_trajectory.py``: ``Trajectory(canvas=64,
  iters=2000, max_len=60, expl)``, expl drawn from {0.01, ..., 0.001}, PSF = the first 1/1000, 1/10, 1/2
  or all of the trajectory; we drop 1/1000, a near-delta, i.e. no blur). We keep its dynamics, iteration count and expl set, and scale the
  canvas to a 31x31 kernel (max_len 60/64 of the canvas -> 29 px). Trajectory points are
  splatted bilinearly (DeblurGAN's triangle function) and the kernel is normalised to sum 1.
  Unlike DeblurGAN, the kernel is placed with its centre of mass at the kernel centre (shifted
  only as far as needed to fit), so blurred and sharp images stay aligned on average.

``random_kernels`` / ``random_blur`` (what the pipeline uses) draw both kinds on one 31x31 support,
so a "mixed" batch has one kernel shape; "mixed" is Gaussian or motion with probability 1/2.

``blur`` is a true convolution (kernel flipped), per channel, with reflect padding (OpenCV's
BORDER_REFLECT_101, TF's "REFLECT") or "valid" (used by the training pipeline, which crops a
margin first so every blurred pixel sees real neighbours).
"""
import math

import tensorflow as tf

from errors import UserError

GAUSSIAN, MOTION = 0, 1  # kind ids recorded in random_blur's params
KINDS = {"gaussian": GAUSSIAN, "motion": MOTION}

GAUSSIAN_SIZE = 21
SIGMA_RANGE = (0.5, 3.0)
MOTION_SIZE = 31
MOTION_ITERS = 2000                                          # DeblurGAN / Boracchi & Foi
EXPL_CHOICES = (0.01, 0.009, 0.008, 0.007, 0.005, 0.003, 0.002, 0.001)  # DeblurGAN blur_image.py
EXPOSURE_CHOICES = (0.1, 0.5, 1.0)  # DeblurGAN PSF fractions, without 1/1000 (a near-delta)


def _seed(seed):
    return tf.cast(tf.convert_to_tensor(seed), tf.int64)


def _check_size(size):
    if int(size) < 1 or int(size) % 2 == 0:
        raise UserError(f"blur kernel size must be a positive odd number, got {size}")
    return int(size)


def gaussian_kernel(sigma, size=GAUSSIAN_SIZE):
    """Isotropic Gaussian, float32 [size, size], summing to 1 (= cv2.getGaussianKernel outer product)."""
    size = _check_size(size)
    sigma = tf.cast(sigma, tf.float32)
    x = tf.range(size, dtype=tf.float32) - (size - 1) / 2.0
    g = tf.exp(-(x * x) / (2.0 * sigma * sigma))
    g = g / tf.reduce_sum(g)
    return g[:, None] * g[None, :]


def random_gaussian_kernel(seed, size=GAUSSIAN_SIZE, sigma_range=SIGMA_RANGE, return_sigma=False):
    """Gaussian kernel with sigma ~ U(sigma_range) drawn from the stateless ``seed`` [2]."""
    sigma = tf.random.stateless_uniform([], _seed(seed), minval=sigma_range[0], maxval=sigma_range[1])
    kernel = gaussian_kernel(sigma, size)
    return (kernel, sigma) if return_sigma else kernel


def _trajectory_draws(seed, iters, expl, exposure):
    """All random numbers one trajectory needs, from its own seed (so batching cannot change them)."""
    s = tf.random.experimental.stateless_split(_seed(seed), num=6)
    u = tf.random.stateless_uniform([6], s[0])
    if expl is None:
        expl_v = tf.gather(tf.constant(EXPL_CHOICES, tf.float32),
                           tf.random.stateless_uniform([], s[1], 0, len(EXPL_CHOICES), tf.int32))
    else:
        expl_v = tf.constant(float(expl), tf.float32)
    if exposure is None:
        exposure_v = tf.gather(tf.constant(EXPOSURE_CHOICES, tf.float32),
                               tf.random.stateless_uniform([], s[2], 0, len(EXPOSURE_CHOICES), tf.int32))
    else:
        exposure_v = tf.constant(float(exposure), tf.float32)
    scalars = tf.stack([
        0.7 * u[0],                 # centripetal: pull back towards the start
        0.2 * u[1],                 # prob_big_shake (times expl per step)
        10.0 * u[2],                # gaussian_shake: random part of each new direction
        2.0 * math.pi * u[3],       # initial angle
        expl_v, exposure_v])
    shake_u = tf.random.stateless_uniform([iters - 1], s[3])    # big shake happens?
    angle_u = tf.random.stateless_uniform([iters - 1], s[4])    # its angle jitter
    noise = tf.random.stateless_normal([iters - 1, 2], s[5])    # Gaussian perturbation (re, im)
    return scalars, shake_u, angle_u, noise


@tf.function(reduce_retracing=True)  # python args (iters, ...) are trace constants
def _trajectories(seeds, iters, max_len, expl, exposure):
    """Boracchi & Foi / DeblurGAN random trajectories for N seeds at once -> points [N, iters, 2]
    (x, y) and the number of points each exposure uses [N]."""
    # The draws stay outside XLA: it would pick a different stateless RNG algorithm.
    scalars, shake_u, angle_u, noise = tf.map_fn(
        lambda s: _trajectory_draws(s, iters, expl, exposure), seeds,
        fn_output_signature=(tf.float32, tf.float32, tf.float32, tf.float32))
    points = _integrate(scalars, shake_u, angle_u, noise, max_len / (iters - 1))
    exposure_v = scalars[:, 5]
    used = tf.maximum(tf.cast(tf.round(exposure_v * iters), tf.int32), 2)
    return points, used


# XLA compiles the 2000-step recurrence into one loop: ~10x faster than TF's op-by-op while
# loop (91 -> ~900 mixed kernels/s at batch 12 on a 2-core CPU), which keeps paper E's tf.data
# ahead of its training step.
@tf.function(reduce_retracing=True, jit_compile=True)
def _integrate(scalars, shake_u, angle_u, noise, step):
    """DeblurGAN's Trajectory.fit recurrence, batched: draws -> points [N, iters, 2]."""
    centripetal, prob_big, gshake, angle, expl_v, _ = tf.unstack(scalars, axis=1)
    v0 = tf.stack([tf.cos(angle), tf.sin(angle)], axis=1)                     # [N, 2]
    v_init = tf.where((expl_v > 0)[:, None], v0 * expl_v[:, None], v0 * step)

    def body(state, elems):
        x, v = state
        su, au, n = elems                                                     # [N], [N], [N, 2]
        # Abrupt shake: 2 v rotated by pi + U(-1/2, 1/2), with probability prob_big * expl.
        phi = math.pi + (au - 0.5)
        rot = tf.stack([v[:, 0] * tf.cos(phi) - v[:, 1] * tf.sin(phi),
                        v[:, 0] * tf.sin(phi) + v[:, 1] * tf.cos(phi)], axis=1)
        big = tf.cast(su < prob_big * expl_v, tf.float32)[:, None]
        dv = big * 2.0 * rot + expl_v[:, None] * (gshake[:, None] * n - centripetal[:, None] * x) * step
        v = v + dv
        v = v / tf.maximum(tf.norm(v, axis=1, keepdims=True), 1e-12) * step   # constant speed
        return x + v, v

    elems = (tf.transpose(shake_u), tf.transpose(angle_u), tf.transpose(noise, [1, 0, 2]))
    x0 = tf.zeros_like(v_init)
    xs, _ = tf.scan(body, elems, initializer=(x0, v_init))                   # [iters-1, N, 2]
    points = tf.concat([x0[None], xs], axis=0)
    return tf.transpose(points, [1, 0, 2])


def _rasterise(points, used, size):
    """Bilinear splatting of the first ``used`` points of each trajectory into [N, size, size]
    kernels, centred by centre of mass (shifted only as far as needed to fit), summing to 1."""
    n, iters = tf.shape(points)[0], tf.shape(points)[1]
    w = tf.cast(tf.range(iters)[None, :] < used[:, None], tf.float32)        # [N, iters]
    wsum = tf.reduce_sum(w, axis=1, keepdims=True)
    centroid = tf.reduce_sum(points * w[..., None], axis=1) / wsum            # [N, 2]
    big = tf.constant(1e9, tf.float32)
    lo = tf.reduce_min(tf.where(w[..., None] > 0, points, big), axis=1)
    hi = tf.reduce_max(tf.where(w[..., None] > 0, points, -big), axis=1)
    centre = (size - 1) / 2.0
    shift = tf.clip_by_value(centre - centroid, -lo, (size - 1) - hi)         # fit if extent allows
    p = tf.clip_by_value(points + shift[:, None, :], 0.0, size - 1.0)
    f = tf.floor(p)
    frac = p - f
    i0 = tf.cast(f, tf.int32)
    i1 = tf.minimum(i0 + 1, size - 1)
    batch = tf.broadcast_to(tf.range(n)[:, None], [n, iters])
    kernel = tf.zeros([n, size, size], tf.float32)
    for dy, dx in ((0, 0), (0, 1), (1, 0), (1, 1)):
        xi = i1[..., 0] if dx else i0[..., 0]
        yi = i1[..., 1] if dy else i0[..., 1]
        wx = frac[..., 0] if dx else 1.0 - frac[..., 0]
        wy = frac[..., 1] if dy else 1.0 - frac[..., 1]
        idx = tf.reshape(tf.stack([batch, yi, xi], axis=-1), [-1, 3])        # kernel[row=y, col=x]
        kernel = tf.tensor_scatter_nd_add(kernel, idx, tf.reshape(w * wx * wy, [-1]))
    return kernel / tf.reduce_sum(kernel, axis=[1, 2], keepdims=True)


def motion_kernels(seeds, size=MOTION_SIZE, iters=MOTION_ITERS, max_len=None, expl=None, exposure=None):
    """Motion kernels for a batch of stateless seeds [N, 2] -> float32 [N, size, size].

    Kernel i depends only on seeds[i] (same as ``motion_kernel(seeds[i])``); the trajectory loop
    runs once for the whole batch, which is what makes it cheap enough for tf.data.
    ``max_len`` defaults to DeblurGAN's 60/64 of the canvas; expl/exposure None = drawn per kernel.
    """
    size = _check_size(size)
    if max_len is None:
        max_len = min(60.0 / 64.0 * size, size - 1.0)
    if max_len > size - 1:
        raise UserError(f"motion blur max_len {max_len} does not fit a {size}x{size} kernel: use "
                        f"max_len <= {size - 1}")
    points, used = _trajectories(_seed(seeds), int(iters), float(max_len), expl, exposure)
    return _rasterise(points, used, size)


def motion_kernel(seed, size=MOTION_SIZE, iters=MOTION_ITERS, max_len=None, expl=None, exposure=None):
    """One random camera-shake kernel [size, size] summing to 1, from the stateless ``seed`` [2]."""
    return motion_kernels(_seed(seed)[None], size, iters, max_len, expl, exposure)[0]


def blur(image, kernel, padding="reflect"):
    """Per-channel 2-D convolution of ``image`` with ``kernel``.

    image: float [H, W, C] or [B, H, W, C]; kernel: [k, k] (one for all) or [B, k, k] (one per
    example of a batch). padding "reflect" (BORDER_REFLECT_101) keeps the size; "valid" shrinks
    each side by k // 2.
    """
    image = tf.convert_to_tensor(image)
    dtype = image.dtype
    if not dtype.is_floating:
        raise UserError(f"blur needs a float image, got {dtype.name}: convert it with data.preprocess.to_float")
    x = tf.cast(image, tf.float32)
    kernel = tf.cast(tf.convert_to_tensor(kernel), tf.float32)
    single = x.shape.rank == 3
    if single:
        x = x[None]
    kernel = kernel[..., ::-1, ::-1]                  # convolution, not correlation
    k = kernel.shape[-1]
    if padding == "reflect":
        r = k // 2
        x = tf.pad(x, [[0, 0], [r, r], [r, r], [0, 0]], mode="REFLECT")
    elif padding != "valid":
        raise UserError(f"unknown blur padding {padding!r}: use 'reflect' or 'valid'")
    c = x.shape[-1] if x.shape[-1] is not None else tf.shape(x)[-1]
    if kernel.shape.rank == 2:
        filt = tf.tile(kernel[:, :, None, None], [1, 1, c, 1])
        y = tf.nn.depthwise_conv2d(x, filt, [1, 1, 1, 1], "VALID")
    else:
        # One kernel per example: fold the batch into channels and run one depthwise conv.
        b, hp, wp = tf.shape(x)[0], tf.shape(x)[1], tf.shape(x)[2]
        xc = tf.reshape(tf.transpose(x, [1, 2, 0, 3]), [1, hp, wp, b * c])
        filt = tf.repeat(tf.transpose(kernel, [1, 2, 0]), c, axis=2)[..., None]   # [k, k, B*C, 1]
        yc = tf.nn.depthwise_conv2d(xc, filt, [1, 1, 1, 1], "VALID")
        ho, wo = tf.shape(yc)[1], tf.shape(yc)[2]
        y = tf.transpose(tf.reshape(yc[0], [ho, wo, b, c]), [2, 0, 1, 3])
        y = tf.ensure_shape(y, [x.shape[0], None, None, x.shape[-1]])
    y = y[0] if single else y
    return tf.cast(y, dtype)


def random_kernels(seeds, kind="mixed", size=MOTION_SIZE, sigma_range=SIGMA_RANGE, **motion_kw):
    """Draw one blur kernel per stateless seed [N, 2] -> (kernels [N, size, size], params).

    params: dict(kind int32 [N] (0 Gaussian, 1 motion), sigma float32 [N] (0 for motion),
    kernel [N, size, size]). "mixed" picks Gaussian or motion with probability 1/2 each.
    Example i depends only on seeds[i].
    """
    if kind not in ("mixed", "gaussian", "motion"):
        raise UserError(f"unknown blur kind {kind!r}: use 'mixed', 'gaussian' or 'motion'")
    seeds = _seed(seeds)
    sub = tf.map_fn(lambda s: tf.random.experimental.stateless_split(s, num=3), seeds)  # [N, 3, 2]
    n = tf.shape(seeds)[0]
    if kind == "mixed":
        kind_id = tf.map_fn(lambda s: tf.random.stateless_uniform([], s, 0, 2, tf.int32), sub[:, 0],
                            fn_output_signature=tf.int32)
    else:
        kind_id = tf.fill([n], KINDS[kind])
    if kind in ("mixed", "gaussian"):
        gk, sigma = tf.map_fn(lambda s: random_gaussian_kernel(s, size, sigma_range, return_sigma=True),
                              sub[:, 1], fn_output_signature=(tf.float32, tf.float32))
    if kind in ("mixed", "motion"):
        mk = motion_kernels(sub[:, 2], size, **motion_kw)
    if kind == "gaussian":
        kernels = gk
    elif kind == "motion":
        kernels, sigma = mk, tf.zeros([n], tf.float32)
    else:
        is_g = tf.equal(kind_id, GAUSSIAN)
        kernels = tf.where(is_g[:, None, None], gk, mk)
        sigma = tf.where(is_g, sigma, 0.0)
    return kernels, dict(kind=kind_id, sigma=sigma, kernel=kernels)


def random_blur(seed, image, kind="mixed", size=MOTION_SIZE, sigma_range=SIGMA_RANGE,
                padding="reflect", **motion_kw):
    """Blur one image [H, W, C] with a kernel drawn from ``seed`` [2] -> (blurred, params).

    params records what was drawn (kind id, sigma, kernel) so an evaluation set can store its
    degradation. Same seed -> same kernel as ``random_kernels(seeds)`` gives for that seed.
    """
    kernels, params = random_kernels(_seed(seed)[None], kind, size, sigma_range, **motion_kw)
    params = {k: v[0] for k, v in params.items()}
    return blur(image, kernels[0], padding), params
