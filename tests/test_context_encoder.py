"""Paper D: Context-Encoder architecture, pasting, export, train script, stopping rule, damage CLI."""
import json
import math
import os
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

import damage
from bench.flops import forward_macs
import train_context_encoder as tce
from data.masks import make_mask
from errors import UserError, main_guard
from models import context_encoder as ce
from training.export import export_model

ROOT = Path(__file__).resolve().parents[1]


def _convs(model, kind):
    return [layer for layer in model.layers if type(layer) is kind]


# ----------------------------------------------------------------------------- architecture

def test_encoder_decoder_discriminator_at_paper_size():
    """Seed 1.1/1.2: six 4x4 stride-2 convs ending in 4000 features; six up-convs to 64x64x3."""
    enc, dec = ce.encoder(), ce.decoder()
    convs = _convs(enc, keras.layers.Conv2D)
    assert len(convs) == 6 and all(c.kernel_size == (4, 4) for c in convs)
    assert [c.strides for c in convs] == [(2, 2)] * 5 + [(1, 1)]
    assert [c.padding for c in convs] == ["same"] * 5 + ["valid"]
    assert [c.output.shape[1:] for c in convs] == [(64, 64, 64), (32, 32, 64), (16, 16, 128), (8, 8, 256),
                                                   (4, 4, 512), (1, 1, 4000)]
    assert not [layer for layer in enc.layers if "pool" in type(layer).__name__.lower()]   # no pooling
    assert enc.output.shape == (None, 4000)
    ups = _convs(dec, keras.layers.Conv2DTranspose)
    assert len(ups) == 6
    assert [u.output.shape[1:] for u in ups] == [(4, 4, 512), (8, 8, 512), (16, 16, 256), (32, 32, 128),
                                                 (64, 64, 64), (64, 64, 3)]
    assert dec.output.shape == (None, 64, 64, 3)
    full = ce.decoder(128)                                      # our macroblock extension: one more
    assert len(_convs(full, keras.layers.Conv2DTranspose)) == 7 and full.output.shape == (None, 128, 128, 3)
    disc = ce.region_discriminator()
    assert [c.output.shape[1:] for c in _convs(disc, keras.layers.Conv2D)] == [
        (32, 32, 64), (16, 16, 128), (8, 8, 256), (4, 4, 512), (1, 1, 1)]
    assert disc.output.shape == (None, 1)
    # the analytic cost the README's estimate is built on
    assert forward_macs(enc) == sum(o * o * 16 * i * c for o, i, c in
                                    [(64, 3, 64), (32, 64, 64), (16, 64, 128), (8, 128, 256), (4, 256, 512),
                                     (1, 512, 4000)])


def test_same_padding_is_the_seeds_padding_one():
    """A 4x4 stride-2 'same' conv on an even input equals an explicit 1-pixel pad + 'valid' conv."""
    enc = ce.encoder(16, width=2, bottleneck=8)
    conv = enc.get_layer("conv1")
    x = tf.random.stateless_normal([1, 16, 16, 3], [1, 2])
    explicit = tf.nn.conv2d(tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]]), conv.kernel, 2, "VALID") + conv.bias
    np.testing.assert_allclose(conv(x), explicit, atol=1e-5)


def test_image_size_check():
    assert ce.check_image_size(32) == 32
    for bad in (8, 48, 100):
        with pytest.raises(UserError, match="power of two"):
            ce.check_image_size(bad)


# ----------------------------------------------------------------------------- pasting and export

