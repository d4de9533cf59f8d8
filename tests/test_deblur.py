"""Paper E: generator variants and discriminator, the loss composition, the shared-step learning-rate
schedule, two D updates per G update, a smoke run of every variant, the fixed evaluation set."""
import json

import keras
import numpy as np
import pytest
import tensorflow as tf

import evaluate
import train_deblur as T
from data.evalsets import load_deblur_set
from errors import UserError
from evaluation.table_e import deblur_scores
from losses import perceptual
from models import deblur


pytestmark = pytest.mark.usefixtures("fast_graphs")   # tests/conftest.py


def _layers(model, cls):
    return [layer for layer in model.layers if isinstance(layer, cls)]


# ------------------------------------------------------------------------- architecture
@pytest.mark.parametrize("variant", deblur.VARIANTS)
def test_generator_variants_structure(variant):
    G = deblur.generator(variant, filters=8)
    bns = _layers(G, keras.layers.BatchNormalization)
    adds = _layers(G, keras.layers.Add)
    if variant == "res_bn":                              # ResG: BN in every block and after the post conv
        assert len(bns) == 2 * deblur.BLOCKS + 1
    else:                                                # StackedG and NonBN-ResG: none
        assert bns == []
    if variant == "stacked":                             # plain stack: no skip connection at all
        assert adds == []
    else:                                                # 5 block identities + the global skip
        assert len(adds) == deblur.BLOCKS + 1
        block_in = G.get_layer("block1_add").input
        assert block_in[0] is G.get_layer("head_prelu").output       # identity of block 1
        assert G.get_layer("block2_add").input[0] is G.get_layer("block1_add").output
        assert G.get_layer("global_skip").input[0] is G.get_layer("head_prelu").output
    prelus = _layers(G, keras.layers.PReLU)
    assert prelus and all(tuple(p.shared_axes) == (1, 2) and tuple(p.alpha.shape) == (1, 1, 8) for p in prelus)
    convs = _layers(G, keras.layers.Conv2D)
    assert all(c.padding == "same" and c.strides == (1, 1) for c in convs)
    assert len(convs) == 2 * deblur.BLOCKS + 3
    assert not [layer for layer in G.layers if "pool" in type(layer).__name__.lower()]
    for h, w in ((16, 16), (17, 29), (40, 23)):          # fully convolutional, size kept
        y = G(np.zeros((1, h, w, 3), np.float32))
        assert y.shape == (1, h, w, 3)
        assert np.all(np.abs(y) <= 1.0)                   # tanh


@pytest.mark.parametrize("variant", deblur.VARIANTS)
def test_global_residual_starts_at_the_identity_and_learns_a_correction(variant):
    """The demo's aid (--global-residual, issue 14; opt-in since issue 23): output =
    clip(input + tanh(out_conv(x)), -1, 1) with out_conv zero-initialised, so an untrained G returns
    its input exactly (every variant), and a non-zero last layer adds a bounded correction. The
    default is the paper's literal tanh output."""
    x = np.random.default_rng(0).uniform(-1, 1, (2, 24, 24, 3)).astype(np.float32)
    G = deblur.generator(variant, filters=8, blocks=2, global_residual=True)
    assert deblur.GLOBAL_RESIDUAL is False
    out_conv = G.get_layer("out_conv")
    assert not np.any(out_conv.kernel.numpy()) and not np.any(out_conv.bias.numpy())
    assert G.get_layer("global_residual").input[0] is G.input
    np.testing.assert_array_equal(G(x, training=True).numpy(), x)
    np.testing.assert_array_equal(G(x, training=False).numpy(), x)
    out_conv.bias.assign([0.5, -0.5, 0.0])                # a correction: clipped to the image range
    y = G(x).numpy()
    np.testing.assert_allclose(y, np.clip(x + np.tanh([0.5, -0.5, 0.0]), -1, 1), atol=1e-6)
    plain = deblur.generator(variant, filters=8, blocks=2)            # the paper
    assert "global_residual" not in [layer.name for layer in plain.layers]
    assert np.any(plain.get_layer("out_conv").kernel.numpy())          # Glorot init, not zero
    assert not np.allclose(plain(x).numpy(), x, atol=0.05)


