"""data/pipeline.py: batch contents, per-example seeds, resume equality, evaluation sets."""
import numpy as np
import pytest
import tensorflow as tf

from data import degrade
from data.masks import make_mask
from data.pipeline import _INPAINT, deblur_batches, eval_deblur_set, example_seed, inpainting_batches
from data.preprocess import center_crop, center_crop_resize, to_float, to_uint8
from errors import UserError

ITERS = 200  # shorter camera-shake trajectories keep these tests fast (default 2000)


class FakeSource:
    """A tiny in-memory ImageSource: n distinct textured images, stateless per-epoch shuffles."""

    name = "fake"

    def __init__(self, n=7, height=44, width=52):
        rng = np.random.default_rng(1)
        base = rng.integers(0, 256, (n, height // 4, width // 4, 3)).astype(np.float32)
        big = tf.image.resize(base, [height, width], method="bilinear").numpy()
        self.images = np.clip(big + rng.normal(0, 8, big.shape), 0, 255).astype(np.uint8)

    def __len__(self):
        return len(self.images)

    def order(self, shuffle_seed, epochs):
        n = len(self)
        if shuffle_seed is None:
            return np.tile(np.arange(n), epochs)
        return np.concatenate([np.random.default_rng([shuffle_seed, e]).permutation(n) for e in range(epochs)])

    def dataset(self, shuffle_seed=None, repeat=False, skip=0):
        order = self.order(shuffle_seed, 40 if repeat else 1)
        images = tf.constant(self.images)
        return tf.data.Dataset.from_tensor_slices(order).skip(skip).map(lambda i: tf.gather(images, i))


def _take(ds, n):
    return [{k: v.numpy() for k, v in b.items()} for b in ds.take(n)]


def _assert_same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x.keys() == y.keys()
        for k in x:
            np.testing.assert_array_equal(x[k], y[k], err_msg=k)


@pytest.fixture(scope="module")
def source():
    return FakeSource()


def test_inpainting_batches_shapes_ranges_and_images(source):
    batches = _take(inpainting_batches(source, 32, 3, "glcic", seed=5, shuffle=False,
                                       local=16, hole_min=6, hole_max=12), 3)
    b = batches[0]
    assert b["image"].shape == (3, 32, 32, 3) and b["image"].dtype == np.float32
    assert b["mask"].shape == (3, 32, 32, 1) and b["mask"].dtype == np.float32
    assert b["box"].shape == (3, 4) and b["box"].dtype == np.int32
    # Unshuffled: example j is source image j, centre-cropped and resized, in [-1, 1].
    for j in range(3):
        expect = to_float(center_crop_resize(source.images[j], 32)).numpy()
        np.testing.assert_array_equal(b["image"][j], expect)
    images = np.concatenate([x["image"] for x in batches])
    assert images.min() >= -1 and images.max() <= 1 and images.min() < -0.5 and images.max() > 0.5
    # Batch 2 wraps around the 7 images: examples 6, 7, 8 = images 6, 0, 1 (repeat=True).
    np.testing.assert_array_equal(batches[2]["image"][1], batches[0]["image"][0])


def test_masks_follow_the_example_seed_and_boxes_hold_the_holes(source):
    batches = _take(inpainting_batches(source, 32, 4, "glcic", seed=9, local=16, hole_min=6, hole_max=12), 2)
    base = tf.constant([9, _INPAINT], tf.int64)
    masks = np.concatenate([b["mask"] for b in batches])
    boxes = np.concatenate([b["box"] for b in batches])
    for i in range(8):
        s_mask = tf.random.experimental.stateless_split(example_seed(base, i), 2)[1]
        m, box = make_mask("glcic", s_mask, 32, 32, local=16, hole_min=6, hole_max=12)
        np.testing.assert_array_equal(masks[i], m.numpy())
        np.testing.assert_array_equal(boxes[i], box.numpy())
        top, left, h, w = boxes[i]
        inside = np.zeros((32, 32), bool)
        inside[top:top + h, left:left + w] = True
        assert set(np.unique(masks[i])) == {0.0, 1.0} and not masks[i][~inside].any()
    assert len({m.tobytes() for m in masks}) == 8                     # every example its own hole
    other = _take(inpainting_batches(source, 32, 4, "glcic", seed=10, local=16, hole_min=6, hole_max=12), 1)
    assert not np.array_equal(other[0]["mask"], batches[0]["mask"])


def test_same_seed_same_batches_and_shuffle_changes_the_order(source):
    make = lambda seed, shuffle: inpainting_batches(source, 24, 2, "rectangles", seed=seed, shuffle=shuffle,
                                                    resize="random_crop")
    a, b = _take(make(3, True), 4), _take(make(3, True), 4)
    _assert_same(a, b)
    unshuffled = _take(make(3, False), 4)
    assert any(not np.array_equal(x["image"], y["image"]) for x, y in zip(a, unshuffled))


@pytest.mark.parametrize("resize", ["crop", "random_crop"])
def test_resume_at_step_k_sees_the_batches_of_an_uninterrupted_run(source, resize):
    full = _take(inpainting_batches(source, 24, 3, "brush", seed=4, resize=resize), 6)
    resumed = _take(inpainting_batches(source, 24, 3, "brush", seed=4, resize=resize, start_step=4), 2)
    _assert_same(resumed, full[4:6])                  # crosses the epoch boundary at example 14


def test_deblur_batches_are_blurred_crops(source):
    batches = _take(deblur_batches(source, 12, 4, seed=2, blur_kind="gaussian", kernel_size=9, iters=ITERS), 2)
    b = batches[0]
    assert b["blurred"].shape == b["sharp"].shape == (4, 12, 12, 3)
    assert b["blurred"].dtype == b["sharp"].dtype == np.float32
    for x in batches:
        blurred, sharp = x["blurred"], x["sharp"]
        assert -1 <= blurred.min() and blurred.max() <= 1
        levels = (blurred + 1) * 127.5
        np.testing.assert_allclose(levels, np.round(levels), atol=1e-3)        # quantised to 8 bits
        # Smoother than the sharp crop, same mean brightness.
        tv = lambda a: np.abs(np.diff(a, axis=1)).mean() + np.abs(np.diff(a, axis=2)).mean()
        assert tv(blurred) < 0.8 * tv(sharp)
        assert np.abs(blurred.mean(axis=(1, 2, 3)) - sharp.mean(axis=(1, 2, 3))).max() < 0.05
    # Each sharp crop is a window of a source image (or of its mirror).
    for crop in b["sharp"]:
        u8 = to_uint8(crop).numpy()
        found = False
        for img in source.images:
            for ref in (img, img[:, ::-1]):
                windows = np.lib.stride_tricks.sliding_window_view(ref, (12, 12, 3))[..., 0, :, :, :]
                found |= bool((windows == u8).all(axis=(-3, -2, -1)).any())
        assert found


def test_deblur_blur_is_the_example_kernel_applied_with_real_neighbours(source):
    """Rebuild batch 0 by hand from the documented recipe: same numbers exactly."""
    (b,) = _take(deblur_batches(source, 10, 2, seed=6, blur_kind="motion", kernel_size=7, shuffle=False,
                                max_len=5.0, iters=ITERS), 1)
    from data.pipeline import _DEBLUR
    from data.preprocess import random_crop_flip
    base = tf.constant([6, _DEBLUR], tf.int64)
    for i in range(2):
        s_crop, s_blur = tf.unstack(tf.random.experimental.stateless_split(example_seed(base, i), 2))
        big = to_float(random_crop_flip(source.images[i], 16, s_crop))
        kernels, params = degrade.random_kernels(s_blur[None], "motion", 7, max_len=5.0, iters=ITERS)
        expect = to_float(to_uint8(degrade.blur(big, kernels[0], padding="valid")))
        np.testing.assert_allclose(b["blurred"][i], expect.numpy(), atol=1e-6)
        np.testing.assert_array_equal(b["sharp"][i], big.numpy()[3:13, 3:13])


def test_deblur_resume_equality(source):
    full = _take(deblur_batches(source, 12, 3, seed=8, kernel_size=9, iters=ITERS), 4)
    resumed = _take(deblur_batches(source, 12, 3, seed=8, kernel_size=9, start_step=2, iters=ITERS), 2)
    _assert_same(resumed, full[2:4])


def test_eval_deblur_set_is_fixed_and_records_its_kernels(source):
    first = list(eval_deblur_set(source, size=24, seed=0, n=3, kernel_size=9, iters=ITERS))
    again = list(eval_deblur_set(source, size=24, seed=0, n=3, kernel_size=9, iters=ITERS))
    assert len(first) == 3
    for i, (e, f) in enumerate(zip(first, again)):
        np.testing.assert_array_equal(e["blurred"].numpy(), f["blurred"].numpy())
        assert e["blurred"].dtype == e["sharp"].dtype == tf.uint8 and e["kernel"].shape == (9, 9)
        assert int(e["index"]) == i and int(e["kind"]) in (degrade.GAUSSIAN, degrade.MOTION)
        np.testing.assert_array_equal(e["sharp"].numpy(), center_crop(source.images[i], 24).numpy())
        redo = to_uint8(degrade.blur(to_float(e["sharp"]), e["kernel"]))
        np.testing.assert_array_equal(e["blurred"].numpy(), redo.numpy())
    other = list(eval_deblur_set(source, size=24, seed=1, n=3, kernel_size=9, iters=ITERS))
    assert any(not np.array_equal(e["kernel"].numpy(), o["kernel"].numpy()) for e, o in zip(first, other))
    whole = next(iter(eval_deblur_set(source, size=None, seed=0, n=1, kernel_size=9, iters=ITERS)))
    assert whole["sharp"].shape == source.images[0].shape
    np.testing.assert_array_equal(whole["sharp"].numpy(), source.images[0])


def test_bad_options_fail_before_training_starts(source):
    with pytest.raises(UserError, match="resize"):
        inpainting_batches(source, 32, 2, "center", seed=0, resize="zoom")
    with pytest.raises(UserError):
        inpainting_batches(source, 32, 2, "glcic", seed=0, local=64)          # local area > image
    with pytest.raises(UserError, match="blur kind"):
        deblur_batches(source, 12, 2, seed=0, blur_kind="lens")
    with pytest.raises(UserError, match="batch size"):
        deblur_batches(source, 12, 0, seed=0)


def test_real_source_with_stream_indices():
    """The shipped ImageSource (bundled photos) through both pipelines, resumed mid-way."""
    from data.sources import open_source

    src = open_source("samples")
    full = _take(inpainting_batches(src, 32, 2, "center", seed=1, resize="random_crop"), 3)
    resumed = _take(inpainting_batches(src, 32, 2, "center", seed=1, resize="random_crop", start_step=2), 1)
    _assert_same(resumed, full[2:3])
    np.testing.assert_array_equal(full[0]["mask"][0, 8:24, 8:24], 1.0)
    (b,) = _take(deblur_batches(src, 16, 2, seed=1, kernel_size=9, iters=ITERS), 1)
    assert b["blurred"].shape == (2, 16, 16, 3)


def test_deblur_sharp_fraction_leaves_that_share_unblurred(source):
    """--sharp-fraction (a demo-scale aid): about that share of examples has input = target, the
    others are exactly the plain recipe's; the default 0 is the plain recipe."""
    kw = dict(seed=2, kernel_size=9, iters=ITERS)
    plain = _take(deblur_batches(source, 12, 8, **kw), 4)
    _assert_same(_take(deblur_batches(source, 12, 8, sharp_fraction=0.0, scale_range=(1, 1), **kw), 4), plain)
    mixed = _take(deblur_batches(source, 12, 8, sharp_fraction=0.5, **kw), 4)
    kept = []
    for b, p in zip(mixed, plain):
        np.testing.assert_array_equal(b["sharp"], p["sharp"])
        for i in range(8):
            kept.append(np.array_equal(b["blurred"][i], b["sharp"][i]))
            np.testing.assert_array_equal(b["blurred"][i], b["sharp"][i] if kept[-1] else p["blurred"][i])
    assert 0.25 < np.mean(kept) < 0.75
    with pytest.raises(UserError, match="sharp fraction"):
        deblur_batches(source, 12, 2, sharp_fraction=1.0, **kw)


def test_deblur_scale_range_crops_at_other_scales(source):
    """--scale-range (a demo-scale aid): a crop at scale 0.5 is a 2x enlargement of a smaller
    window (smoother than the photo's own pixels), at 2 a reduction (busier); 8-bit, same shapes."""
    kw = dict(seed=3, kernel_size=9, iters=ITERS)
    tv = lambda a: np.abs(np.diff(a, axis=1)).mean() + np.abs(np.diff(a, axis=2)).mean()
    sharp = {s: np.concatenate([b["sharp"] for b in _take(deblur_batches(source, 12, 4, scale_range=(s, s), **kw), 3)])
             for s in (0.5, 1.0, 2.0)}
    assert all(v.shape == (12, 12, 12, 3) for v in sharp.values())
    levels = (sharp[0.5] + 1) * 127.5
    np.testing.assert_allclose(levels, np.round(levels), atol=1e-3)
    assert tv(sharp[0.5]) < 0.8 * tv(sharp[1.0]) and tv(sharp[2.0]) > 1.1 * tv(sharp[1.0])
    with pytest.raises(UserError, match="scale range"):
        deblur_batches(source, 12, 2, scale_range=(2.0, 1.0), **kw)
