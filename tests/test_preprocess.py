"""data/preprocess.py on real photographs: crops, resizes, the uint8 <-> [-1, 1] round trip."""
import cv2
import numpy as np
import pytest
import skimage.data
import tensorflow as tf

from data.preprocess import (center_crop, center_crop_resize, color_jitter, random_crop_flip, stretch_resize, to_float,
                             to_uint8)
from errors import UserError


@pytest.fixture(scope="module")
def celeba_like():
    """A real photo at CelebA's aligned size, 218 rows x 178 columns."""
    return np.ascontiguousarray(skimage.data.astronaut()[40:258, 150:328])


def test_to_uint8_inverts_to_float_for_all_256_values():
    x = np.arange(256, dtype=np.uint8)
    f = to_float(x).numpy()
    assert f.dtype == np.float32 and f.min() == -1.0 and f.max() == 1.0
    np.testing.assert_array_equal(to_uint8(f).numpy(), x)


def test_to_uint8_rounds_and_clips_instead_of_truncating():
    levels = np.array([10.4, 10.6, 254.7, 0.3, -40.0, 300.0], np.float32)
    out = to_uint8(levels / 127.5 - 1.0).numpy()
    np.testing.assert_array_equal(out, [10, 11, 255, 0, 0, 255])
    x = np.random.default_rng(0).uniform(-1, 1, 10_000).astype(np.float32)
    err = to_uint8(x).numpy().astype(np.float64) - (x.astype(np.float64) + 1) * 127.5
    assert np.abs(err).max() <= 0.5 + 1e-4          # truncation would be off by up to 1
    assert abs(err.mean()) < 0.02                   # and biased by -0.5


def test_center_crop_resize_takes_the_centred_square(celeba_like):
    # Resizing to the crop's own size is the identity: the output is exactly rows 20..197.
    np.testing.assert_array_equal(center_crop_resize(celeba_like, 178).numpy(), celeba_like[20:198])
    wide = np.ascontiguousarray(np.transpose(celeba_like, (1, 0, 2)))          # 178 x 218
    np.testing.assert_array_equal(center_crop_resize(wide, 178).numpy(), wide[:, 20:198])


def test_center_crop_resize_matches_opencv_area_resize(celeba_like):
    out = center_crop_resize(celeba_like, 128).numpy()
    assert out.shape == (128, 128, 3) and out.dtype == np.uint8
    ref = cv2.resize(celeba_like[20:198], (128, 128), interpolation=cv2.INTER_AREA)
    diff = np.abs(out.astype(np.int32) - ref)
    assert diff.mean() < 1.5 and np.percentile(diff, 99) <= 12


def test_stretch_resize_resizes_the_whole_image(celeba_like):
    out = stretch_resize(celeba_like, 128).numpy()
    ref = cv2.resize(celeba_like, (128, 128), interpolation=cv2.INTER_AREA)
    assert out.shape == (128, 128, 3)
    assert np.abs(out.astype(np.int32) - ref).mean() < 1.5
    # Differs from the centre crop: the stretched face is squashed vertically.
    assert np.abs(out.astype(np.int32) - center_crop_resize(celeba_like, 128).numpy()).mean() > 5


def test_resizing_a_constant_image_keeps_it_constant():
    image = np.full((218, 178, 3), 137, np.uint8)
    assert np.all(center_crop_resize(image, 128).numpy() == 137)
    assert np.all(stretch_resize(image, 50).numpy() == 137)


def test_center_crop_without_resize():
    image = skimage.data.chelsea()                                              # 300 x 451
    np.testing.assert_array_equal(center_crop(image, 100).numpy(), image[100:200, 175:275])


def _locate(crop, image):
    """(top, left, flipped) of a crop inside image, by exhaustive comparison."""
    size = crop.shape[0]
    for flipped, ref in ((False, image), (True, image[:, ::-1])):
        for top in range(image.shape[0] - size + 1):
            for left in range(image.shape[1] - size + 1):
                if np.array_equal(ref[top:top + size, left:left + size], crop):
                    return top, left, flipped
    raise AssertionError("crop is not a window of the image or its mirror")