def test_paper_size_parameter_counts():
    """At paper size (64 filters, 5 blocks): convs 9x9-64, 10 x 3x3-64, 3x3-64, 9x9-3, PReLU per channel."""
    conv = lambda k, cin, cout: k * k * cin * cout + cout          # noqa: E731
    nonbn = conv(9, 3, 64) + 64 + 5 * (2 * conv(3, 64, 64) + 64) + conv(3, 64, 64) + conv(9, 64, 3)
    assert deblur.generator("nonbn_res").count_params() == nonbn == 437_763
    assert deblur.generator("res_bn").count_params() == nonbn + 11 * 4 * 64        # gamma, beta, mean, var
    assert deblur.generator("stacked").count_params() == nonbn + 6 * 64            # 2 PReLUs per block + post
    D = deblur.discriminator(96)
    assert D.count_params() == 23_569_217
    assert deblur.generator_macs_per_pixel() == 436_608


def test_receptive_field_radius():
    """One changed input pixel changes outputs only within the 19-pixel radius (5 blocks)."""
    G = deblur.generator("nonbn_res", filters=4)
    r = deblur.receptive_radius(G)
    assert r == 19
    x = np.random.default_rng(0).uniform(-1, 1, (1, 64, 64, 3)).astype(np.float32)
    x2 = x.copy()
    x2[0, 32, 30] += 0.5
    changed = np.argwhere(np.abs(np.asarray(G(x2)) - np.asarray(G(x))).max(-1)[0] > 0)
    assert changed.size
    assert np.abs(changed - [32, 30]).max() <= r


