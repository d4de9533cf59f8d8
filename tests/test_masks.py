"""Mask generators: exact geometry, statistics over many seeds, determinism, graph use, mask bank."""
import json
import os

import cv2
import numpy as np
import pytest
import tensorflow as tf

from data import masks as M
from data.evalsets import MaskBank
from errors import UserError

RANDOM_KINDS = ("glcic", "rectangles", "brush", "macroblock", "burst")


def bank(kind, n, size, seed=7, **kw):
    """n masks [n, size, size] as numpy, drawn in a Dataset.map like the pipeline does."""
    b = MaskBank.generate(kind, n, size, size, seed, **kw)
    return b.masks[..., 0], b.boxes


def np_bbox(m):
    rows, cols = np.nonzero(m)
    return [rows.min(), cols.min(), rows.max() - rows.min() + 1, cols.max() - cols.min() + 1]


@pytest.mark.parametrize("kind", M.KINDS)
def test_shape_dtype_binary_box_and_never_empty_or_full(kind):
    size = 128 if kind == "glcic" else 64
    masks, boxes = bank(kind, 40, size)
    assert masks.dtype == np.float32 and boxes.dtype == np.int32 and boxes.shape == (40, 4)
    assert set(np.unique(masks)) <= {0.0, 1.0}
    frac = masks.mean(axis=(1, 2))
    assert frac.min() > 0 and frac.max() < 1
    mask, box = M.make_mask(kind, tf.constant([1, 2], tf.int64), size, size)
    assert mask.shape == (size, size, 1) and mask.dtype == tf.float32
    assert box.shape == (4,) and box.dtype == tf.int32
    if kind != "glcic":                                  # box = the hole's bounding box
        for m, b in zip(masks, boxes):
            assert list(b) == np_bbox(m)


def test_center_square_exact_position():
    expect = np.zeros((128, 128), np.float32)
    expect[32:96, 32:96] = 1                             # paper D: 128 image, 64 side
    np.testing.assert_array_equal(M.center_square(128, 128, 64).numpy()[..., 0], expect)
    expect = np.zeros((64, 96), np.float32)
    expect[16:48, 32:64] = 1
    np.testing.assert_array_equal(M.center_square(64, 96, 32).numpy()[..., 0], expect)
    mask, box = M.make_mask("center", [0, 0], 64, 64)   # paper C default: half the side
    assert mask.numpy().sum() == 32 * 32 and list(box.numpy()) == [16, 16, 32, 32]