def _tiny(full, size=32):
    enc = ce.encoder(size, width=4, bottleneck=16)
    dec = ce.decoder(size if full else size // 2, width=4, bottleneck=16)
    return enc, dec, ce.inpainter(enc, dec, size, full_image=full)


def test_paste_keeps_everything_outside_the_centre():
    image = tf.random.stateless_uniform([2, 32, 32, 3], [3, 4], -1, 1)
    region = tf.random.stateless_uniform([2, 16, 16, 3], [5, 6], -1, 1)
    out = ce.paste_center(image, region).numpy()
    inside = ce.center_mask_like(image).numpy()[..., 0] > 0.5
    assert inside.sum() == 2 * 16 * 16 and inside[0, 8:24, 8:24].all()
    np.testing.assert_array_equal(out[~inside], image.numpy()[~inside])
    np.testing.assert_array_equal(out[:, 8:24, 8:24], region.numpy())
    # the exported centre inpainter: the rest of the output IS the input image, whatever the mask
    _, _, model = _tiny(full=False)
    mask = np.zeros([2, 32, 32, 1], np.float32)
    mask[:, 10:20, 12:18] = 1
    pred = model([image, tf.constant(mask)]).numpy()
    np.testing.assert_array_equal(pred[~inside], image.numpy()[~inside])
    assert np.abs(pred[inside] - image.numpy()[inside]).max() > 0


@pytest.mark.parametrize("full", [False, True])
def test_export_reloads_with_identical_outputs(tmp_path, full):
    _, _, model = _tiny(full)
    path = export_model(model, tmp_path / "export" / "inpainter.keras")
    loaded = keras.saving.load_model(path, compile=False)
    assert loaded is not model and [t.shape for t in loaded.inputs] == [(None, 32, 32, 3), (None, 32, 32, 1)]
    x = tf.random.stateless_uniform([2, 32, 32, 3], [7, 8], -1, 1)
    m = tf.cast(tf.random.stateless_uniform([2, 32, 32, 1], [9, 9]) < 0.3, tf.float32)
    np.testing.assert_array_equal(loaded([x, m]), model([x, m]))
    # hole content does not matter: the model fills it white itself
    if not full:   # the centre model rebuilds the centre; elsewhere it returns its input as is
        m = m * ce.center_mask_like(x)
    np.testing.assert_array_equal(loaded([tf.where(m > 0, 0.3, x), m]), model([x, m]))


# ----------------------------------------------------------------------------- the train step

def _smooth_batch(n=4, size=32):
    """Smooth synthetic images (a learnable fixed batch): colour ramps with a seed per example."""
    yy, xx = np.mgrid[0:size, 0:size] / (size - 1)
    rng = np.random.default_rng(0)
    imgs = [np.stack([np.sin(a * xx + b * yy + c) for a, b, c in rng.uniform(0, 3, (3, 3))], -1) for _ in range(n)]
    image = tf.constant(np.stack(imgs) * 0.8, tf.float32)
    mask = tf.repeat(make_mask("center", 0, size, size)[0][None], n, axis=0)
    return {"image": image, "mask": mask}


def test_loss_decreases_on_a_fixed_batch():
    keras.utils.set_random_seed(0)
    enc, dec = ce.encoder(32, width=4, bottleneck=32), ce.decoder(16, width=4, bottleneck=32)
    disc = ce.region_discriminator(16, width=4)
    g_opt, d_opt = keras.optimizers.Adam(1e-3, beta_1=0.5), keras.optimizers.Adam(1e-3, beta_1=0.5)
    g_opt.build(enc.trainable_variables + dec.trainable_variables)    # as the Checkpointer does: one trace
    d_opt.build(disc.trainable_variables)
    step = tf.function(tce.make_train_step(enc, dec, disc, g_opt, d_opt, full_image=False))
    batch = _smooth_batch()
    rec = [float(step(batch)["l_rec"]) for _ in range(20)]
    assert all(map(math.isfinite, rec))
    assert np.mean(rec[-5:]) < 0.5 * np.mean(rec[:3]), rec


def test_full_image_step_scores_hole_pixels_only():
    """Macroblock variant: l_rec is the MSE over hole pixels; a perfect hole gives 0 whatever
    the prediction does on known pixels (the composite keeps them)."""
    enc, dec = ce.encoder(32, width=4, bottleneck=8), ce.decoder(32, width=4, bottleneck=8)
    opt = keras.optimizers.Adam(0.0)                       # lr 0: just read the loss
    batch = {"image": tf.zeros([2, 32, 32, 3]), "mask": tf.repeat(make_mask("macroblock", 1, 32, 32, block=8)[0][None], 2, 0)}
    l_rec = tce.make_train_step(enc, dec, None, opt, None, full_image=True)(batch)["l_rec"]
    pred = dec(enc(ce.fill_holes(batch["image"], batch["mask"]), training=True), training=True)
    m = batch["mask"].numpy()[..., 0] > 0.5
    np.testing.assert_allclose(float(l_rec), np.mean(np.square(pred.numpy()[m])), rtol=1e-4)


# ----------------------------------------------------------------------------- stopping rule

RULE = dict(band=(0.005, 0.0055), smoothing=0.9, every=10, patience=5)


def test_band_rule_fires_when_the_loss_settles_in_the_band():
    steps = np.arange(1, 3001)
    settles = 0.0052 + 0.05 * np.exp(-steps / 200)                 # converges inside the band
    hit = tce.band_stop_step(settles, **RULE)
    # the raw curve enters the band at step 1024; the EMA a few steps later; then 5 checks, 10 apart
    assert hit is not None and hit % 10 == 0 and 1024 + 40 <= hit <= 1024 + 80, hit
    noisy = settles * (1 + 0.02 * np.random.default_rng(0).standard_normal(steps.size))
    assert tce.band_stop_step(noisy, **RULE) is not None           # the EMA rides out the noise


def test_band_rule_ignores_a_curve_that_passes_through_or_stays_outside():
    steps = np.arange(1, 3001)
    passes = 0.003 + 0.05 * np.exp(-steps / 100)                   # crosses the band in ~10 steps, on to 0.003
    assert tce.band_stop_step(passes, **RULE) is None
    assert tce.band_stop_step(np.full(3000, 0.02), **RULE) is None
    assert tce.band_stop_step(np.full(3000, 0.0052), **{**RULE, "patience": 0}) is None   # disabled
    bounce = np.where((steps // 30) % 2 == 0, 0.0052, 0.02)         # in and out: the streak resets
    assert tce.band_stop_step(bounce, **{**RULE, "smoothing": 0.0}) is None


# ----------------------------------------------------------------------------- the train script

def _train(tmp_path, name, *extra):
    return tce.main(["--smoke", "--run-dir", str(tmp_path / name), *extra])


def test_smoke_runs_with_and_without_the_adversarial_term(tmp_path, capsys):
    assert _train(tmp_path, "adv") == 0
    out = capsys.readouterr().out
    assert "l_adv" in out and "d_loss" in out and "stopped: reached --steps 3" in out
    assert (tmp_path / "adv" / "export" / "inpainter.keras").is_file()
    assert '"paper": "D"' in (tmp_path / "adv" / "config.json").read_text()
    assert _train(tmp_path, "rec", "--rec-only", "--mask", "burst") == 0
    out = capsys.readouterr().out
    assert "l_rec" in out and "l_adv" not in out
    model = keras.saving.load_model(tmp_path / "rec" / "export" / "inpainter.keras", compile=False)
    assert model.output.shape == (None, 32, 32, 3)


@pytest.mark.parametrize("argv, rates", [([], (0.001, 0.001)),                       # the paper: one rate
                                          (["--d-lr", "1e-4"], (0.001, 0.0001))])   # the demo's aid (Pathak)
def test_the_discriminator_learns_at_the_papers_rate_unless_told(tmp_path, capsys, argv, rates):
    """The seed gives one rate, 0.001, for both networks; --d-lr 1e-4 (the demo's aid, issue 19) is
    Pathak's ratio (train.lua gives G 10x D's rate when l_rec and l_adv are combined)."""
    code = tce.main(["--smoke", "--run-dir", str(tmp_path), "--print-config", *argv])
    assert code == 0 and json.loads(capsys.readouterr().out)["d_lr"] == rates[1]
    args = tce.flags.parse(tce.build_parser(), ["--smoke", "--run-dir", str(tmp_path), "--d-lr", str(rates[1])],
                           smoke=tce.SMOKE)
    recipe = tce.build(args, tf.distribute.get_strategy())
    g_opt, d_opt = recipe.optimizers["g_opt"][0], recipe.optimizers["d_opt"][0]
    assert np.allclose([float(g_opt.learning_rate), float(d_opt.learning_rate)], rates, rtol=1e-6)


def test_glcic_holes_train_the_full_image_variant_for_table_a(tmp_path, capsys):
    """--mask glcic: paper A's holes (GLCIC sides scaled to the image), full-image decoder, so paper A's
    "Context Encoder" row can fill holes anywhere, not only the centre square."""
    assert _train(tmp_path, "glcic", "--rec-only", "--mask", "glcic", "--first", "8") == 0
    model = keras.saving.load_model(tmp_path / "glcic" / "export" / "inpainter.keras", compile=False)
    assert model.output.shape == (None, 32, 32, 3)
    config = json.loads((tmp_path / "glcic" / "config.json").read_text())
    assert config["mask"] == "glcic" and config["first"] == 8


def test_script_stops_when_the_loss_settles_and_resumes_settled(tmp_path, capsys):
    argv = ["--steps", "6", "--band", "0", "10", "--band-patience", "2", "--mask", "macroblock", "--rec-only"]
    assert _train(tmp_path, "band", *argv) == 0
    assert "stopped: loss settled in [0, 10] at step 2" in capsys.readouterr().out
    assert sorted(p.name for p in (tmp_path / "band" / "ckpt").glob("*.index")) == ["ckpt-2.index"]
    assert _train(tmp_path, "band", "--steps", "6") == 0            # rerun: already settled
    assert "at step 2 (earlier)" in capsys.readouterr().out
    assert _train(tmp_path, "band", "--steps", "4", "--band-patience", "0") == 0
    assert "stopped: reached --steps 4" in capsys.readouterr().out


def test_script_user_errors(tmp_path, capsys):
    guarded = main_guard(tce.main)
    for argv, text in [([], "100,000 random Open Images photos"),
                       (["--smoke", "--image-size", "48"], "power of two"),
                       (["--smoke", "--mask", "macroblock", "--block", "5"], "must divide")]:
        with pytest.raises(SystemExit) as e:
            guarded(["--run-dir", str(tmp_path / "err"), *argv])
        assert e.value.code == 2
        err = capsys.readouterr().err.strip()
        assert text in err and "\n" not in err
    assert not (tmp_path / "err").exists()                         # no config.json left behind


# ----------------------------------------------------------------------------- transmission damage

def test_macroblock_and_burst_masks_are_block_aligned():
    block, size = 16, 128
    cover = []
    for seed in range(40):
        for kind in ("macroblock", "burst"):
            kw = dict(block=block, rate=0.25) if kind == "macroblock" else dict(block=block)
            m = make_mask(kind, seed, size, size, **kw)[0].numpy()[..., 0]
            blocks = m.reshape(size // block, block, size // block, block)
            assert (blocks.min(axis=(1, 3)) == blocks.max(axis=(1, 3))).all()      # whole blocks only
            lost = blocks[:, 0, :, 0].reshape(-1) > 0.5
            assert 0 < lost.sum() < lost.size
            if kind == "macroblock":
                cover.append(lost.mean())
            else:                                                  # runs in raster order, >= 2 blocks
                runs = np.diff(np.flatnonzero(np.diff(np.r_[0, lost.astype(int), 0])))[::2]
                assert runs.min() >= 2 and lost.sum() <= 3 * size // block
    assert 0.2 < np.mean(cover) < 0.3                               # rate 0.25


def _sample_photo():
    import skimage.data
    return os.path.join(skimage.data.data_dir, "chelsea.png")


def test_damage_cli_end_to_end(tmp_path, capsys):
    out = tmp_path / "damaged.png"
    assert damage.main(["--image", _sample_photo(), "--kind", "burst", "--seed", "3", "--resize", "128",
                        "--out", str(out)]) == 0
    assert "inpaint.py" in capsys.readouterr().out
    damaged = damage.read_image(out)
    mask = damage.read_image(tmp_path / "damaged_mask.png")[..., 0]
    assert damaged.shape == (128, 128, 3) and set(np.unique(mask)) == {0, 255}
    hole = mask == 255
    assert (damaged[hole] == 255).all()
    from data.preprocess import center_crop_resize
    original = center_crop_resize(damage.read_image(_sample_photo()), 128).numpy()
    np.testing.assert_array_equal(damaged[~hole], original[~hole])
    blocks = hole.reshape(8, 16, 8, 16)
    assert (blocks.all(axis=(1, 3)) == blocks.any(axis=(1, 3))).all()
    guarded = main_guard(damage.main)
    for argv, text in [(["--image", str(tmp_path / "none.png")], "no image at"),
                       (["--image", str(tmp_path / "damaged_mask.png"), "--out", str(tmp_path / "x.jpg")], ".png"),
                       (["--image", __file__], "cannot read")]:
        argv = argv if "--out" in argv else [*argv, "--out", str(tmp_path / "y.png")]
        with pytest.raises(SystemExit) as e:
            guarded(argv)
        assert e.value.code == 2
        err = capsys.readouterr().err.strip()
        assert text in err and "\n" not in err


@pytest.mark.skipif(not (ROOT / "inpaint.py").exists(), reason="inpaint.py (paper A helper) not written yet")
def test_damage_then_repair_with_inpaint_py(tmp_path):
    """The transmission-error use case end to end: damage.py -> a trained run -> inpaint.py."""
    import subprocess
    import sys
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "2"}
    _, _, model = _tiny(full=True)                                  # a run directory as training leaves it
    export_model(model, tmp_path / "mb" / "export" / "inpainter.keras")
    (tmp_path / "mb" / "config.json").write_text('{"paper": "D"}')
    assert damage.main(["--image", _sample_photo(), "--kind", "macroblock", "--resize", "64", "--block", "8",
                        "--out", str(tmp_path / "d.png")]) == 0
    repaired = tmp_path / "r.png"
    done = subprocess.run([sys.executable, str(ROOT / "inpaint.py"), "--model", str(tmp_path / "mb"),
                           "--image", str(tmp_path / "d.png"), "--mask", str(tmp_path / "d_mask.png"),
                           "--out", str(repaired)], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    fixed = damage.read_image(repaired)
    damaged = damage.read_image(tmp_path / "d.png")
    hole = damage.read_image(tmp_path / "d_mask.png")[..., 0] == 255
    assert fixed.shape == damaged.shape
    np.testing.assert_array_equal(fixed[~hole], damaged[~hole])


def test_residual_decoder_starts_at_the_mean_fill_and_exports_the_same(tmp_path):
    """The demo's aid for paper D (--residual, issue 25; off in the paper): an untrained G predicts,
    in the centre square, exactly the per-channel mean of the context's pixels (the tables' "mean
    fill"); the training step's prediction (ce.predict) and the exported inpainter agree, and the
    exported file loads with its custom layers."""
    rng = np.random.default_rng(0)
    assert ce.RESIDUAL is False
    enc, dec = ce.encoder(32, width=4, bottleneck=16), ce.decoder(16, width=4, bottleneck=16, residual=True)
    image = rng.uniform(-0.9, 0.9, (2, 32, 32, 3)).astype(np.float32)
    mask = np.asarray(ce.center_mask_like(image))
    pred = np.asarray(ce.predict(enc, dec, image, mask, full_image=False, residual=True))
    for b in range(2):
        context = image[b][mask[b, ..., 0] < 0.5].mean(axis=0)
        np.testing.assert_allclose(pred[b], np.broadcast_to(context, pred[b].shape), atol=1e-5)
    # a trained correction: the prediction moves off the mean fill, the same in step and export
    last = _convs(dec, keras.layers.Conv2DTranspose)[-1]
    assert not np.any(np.asarray(last.kernel))                   # zero-initialised
    last.kernel.assign(rng.normal(0, 0.05, last.kernel.shape).astype(np.float32))
    pred = np.asarray(ce.predict(enc, dec, image, mask, full_image=False, residual=True))
    full = np.asarray(ce.inpainter(enc, dec, 32, residual=True)([image, mask]))
    np.testing.assert_allclose(np.asarray(ce.center_region(full, 16)), pred, atol=1e-5)
    path = export_model(ce.inpainter(enc, dec, 32, residual=True), tmp_path / "inpainter.keras")
    np.testing.assert_allclose(np.asarray(keras.models.load_model(path)([image, mask])), full, atol=1e-5)
    base = np.asarray(ce.mean_fill_base(image, mask, 16))
    moved = np.asarray(ce.predict(enc, dec, image, mask, False, residual=True, training=True))   # batch-normalised
    assert np.abs(moved - base).max() > 1e-2                      # off the mean fill by the correction
    correction = np.asarray(dec(enc(ce.fill_holes(image, mask), training=True), training=True))
    np.testing.assert_allclose(moved, np.clip(base + correction, -1, 1), atol=1e-5)