def test_discriminator_structure():
    D = deblur.discriminator(32, filters=8, dense=16)
    convs = _layers(D, keras.layers.Conv2D)
    assert [c.strides[0] for c in convs] == [s for _, s in deblur.D_PLAN]
    assert [c.filters for c in convs] == [ch // 8 for ch, _ in deblur.D_PLAN]
    assert len(_layers(D, keras.layers.BatchNormalization)) == 7                 # none after the first conv
    dense = _layers(D, keras.layers.Dense)
    assert [d.units for d in dense] == [16, 1] and dense[-1].activation.__name__ == "sigmoid"
    y = np.asarray(D(np.random.default_rng(0).uniform(-1, 1, (3, 32, 32, 3)).astype(np.float32)))
    assert y.shape == (3, 1) and np.all((y > 0) & (y < 1))
    with pytest.raises(ValueError):
        deblur.discriminator(40)


# ------------------------------------------------------------------------- losses
def test_generator_loss_texture_on_a_hand_made_case():
    """The generator loss adds perceptual (pool2 0.2, pool5 0.02) and texture (conv1_1 3e-7, conv2_1 1e-6,
    conv3_1 1e-6 on 16x16 patches) terms to L1 + 1e-3 adversarial, checked on hand-made features."""
    pred = tf.fill([1, 4, 4, 3], 0.5)
    sharp = tf.zeros([1, 4, 4, 3])
    d_fake = tf.fill([1, 1], 0.5)
    base = T.generator_loss(pred, sharp, d_fake)
    assert set(base) == {"content", "adversarial", "total"}
    np.testing.assert_allclose(base["content"], 0.5, rtol=1e-6)
    np.testing.assert_allclose(base["total"], 0.5 + 1e-3 * np.log(2.0), rtol=1e-6)

    # conv1_1 (one channel, 16x16): pred constant 2 -> mean-normalised to 1, patch Gram = 256;
    # target half 0, half 2 -> normalised 0/2, Gram = 128 * 4 = 512; squared difference 256^2.
    c1p = tf.fill([1, 16, 16, 1], 2.0)
    c1t = tf.concat([tf.zeros([1, 8, 16, 1]), tf.fill([1, 8, 16, 1], 2.0)], axis=1)
    # conv3_1 (32x32): the same four 16x16 blocks in another order. The whole-map Gram is equal, the
    # 16x16 patch Grams are not: the loss sees them only with 16x16 patches.
    blocks = [tf.fill([1, 16, 16, 1], v) for v in (1.0, 2.0, 3.0, 2.0)]
    c3p = tf.concat([tf.concat(blocks[:2], 2), tf.concat(blocks[2:], 2)], 1)
    c3t = tf.concat([tf.concat([blocks[2], blocks[0]], 2), tf.concat([blocks[3], blocks[1]], 2)], 1)
    same = tf.ones([1, 16, 16, 1])
    # pool2: pred constant 3 -> normalised 1; target half 0, half 2 -> 0 / 2: squared error 1 everywhere.
    # pool5: pred [1, 3] -> [.5, 1.5]; target constant 4 -> 1: squared error .25 (mean-normalised, eq. 4)
    fp = {"conv1_1": c1p, "conv2_1": same, "conv3_1": c3p, "pool2": tf.fill([1, 2, 2, 4], 3.0),
          "pool5": tf.constant([[[[1.0, 3.0]]]])}
    ft = {"conv1_1": c1t, "conv2_1": same, "conv3_1": c3t,
          "pool2": tf.concat([tf.zeros([1, 1, 2, 4]), tf.fill([1, 1, 2, 4], 2.0)], 1),
          "pool5": tf.fill([1, 1, 1, 2], 4.0)}
    full = T.generator_loss(pred, sharp, d_fake, fp, ft)
    np.testing.assert_allclose(full["perceptual"], 0.2 * 1.0 + 0.02 * 0.25, rtol=1e-6)
    # conv3_1: mean 2 -> blocks 0.5, 1, 1.5, 1; per-patch Gram 256 v^2: patch diffs (0.25-2.25)*256 etc.
    v_p = np.array([1.0, 2.0, 3.0, 2.0]) / 2.0
    v_t = np.array([3.0, 1.0, 2.0, 2.0]) / 2.0
    tex3 = np.mean((256 * (v_p ** 2 - v_t ** 2)) ** 2)
    np.testing.assert_allclose(full["texture"], 3e-7 * 256.0 ** 2 + 1e-6 * tex3, rtol=1e-5)
    np.testing.assert_allclose(full["total"], base["total"] + full["perceptual"] + full["texture"], rtol=1e-6)
    assert float(perceptual.texture_loss(c3p, c3t, patch=32)) == pytest.approx(0.0, abs=1e-3)


# ------------------------------------------------------------------------- schedule and update ratio
def test_learning_rate_schedule_reads_the_shared_step():
    G, D = deblur.generator("nonbn_res", filters=4, blocks=1), deblur.discriminator(16, 8, 8)
    g_opt, d_opt, schedule = T.make_optimizers()
    step = tf.Variable(0, dtype=tf.int64)
    schedule.bind(step)
    g_opt.build(G.trainable_variables)
    d_opt.build(D.trainable_variables)
    for s, lr in ((0, 1e-4), (249_999, 1e-4), (250_000, 1e-5), (499_999, 1e-5)):
        step.assign(s)
        d_opt.iterations.assign(2 * s + 7)          # D's own counter runs ahead: it must not matter
        assert float(g_opt.learning_rate) == pytest.approx(lr, rel=1e-6)
        assert float(d_opt.learning_rate) == pytest.approx(lr, rel=1e-6)


def _smoke(tmp_path, variant, *extra):
    rd = tmp_path / variant
    T.main(["--smoke", "--variant", variant, "--run-dir", str(rd), "--vgg-weights", "none", "--blur", "gaussian",
            *extra])
    return rd


@pytest.mark.parametrize("variant", ["stacked", "res_bn", "nonbn_res_l"])
def test_smoke_run_two_d_updates_per_g_update(tmp_path, variant):
    """--smoke trains 3 steps; both optimizers drop to 1e-5 at step 2 (smoke's --lr-decay-at); D is
    updated twice per G update; config, checkpoints, image grid and export are written.
    (nonbn_res runs in test_sharpen.py's short training.)"""
    rd = _smoke(tmp_path, variant)
    config = json.loads((rd / "config.json").read_text())
    assert config["paper"] == "E" and config["variant"] == variant and config["vgg_weights"] == "none"
    prefix = tf.train.latest_checkpoint(str(rd / "ckpt"))
    reader = tf.train.load_checkpoint(prefix)
    it = lambda name: int(reader.get_tensor(f"{name}/_iterations/.ATTRIBUTES/VARIABLE_VALUE"))  # noqa: E731
    assert int(reader.get_tensor("step/.ATTRIBUTES/VARIABLE_VALUE")) == 3
    assert it("g_opt") == 3 and it("d_opt") == 6
    assert list((rd / "images").glob("samples_*.png"))
    G = keras.saving.load_model(rd / "export" / "generator.keras")
    assert G(np.zeros((1, 20, 28, 3), np.float32)).shape == (1, 20, 28, 3)


def test_bad_settings_are_one_line_errors(tmp_path):
    with pytest.raises(UserError, match="needs --image-size >= 64"):
        T.main(["--smoke", "--variant", "nonbn_res_l", "--image-size", "32", "--run-dir", str(tmp_path / "a")])
    with pytest.raises(UserError, match="multiple of 16"):
        T.main(["--smoke", "--variant", "stacked", "--image-size", "40", "--run-dir", str(tmp_path / "b")])


# ------------------------------------------------------------------------- the fixed evaluation set
def test_eval_set_is_deterministic_and_records_the_blur(tmp_path):
    args = ["make-eval-set", "--dataset", "samples", "--n", "2", "--size", "64", "--seed", "3"]
    assert evaluate.main(args + ["--out", str(tmp_path / "a")]) == 0
    assert evaluate.main(args + ["--out", str(tmp_path / "b")]) == 0
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert [str(f) for f in files] == ["blurred/00000.png", "blurred/00001.png", "manifest.json",
                                       "sharp/00000.png", "sharp/00001.png"]
    for f in files:
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes()
    manifest, pairs = load_deblur_set(tmp_path / "a")
    assert manifest["n"] == 2 and manifest["seed"] == 3 and manifest["size"] == 64
    for item, (blurred, sharp) in zip(manifest["images"], pairs):
        assert item["kind"] in ("gaussian", "motion")
        kernel = np.array(item["kernel"])
        assert kernel.shape == (31, 31) and abs(kernel.sum() - 1) < 1e-4
        assert blurred.shape == sharp.shape == (64, 64, 3) and np.any(blurred != sharp)
    evaluate.main(["make-eval-set", "--dataset", "samples", "--n", "2", "--size", "64", "--seed", "4",
                   "--out", str(tmp_path / "c")])
    assert (tmp_path / "c" / "blurred" / "00000.png").read_bytes() != (tmp_path / "a" / "blurred" / "00000.png").read_bytes()
    # a scored identity "model" gives exactly the blurred input's figures
    identity = keras.Sequential([keras.Input((None, None, 3)), keras.layers.Identity()])
    result = deblur_scores(identity, tmp_path / "a", log=lambda *a: None)
    assert result["model"] == result["blurred input"]
    (tmp_path / "a" / "sharp" / "00001.png").write_bytes(b"changed")
    with pytest.raises(UserError, match="changed since the set was made"):
        load_deblur_set(tmp_path / "a")


# ------------------------------------------------------------------------- the old spellings (one release)
def _note(capfd, old, new):
    """The one note line the train script printed before it ran the new command (its own process)."""
    captured = capfd.readouterr()
    notes = [line for line in captured.err.splitlines() if line.startswith("note:")]
    assert notes == [f'note: "{old}" moved to "{new}"; running that'], captured.err
    return captured.out


def test_old_make_eval_set_spelling_runs_evaluate_py(tmp_path, capfd):
    argv = ["--dataset", "samples", "--n", "1", "--size", "64", "--seed", "3"]
    assert T.main(["make-eval-set", *argv, "--out", str(tmp_path / "old")]) == 0
    _note(capfd, "train_deblur.py make-eval-set", "python evaluate.py make-eval-set ...")
    assert evaluate.main(["make-eval-set", *argv, "--out", str(tmp_path / "new")]) == 0
    for f in ("blurred/00000.png", "sharp/00000.png", "manifest.json"):
        assert (tmp_path / "old" / f).read_bytes() == (tmp_path / "new" / f).read_bytes()


def test_old_evaluate_spelling_runs_evaluate_py_table_e(tmp_path, capfd):
    evaluate.main(["make-eval-set", "--dataset", "samples", "--n", "1", "--size", "64", "--out", str(tmp_path / "set")])
    model = tmp_path / "g.keras"
    deblur.generator("nonbn_res", filters=4, blocks=1).save(model)
    capfd.readouterr()
    assert T.main(["evaluate", "--model", str(model), "--eval-set", str(tmp_path / "set"),
                   "--json", str(tmp_path / "scores.json")]) == 0
    out = _note(capfd, "train_deblur.py evaluate", "python evaluate.py --table E ...")
    saved = json.loads((tmp_path / "scores.json").read_text())
    assert set(saved) == {"blurred input", "model"} and saved["model"]["n"] == 1
    assert f"| blurred input | {saved['blurred input']['psnr']:.2f} |" in out
    here = deblur_scores(model, tmp_path / "set", log=lambda *a: None)
    for name, v in here.items():
        assert saved[name] == pytest.approx(v, rel=1e-5)
