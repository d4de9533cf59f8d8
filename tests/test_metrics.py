"""metrics.py against scikit-image on real photographs, and hand-computed hole/batch cases."""
import math

import cv2
import numpy as np
import pytest
import skimage.data
import tensorflow as tf
from skimage.color import rgb2ycbcr
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

import metrics

SK_SSIM = dict(gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255)


def _distort(image, kind):
    if kind == "noise":
        noise = np.random.default_rng(0).normal(0, 15, image.shape)
        return np.clip(np.round(image + noise), 0, 255).astype(np.uint8)
    if kind == "blur":
        return cv2.GaussianBlur(image, (7, 7), 2.0)
    ok, encoded = cv2.imencode(".jpg", image[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 15])
    assert ok
    return cv2.imdecode(encoded, cv2.IMREAD_COLOR)[..., ::-1].copy()


PHOTOS = {name: getattr(skimage.data, name)() for name in ("astronaut", "coffee", "chelsea")}


@pytest.mark.parametrize("name", sorted(PHOTOS))
@pytest.mark.parametrize("kind", ["noise", "blur", "jpeg"])
def test_rgb_psnr_ssim_match_skimage(name, kind):
    a = PHOTOS[name]
    b = _distort(a, kind)
    expected_ssim = structural_similarity(a, b, channel_axis=-1, **SK_SSIM)
    assert 0.3 < expected_ssim < 0.99  # a real distortion, not a trivial pair
    assert metrics.ssim(a, b) == pytest.approx(expected_ssim, abs=1e-6)
    assert metrics.psnr(a, b) == pytest.approx(peak_signal_noise_ratio(a, b, data_range=255), abs=1e-6)


@pytest.mark.parametrize("name", ["astronaut", "chelsea"])
def test_y_channel_matches_skimage_rgb2ycbcr(name):
    a = PHOTOS[name]
    b = _distort(a, "jpeg")
    ya, yb = rgb2ycbcr(a)[..., 0], rgb2ycbcr(b)[..., 0]
    np.testing.assert_allclose(metrics.rgb_to_y(a).numpy()[..., 0], ya, atol=1e-9)
    assert 16.0 <= ya.min() and ya.max() <= 235.0
    assert metrics.psnr(a, b, y_channel=True) == pytest.approx(
        peak_signal_noise_ratio(ya, yb, data_range=255), abs=1e-6)
    assert metrics.ssim(a, b, y_channel=True) == pytest.approx(structural_similarity(ya, yb, **SK_SSIM), abs=1e-6)
    # a grey [H, W] image is accepted as one single-channel image
    assert metrics.ssim(ya, yb) == pytest.approx(metrics.ssim(a, b, y_channel=True), abs=1e-12)


def test_hole_psnr_by_hand():
    a = np.zeros((4, 4, 3), np.uint8)
    b = np.zeros((4, 4, 3), np.uint8)
    b[0, 0] = (3, 0, 0)
    b[1, 1] = (0, 6, 0)
    b[3, 3] = (100, 100, 100)  # a known pixel: must not count
    mask = np.zeros((4, 4, 1), np.float32)
    mask[0, 0] = mask[1, 1] = mask[2, 2] = 1.0
    # hole MSE = (3^2 + 6^2 + 0) / (3 pixels * 3 channels) = 45 / 9 = 5
    assert metrics.psnr(a, b, mask=mask) == pytest.approx(10 * math.log10(255.0 ** 2 / 5.0), abs=1e-9)
    # [H, W] and [1, H, W, 1] masks mean the same
    assert metrics.psnr(a, b, mask=mask[..., 0]) == pytest.approx(metrics.psnr(a, b, mask=mask[None]), abs=1e-12)
    # whole-image MSE = (45 + 3 * 100^2) / 48
    assert metrics.psnr(a, b) == pytest.approx(10 * math.log10(255.0 ** 2 * 48 / (45 + 30000)), abs=1e-9)