def test_random_crop_flip_is_a_seeded_window_and_flips_half_the_time():
    image = np.ascontiguousarray(skimage.data.astronaut()[100:140, 200:248])    # 40 x 48, textured
    fn = tf.function(lambda s: random_crop_flip(image, 32, s))
    seeds = [tf.constant([s, 7], tf.int64) for s in range(200)]
    crops = [fn(s).numpy() for s in seeds]
    np.testing.assert_array_equal(fn(seeds[3]).numpy(), crops[3])                # same seed, same crop
    places = [_locate(c, image) for c in crops[:40]]
    tops = {p[0] for p in places}
    lefts = {p[1] for p in places}
    assert len(tops) >= 5 and len(lefts) >= 8 and max(tops) <= 8 and max(lefts) <= 16
    flips = sum(_locate(c, image)[2] for c in crops)
    assert 70 <= flips <= 130                     # Binomial(200, 1/2): +-4.2 sigma


def test_random_crop_of_a_small_image_is_a_clear_error():
    small = np.zeros((20, 30, 3), np.uint8)
    with pytest.raises(UserError, match="smaller than the 24x24 crop"):
        random_crop_flip(small, 24, [0, 0])
    # Inside tf.data the size is unknown when the graph is built: the error names the fix at run time.
    ds = tf.data.Dataset.from_generator(lambda: iter([small]),
                                        output_signature=tf.TensorSpec([None, None, 3], tf.uint8))
    ds = ds.map(lambda im: random_crop_flip(im, 24, tf.constant([0, 0], tf.int64)))
    with pytest.raises(tf.errors.InvalidArgumentError, match="smaller than the 24x24 random crop"):
        next(iter(ds))


def test_an_image_already_at_the_size_skips_a_resize_that_would_not_change_it():
    import numpy as np
    import tensorflow as tf
    from data.preprocess import _round_uint8, center_crop_resize, stretch_resize
    img = tf.constant(np.random.default_rng(0).integers(0, 256, (24, 24, 3)), tf.uint8)
    for method in ("bilinear", "bicubic"):
        resized = _round_uint8(tf.image.resize(tf.cast(img, tf.float32), [24, 24], method, antialias=True))
        np.testing.assert_array_equal(resized.numpy(), img.numpy())          # the shortcut is exact
        np.testing.assert_array_equal(center_crop_resize(img, 24, method).numpy(), img.numpy())
    assert stretch_resize(img, 12).shape == (12, 12, 3)


def test_color_jitter_is_a_seeded_affine_colour_map_per_image():
    """The demo's --color-jitter (issue 25): one random map per image, the same for a seed: channels
    permuted, maybe inverted, contrast about the mean and brightness, clipped to [-1, 1]. A map
    that keeps each channel's pixel order (or reverses it all) and keeps a flat image flat."""
    rng = np.random.default_rng(0)
    x = tf.constant(rng.uniform(-0.4, 0.4, (16, 16, 3)), tf.float32)      # no clipping
    a = color_jitter(x, tf.constant([3, 4], tf.int64)).numpy()
    np.testing.assert_array_equal(a, color_jitter(x, tf.constant([3, 4], tf.int64)).numpy())
    assert a.min() >= -1 and a.max() <= 1 and not np.allclose(a, x.numpy())
    maps = set()
    for s in range(40):
        y = color_jitter(x, tf.constant([s, 1], tf.int64)).numpy()
        order = []
        for c in range(3):          # each output channel is an increasing or decreasing map of one input channel
            src = [k for k in range(3) if abs(np.corrcoef(y[..., c].ravel(), x.numpy()[..., k].ravel())[0, 1]) > 0.999]
            assert len(src) == 1
            order.append(src[0])
        sign = np.sign(np.corrcoef(y[..., 0].ravel(), x.numpy()[..., order[0]].ravel())[0, 1])
        maps.add((tuple(order), sign))
        assert sorted(order) == [0, 1, 2]
    assert len(maps) >= 8          # many of the 6 orders x 2 signs occur
    flat = color_jitter(tf.fill([8, 8, 3], 0.2), tf.constant([5, 6], tf.int64)).numpy()
    assert np.ptp(flat) < 1e-6