def test_glcic_hole_statistics():
    masks, boxes = bank("glcic", 400, 128, seed=11)
    assert (boxes[:, 2:] == 64).all() and (boxes[:, :2] >= 0).all() and (boxes[:, :2] <= 64).all()
    sides, tops, centred = [], [], 0
    for m, (t, l, h, w) in zip(masks, boxes):
        ht, hl, hh, hw = np_bbox(m)
        assert m.sum() == hh * hw                        # one solid rectangle
        assert t <= ht and ht + hh <= t + h and l <= hl and hl + hw <= l + w   # inside the local area
        # [paper] the local area is centred on the hole, clamped to the image
        for start, side, box_start in ((ht, hh, t), (hl, hw, l)):
            assert box_start == min(max(start + (side - 64) // 2, 0), 128 - 64)
        centred += (t, l) == (ht + (hh - 64) // 2, hl + (hw - 64) // 2)
        sides += [hh, hw]
        tops += [ht, hl]
    assert min(sides) == 24 and max(sides) == 48         # inclusive range, both ends reached
    assert abs(np.mean(sides) - 36) < 1.5
    assert min(tops) == 0 and max(tops) >= 128 - 30      # the hole is placed anywhere in the image
    assert abs(np.mean(tops) - (128 - 36) / 2) < 4       # uniform: mean of U[0, 128 - side]
    assert 0.3 < centred / len(masks) < 0.8              # about half need no clamping (0.7 per axis)


@pytest.mark.parametrize("kind", RANDOM_KINDS)
def test_same_seed_same_mask_other_seed_other_mask(kind):
    a = M.make_mask(kind, tf.constant([5, 9]), 128, 128)[0].numpy()
    b = M.make_mask(kind, tf.constant([5, 9], tf.int64), 128, 128)[0].numpy()   # dtype does not matter
    np.testing.assert_array_equal(a, b)
    others = [M.make_mask(kind, tf.constant([s, 9]), 128, 128)[0].numpy() for s in range(6, 10)]
    assert sum(not np.array_equal(a, o) for o in others) >= 3


@pytest.mark.parametrize("kind", M.KINDS)
def test_dataset_map_autotune_and_tf_function_match_eager(kind):
    size = 128 if kind == "glcic" else 64
    base = tf.constant([3, 4], tf.int64)
    seed_of = lambda i: M.example_seed(base, i)   # noqa: E731
    ds = tf.data.Dataset.range(6).map(lambda i: M.make_mask(kind, seed_of(i), size, size),
                                      num_parallel_calls=tf.data.AUTOTUNE)
    assert ds.element_spec[0].shape == (size, size, 1)   # static shape for batching
    fn = tf.function(lambda s: M.make_mask(kind, s, size, size),
                     input_signature=[tf.TensorSpec([2], tf.int64)])
    for i, (mask, box) in enumerate(ds):
        eager_mask, eager_box = M.make_mask(kind, seed_of(i), size, size)
        np.testing.assert_array_equal(mask.numpy(), eager_mask.numpy())
        np.testing.assert_array_equal(box.numpy(), eager_box.numpy())
        graph_mask, _ = fn(seed_of(i))
        np.testing.assert_array_equal(graph_mask.numpy(), eager_mask.numpy())


def test_random_rectangles_coverage_and_margin():
    masks, _ = bank("rectangles", 200, 64)
    frac = masks.mean(axis=(1, 2))
    assert 0.21 < frac.mean() < 0.30                    # measured 0.256 at 64x64 (defaults)
    border = np.ones((64, 64), bool)
    border[2:-2, 2:-2] = False                          # default margin at 64 = round(10 * 64/256) = 2
    assert not masks[:, border].any()
    assert masks[:, 2, :].any() and masks[:, -3, :].any()   # the margin is reached, not exceeded
    one, _ = bank("rectangles", 100, 64, count=1, min_side=10, max_side=20)
    for m in one:                                        # a single rectangle with sides in range
        t, l, h, w = np_bbox(m)
        assert m.sum() == h * w and 10 <= h <= 20 and 10 <= w <= 20


def test_segment_rasteriser_matches_brute_force_distance():
    p = tf.constant([[10.0, 20.0], [30.0, 5.0]])
    q = tf.constant([[40.0, 20.0], [30.0, 5.0]])        # second one is a dot (zero length)
    hole = M._segments_mask(48, 56, p, q, tf.constant([3.0, 2.0])).numpy()
    ys, xs = np.mgrid[:48, :56]
    t = np.clip((xs - 10) / 30.0, 0, 1)
    d1 = np.hypot(xs - (10 + 30 * t), ys - 20)
    d2 = np.hypot(xs - 30, ys - 5)
    np.testing.assert_array_equal(hole, (d1 <= 3) | (d2 <= 2))


def test_brush_strokes_coverage_and_connected_strokes():
    masks, _ = bank("brush", 200, 64)
    frac = masks.mean(axis=(1, 2))
    assert 0.15 < frac.mean() < 0.23                    # measured 0.189 at 64x64 (defaults)
    assert frac.std() > 0.02                            # random lengths, widths and counts
    single, _ = bank("brush", 30, 64, strokes=1)
    for m in single:                                     # one stroke = one 8-connected piece
        n_labels, _ = cv2.connectedComponents(m.astype(np.uint8), connectivity=8)
        assert n_labels == 2
    thin, _ = bank("brush", 30, 64, width_range=(1, 1.5))
    assert thin.mean() < 0.7 * frac.mean()              # width controls the area (measured ratio 0.49)


def test_macroblocks_aligned_blocks_and_rate():
    masks, _ = bank("macroblock", 200, 128)
    blocks = masks.reshape(200, 8, 16, 8, 16)
    assert (blocks.min(axis=(2, 4)) == blocks.max(axis=(2, 4))).all()   # whole aligned 16x16 blocks
    assert abs(masks.mean() - 0.25) < 0.02
    low, _ = bank("macroblock", 20, 128, rate=0.0)
    assert (low.sum(axis=(1, 2)) == 256).all()          # forced: exactly one lost block
    high, _ = bank("macroblock", 20, 128, rate=1.0)
    assert (high.sum(axis=(1, 2)) == 128 * 128 - 256).all()
    mask = M.macroblocks([1, 1], 40, 72, rate=0.5).numpy()[..., 0]     # partial edge blocks
    rows, cols = np.arange(40) // 16, np.arange(72) // 16
    grid = np.zeros((3, 5))
    grid[rows[:, None], cols[None, :]] = mask
    np.testing.assert_array_equal(mask, grid[rows][:, cols])


def raster_runs(mask, block=16):
    """Lost blocks in raster order -> list of (start, length) runs."""
    lost = mask[::block, ::block].reshape(-1) > 0
    runs, start = [], None
    for i, v in enumerate(list(lost) + [False]):
        if v and start is None:
            start = i
        if not v and start is not None:
            runs.append((start, i - start))
            start = None
    return runs


def test_burst_macroblocks_are_runs_in_raster_order():
    masks, _ = bank("burst", 200, 128)
    blocks = masks.reshape(200, 8, 16, 8, 16)
    assert (blocks.min(axis=(2, 4)) == blocks.max(axis=(2, 4))).all()
    wraps = 0
    for m in masks:
        runs = raster_runs(m)
        assert 1 <= len(runs) <= 3                     # at most `bursts` separate runs
        assert all(length >= 2 for _, length in runs)   # each run at least min run (merged runs longer)
        assert sum(length for _, length in runs) <= 3 * 8
        wraps += any(s // 8 != (s + length - 1) // 8 for s, length in runs)
    assert wraps > 10                                   # runs continue on the next block row
    count_one, _ = bank("burst", 50, 128, bursts=1, run=3)
    for m in count_one:
        assert len(raster_runs(m)) == 1 and raster_runs(m)[0][1] == 3
    crowded, _ = bank("burst", 50, 32, bursts=3, run=(3, 3))   # 4 blocks: runs could cover all
    assert (crowded.mean(axis=(1, 2)) < 1).all() and (crowded.mean(axis=(1, 2)) > 0).all()


def test_make_mask_rejects_unknown_kind_and_option():
    with pytest.raises(UserError) as e:
        M.make_mask("blob", [0, 0], 64, 64)
    assert "\n" not in str(e.value) and all(k in str(e.value) for k in M.KINDS)
    with pytest.raises(UserError, match="rate"):
        M.make_mask("burst", [0, 0], 64, 64, rate=0.3)
    with pytest.raises(UserError):
        M.make_mask("glcic", [0, 0], 128, 128, local=64, hole_min=50, hole_max=70)


def test_bank_round_trip_is_bit_identical(tmp_path):
    b = MaskBank.generate("brush", 6, 32, 48, seed=3)
    b.save(tmp_path)
    png = cv2.imread(str(tmp_path / "mask_00002.png"), cv2.IMREAD_UNCHANGED)
    assert png.shape == (32, 48) and png.dtype == np.uint8 and set(np.unique(png)) <= {0, 255}
    c = MaskBank.load(tmp_path)
    assert c.masks.dtype == np.float32 and c.masks.shape == (6, 32, 48, 1)
    assert c.masks.tobytes() == b.masks.tobytes() and c.boxes.tobytes() == b.boxes.tobytes()
    assert c.boxes.dtype == np.int32 and (c.kind, c.seed) == ("brush", [3, 0])
    kw = {"count": [1, 2], "min_side": 4}
    d = MaskBank.generate("rectangles", 3, 32, 32, seed=[1, 2], **kw)
    d.save(tmp_path)                                    # overwrite with a smaller bank
    e = MaskBank.load(tmp_path)
    assert len(e) == 3 and e.kwargs == kw and not (tmp_path / "mask_00005.png").exists()


def test_bank_mask_i_does_not_depend_on_n():
    small = MaskBank.generate("glcic", 3, 128, 128, seed=5)
    big = MaskBank.generate("glcic", 8, 128, 128, seed=5)
    np.testing.assert_array_equal(small.masks, big.masks[:3])
    np.testing.assert_array_equal(small.boxes, big.boxes[:3])
    assert len({m.tobytes() for m in big.masks}) == 8
    mask, box = M.make_mask("glcic", M.example_seed(5, 2), 128, 128)
    np.testing.assert_array_equal(mask.numpy(), big.masks[2])


def test_bank_load_detects_damage(tmp_path):
    MaskBank.generate("macroblock", 4, 64, 64, seed=1).save(tmp_path)
    manifest = tmp_path / "manifest.json"
    data = json.loads(manifest.read_text())

    def expect_user_error(text):
        with pytest.raises(UserError) as e:
            MaskBank.load(tmp_path)
        assert "\n" not in str(e.value) and text in str(e.value)

    png = tmp_path / "mask_00001.png"
    original = png.read_bytes()
    flipped = cv2.imread(str(png), cv2.IMREAD_UNCHANGED)
    flipped[0, 0] = 255 - flipped[0, 0]
    cv2.imwrite(str(png), flipped)                      # a valid PNG with one pixel changed
    expect_user_error("sha256")
    png.write_bytes(original)
    MaskBank.load(tmp_path)                            # restored: loads again
    manifest.write_text(json.dumps({**data, "boxes": [[0, 0, 1, 1]] * 4}))
    expect_user_error("sha256")
    os.remove(png)
    manifest.write_text(json.dumps(data))
    expect_user_error("missing")
    manifest.write_text("{not json")
    expect_user_error("unreadable")
    os.remove(manifest)
    expect_user_error("missing")


def test_interrupted_save_leaves_no_manifest_pointing_at_bad_files(tmp_path, monkeypatch):
    MaskBank.generate("center", 3, 32, 32, seed=0).save(tmp_path)
    new = MaskBank.generate("rectangles", 3, 32, 32, seed=1)
    import imagefiles
    real, calls = imagefiles._encode, []

    def failing(image, ext):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(image, ext)

    monkeypatch.setattr(imagefiles, "_encode", failing)
    with pytest.raises(KeyboardInterrupt):
        new.save(tmp_path)
    assert not (tmp_path / "manifest.json").exists() and not list(tmp_path.glob("*.tmp"))
    with pytest.raises(UserError, match="missing"):
        MaskBank.load(tmp_path)