@pytest.mark.parametrize("where", ["inside", "border"])
def test_hole_ssim_is_mean_of_skimage_full_map_over_hole(where):
    a = PHOTOS["coffee"][100:228, 200:360]
    b = _distort(a, "noise")
    mask = np.zeros(a.shape[:2], np.float32)
    if where == "inside":
        mask[30:70, 40:100] = 1
    else:
        mask[0:20, 100:160] = 1  # touches the top and right borders
    _, full = structural_similarity(a, b, channel_axis=-1, full=True, **SK_SSIM)
    expected = full[mask > 0].mean()
    assert metrics.ssim(a, b, mask=mask) == pytest.approx(expected, abs=1e-6)
    assert metrics.ssim(a, b, mask=mask) != pytest.approx(metrics.ssim(a, b), abs=1e-3)


def test_crop_border():
    a = PHOTOS["astronaut"][:96, :120]
    b = _distort(a, "blur")
    c = 4
    assert metrics.psnr(a, b, crop_border=c) == pytest.approx(
        peak_signal_noise_ratio(a[c:-c, c:-c], b[c:-c, c:-c], data_range=255), abs=1e-6)
    assert metrics.ssim(a, b, crop_border=c) == pytest.approx(
        structural_similarity(a[c:-c, c:-c], b[c:-c, c:-c], channel_axis=-1, **SK_SSIM), abs=1e-6)
    only_border = a.copy()
    only_border[:c] = 0
    only_border[:, -c:] = 255
    assert metrics.psnr(a, only_border) < 40
    assert metrics.psnr(a, only_border, crop_border=c) == math.inf
    assert metrics.ssim(a, only_border, crop_border=c) == pytest.approx(1.0, abs=1e-12)


def test_batch_returns_per_image_values_not_psnr_of_mean_mse():
    base = PHOTOS["chelsea"][:64, :64]
    near = base.copy()
    near[0, 0, 0] ^= 1  # MSE = 1 / (64*64*3)
    far = _distort(base, "noise")
    a = np.stack([base, base])
    b = np.stack([near, far])
    values = metrics.psnr(a, b)
    assert values.shape == (2,)
    assert values[0] == pytest.approx(10 * math.log10(255.0 ** 2 * 64 * 64 * 3), abs=1e-9)
    assert values[1] == pytest.approx(peak_signal_noise_ratio(base, far, data_range=255), abs=1e-6)
    mse = [np.mean((x.astype(float) - y.astype(float)) ** 2) for x, y in zip(a, b)]
    psnr_of_mean_mse = 10 * math.log10(255.0 ** 2 / np.mean(mse))
    assert metrics.mean_psnr(a, b) == pytest.approx(values.mean(), abs=1e-9)
    assert abs(metrics.mean_psnr(a, b) - psnr_of_mean_mse) > 10
    s = metrics.ssim(a, b)
    assert s.shape == (2,)
    assert s[1] == pytest.approx(structural_similarity(base, far, channel_axis=-1, **SK_SSIM), abs=1e-6)
    assert metrics.mean_ssim(a, b) == pytest.approx(s.mean(), abs=1e-12)


def test_identical_inf_tensor_inputs_and_empty_hole():
    a = PHOTOS["astronaut"][:32, :32]
    assert metrics.psnr(a, a) == math.inf
    assert metrics.ssim(a, a) == pytest.approx(1.0, abs=1e-12)
    b = _distort(a, "noise")
    # tf tensors and float [0, 255] give the same values as uint8 numpy
    assert metrics.psnr(tf.constant(a, tf.float32), tf.constant(b)) == pytest.approx(metrics.psnr(a, b), abs=1e-9)
    assert metrics.ssim(a.astype(np.float32), tf.constant(b, tf.float32)) == pytest.approx(metrics.ssim(a, b), abs=1e-9)
    assert math.isnan(metrics.psnr(a, b, mask=np.zeros((32, 32, 1))))


def test_the_cpu_gaussian_filter_equals_tensorflows():
    """Eager on a CPU, SSIM's filter is OpenCV's; in a graph (or on a GPU) TensorFlow's depthwise
    convolution: the same values (float64) for grey and RGB batches, borders included."""
    g = metrics._gaussian_window()
    for shape in ((2, 37, 23, 3), (1, 16, 40, 1)):
        x = tf.constant(np.random.default_rng(0).uniform(0, 255, shape))
        eager = metrics._filter(x, g)
        graph = tf.function(metrics._filter)(x, g)
        assert eager.dtype == graph.dtype == tf.float64 and eager.shape == shape
        np.testing.assert_allclose(eager.numpy(), graph.numpy(), rtol=0, atol=1e-9)
