"""Paper A: architecture against the layer table, losses as specified, the three stages in --smoke,
stage order, the stored mean, export round trip."""
import json
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import train_iizuka  # noqa: E402
from losses import perceptual, pixel  # noqa: E402
from models import iizuka  # noqa: E402
from errors import main_guard  # noqa: E402
from training import export, run  # noqa: E402

# PAPERS.md section A, generator: (kind, filters, kernel, stride, dilation)
G_TABLE = [("conv", 64, 5, 1, 1), ("conv", 128, 3, 2, 1), ("conv", 128, 3, 1, 1), ("conv", 256, 3, 2, 1),
           ("conv", 256, 3, 1, 1), ("conv", 256, 3, 1, 1),
           ("conv", 256, 3, 1, 2), ("conv", 256, 3, 1, 4), ("conv", 256, 3, 1, 8),
           ("conv", 256, 3, 1, 1), ("conv", 256, 3, 1, 1), ("deconv", 128, 4, 2, 1), ("conv", 128, 3, 1, 1),
           ("deconv", 64, 4, 2, 1), ("conv", 32, 3, 1, 1), ("conv", 3, 3, 1, 1)]
SMOKE = ["--smoke", "--dataset", "samples", "--vgg-weights", "none"]


def _convs(model):
    return [layer for layer in model.layers if isinstance(layer, (keras.layers.Conv2D, keras.layers.Conv2DTranspose))]


def _kind(layer):
    return "deconv" if isinstance(layer, keras.layers.Conv2DTranspose) else "conv"


def _conv_params(table, cin, bn_on_last=False):
    """Analytic parameter count of a conv stack: kernel + bias, + 4 per channel for BatchNorm."""
    total = 0
    for i, (_, filters, k, _, _) in enumerate(table):
        total += k * k * cin * filters + filters
        if i < len(table) - 1 or bn_on_last:
            total += 4 * filters
        cin = filters
    return total


def test_completion_network_matches_the_layer_table():
    g = iizuka.completion_network()
    convs = _convs(g)
    assert len(convs) == 16 and sum(_kind(c) == "deconv" for c in convs) == 2
    got = [(_kind(c), c.filters, c.kernel_size[0], c.strides[0], c.dilation_rate[0]) for c in convs]
    assert got == G_TABLE
    assert all(c.kernel_size[0] == c.kernel_size[1] and c.padding == "same" for c in convs)
    bns = [layer for layer in g.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(bns) == 15                                   # after every conv except the last
    # issue 14: GLCIC's Torch BN defaults, so inference-mode statistics are usable after tens of steps
    assert all(b.momentum == 0.9 and b.epsilon == 1e-5 for b in bns)
    assert [c.output.shape[1] for c in convs] == [128, 64, 64] + [32] * 8 + [64, 64, 128, 128, 128]
    assert g.input[0].shape[1:] == (128, 128, 3) and g.input[1].shape[1:] == (128, 128, 1)
    assert g.output.shape[1:] == (128, 128, 3)
    assert g.get_layer("tanh").activation is keras.activations.tanh
    assert convs[0].input.shape[-1] == 4                    # mean-filled image + mask
    assert g.count_params() == _conv_params(G_TABLE, 4) == 5_486_979
    plain = iizuka.completion_network(residual=False)       # GLCIC's literal output: tanh last
    assert plain.layers[-1].activation is keras.activations.tanh and plain.count_params() == 5_486_979


def test_residual_output_starts_at_the_mean_fill_and_keeps_known_pixels_learnable():
    """The demo's aid for paper A (--residual, issue 14; opt-in since issue 23): an untrained G returns,
    in the hole, exactly the per-channel mean of the image's known pixels (the tables' "mean fill"),
    so training can only add a correction to the trivial baseline; the known pixels pass through."""
    rng = np.random.default_rng(0)
    assert iizuka.RESIDUAL is False                                  # the paper: GLCIC's tanh output
    g = iizuka.completion_network(16, width=4, mean=(0.3, 0.3, 0.3), residual=True)
    image = rng.uniform(-0.9, 0.9, (2, 16, 16, 3)).astype(np.float32)
    mask = np.zeros((2, 16, 16, 1), np.float32)
    mask[0, 4:10, 5:12] = 1
    mask[1, 0:8, 0:8] = 1
    out = np.asarray(g([image, mask], training=False))
    feed = np.asarray(keras.Model(g.inputs, g.get_layer("mean_fill").output)([image, mask]))   # conv1's input
    for b in range(2):
        hole = mask[b, ..., 0] > 0
        expected = image[b][~hole].mean(axis=0)             # per channel, over the known pixels
        np.testing.assert_allclose(out[b][hole], np.broadcast_to(expected, out[b][hole].shape), atol=1e-5)
        # issue 25: the network sees that same fill in the hole (not the training set's 0.3), + the mask
        np.testing.assert_allclose(feed[b][hole][:, :3], np.broadcast_to(expected, out[b][hole].shape), atol=1e-5)
        np.testing.assert_array_equal(feed[b][..., 3], mask[b, ..., 0])
        np.testing.assert_allclose(out[b][~hole], image[b][~hole], atol=1e-6)
    assert not np.any(np.asarray(g.get_layer("output").kernel))


def test_discriminators_match_the_layer_table():
    glob, loc = iizuka.global_discriminator(), iizuka.local_discriminator()
    for model, channels, size in ((glob, [64, 128, 256, 512, 512], 128), (loc, [64, 128, 256, 512], 64)):
        convs = _convs(model)
        assert [c.filters for c in convs] == channels
        assert all(c.kernel_size == (5, 5) and c.strides == (2, 2) for c in convs)
        assert sum(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers) == len(channels)
        dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
        assert len(dense) == 1 and dense[0].units == 1024
        assert model.input.shape[1:] == (size, size, 3) and model.output.shape[1:] == (1024,)
        flat = (size // 2 ** len(channels)) ** 2 * channels[-1]
        table = [(None, c, 5, 2, 1) for c in channels]
        assert model.count_params() == _conv_params(table, 3, bn_on_last=True) + flat * 1024 + 1024
    d = iizuka.discriminator()
    assert d.get_layer("concat").output.shape[1:] == (2048,)
    head = d.get_layer("p_real")
    assert head.units == 1 and head.activation is keras.activations.sigmoid
    assert d.output.shape[1:] == (1,)
    assert d.count_params() == glob.count_params() + loc.count_params() + 2049


def test_tiny_networks_run_and_mean_fill_ignores_the_hole():
    g = iizuka.completion_network(16, width=4, mean=(0.1, -0.2, 0.3))
    rng = np.random.default_rng(0)
    image = rng.uniform(-1, 1, (2, 16, 16, 3)).astype("float32")
    mask = np.zeros((2, 16, 16, 1), "float32")
    mask[:, 4:10, 3:9] = 1
    other = np.where(mask > 0, 5.0, image).astype("float32")      # different hole content
    out = g([image, mask], training=False).numpy()
    assert out.shape == (2, 16, 16, 3) and np.abs(out).max() <= 1
    np.testing.assert_array_equal(out, g([other, mask], training=False).numpy())
    filled = iizuka.MeanFill((0.1, -0.2, 0.3))([image, mask]).numpy()
    np.testing.assert_allclose(filled[0, 5, 5], [0.1, -0.2, 0.3, 1.0], rtol=1e-6)
    np.testing.assert_array_equal(filled[0, 0, 0, :3], image[0, 0, 0])
    d = iizuka.discriminator(16, 8, width=2, fc_units=4)
    assert d([image, image[:, :8, :8]]).shape == (2, 1)


def test_crop_local_takes_each_examples_box():
    images = tf.reshape(tf.range(2 * 8 * 8 * 1, dtype=tf.float32), [2, 8, 8, 1])
    boxes = tf.constant([[1, 2, 4, 4], [4, 0, 4, 4]])
    crops = train_iizuka.crop_local(images, boxes, 4).numpy()
    np.testing.assert_array_equal(crops[0], images[0, 1:5, 2:6].numpy())
    np.testing.assert_array_equal(crops[1], images[1, 4:8, 0:4].numpy())


@pytest.fixture(scope="module")
def tiny():
    keras.utils.set_random_seed(1)
    g = iizuka.completion_network(16, width=4, mean=(0.0, 0.0, 0.0))
    with pytest.warns(UserWarning, match="RANDOM"):
        vgg = perceptual.vgg19_features(train_iizuka.VGG_LAYERS, weights=None)
    rng = np.random.default_rng(1)
    image = tf.constant(rng.uniform(-1, 1, (2, 16, 16, 3)), tf.float32)
    mask = np.zeros((2, 16, 16, 1), "float32")
    mask[:, 3:11, 5:13] = 1
    return g, vgg, image, tf.constant(mask)


def test_losses_are_eq2_on_the_prediction_and_eq3_on_the_composite(tiny):
    g, vgg, image, mask = tiny
    pred, comp, l_m, l_p = train_iizuka.completion_losses(g, vgg, image, mask, False)
    np.testing.assert_allclose(comp, mask * pred + (1 - mask) * image)
    expected_m = np.mean(np.square(mask.numpy() * (pred.numpy() - image.numpy())))     # eq. 2
    np.testing.assert_allclose(float(l_m), expected_m, rtol=1e-5)
    assert float(l_m) == pytest.approx(float(pixel.masked_mse(pred, image, mask)))
    fc, fi = vgg(comp), vgg(image)
    expected_p = sum(np.mean(np.abs(fc[k].numpy() - fi[k].numpy())) for k in ("relu1_1", "relu2_1", "relu3_1"))
    np.testing.assert_allclose(float(l_p), expected_p, rtol=1e-4)                       # eq. 3


class _MustNotRun:
    """A feature extractor that fails if called: beta 0 must not run VGG19."""
    def __call__(self, *a, **k):
        raise AssertionError("VGG19 ran although beta is 0")


def test_beta_0_skips_vgg_and_gives_the_same_update_as_computing_it(tiny):
    """The demo trains with beta 0 while VGG19 has random weights (issue 14): L_P times 0 cannot move
    G, so the step does not run VGG19 (4x faster on a CPU) and lands on the same weights."""
    g, vgg, image, mask = tiny
    batch = {"image": image, "mask": mask}
    g_skip, g_full = keras.models.clone_model(g), keras.models.clone_model(g)
    g_skip.set_weights(g.get_weights())
    g_full.set_weights(g.get_weights())
    skip = train_iizuka.make_stage1_step(g_skip, _MustNotRun(), keras.optimizers.Adam(1e-3), beta=0.0)
    full_opt = keras.optimizers.Adam(1e-3)
    logs = skip(batch)
    assert "g/perceptual" not in logs and float(logs["g/loss"]) == pytest.approx(float(logs["g/mse"]))
    with tf.GradientTape() as tape:                      # the same step with L_P computed and weighted 0
        _, _, l_m, l_p = train_iizuka.completion_losses(g_full, vgg, image, mask, True)
        loss = l_m + 0.0 * l_p
    full_opt.apply_gradients(zip(tape.gradient(loss, g_full.trainable_variables), g_full.trainable_variables))
    assert float(l_p) > 0 and float(logs["g/loss"]) == pytest.approx(float(l_m), rel=1e-6)
    for a, b in zip(g_skip.get_weights(), g_full.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_stage1_steps_reduce_the_loss_on_a_fixed_batch(tiny):
    g, vgg, image, mask = tiny
    g = keras.models.clone_model(g)
    opt = keras.optimizers.Adadelta(1.0)
    step = train_iizuka.make_stage1_step(g, vgg, opt, beta=0.01)    # eager: tracing would cost most of the test
    batch = {"image": image, "mask": mask}
    losses = [float(step(batch)["g/loss"]) for _ in range(8)]
    assert losses[-1] < losses[0], losses


def test_export_round_trip_gives_identical_outputs(tmp_path):
    g = iizuka.completion_network(16, width=4, mean=(0.25, -0.5, 0.0))
    path = export.export_model(g, tmp_path / "g.keras")
    loaded = keras.saving.load_model(path, compile=False)
    assert loaded is not g
    rng = np.random.default_rng(2)
    image = rng.uniform(-1, 1, (2, 16, 16, 3)).astype("float32")
    mask = (rng.uniform(size=(2, 16, 16, 1)) > 0.7).astype("float32")
    np.testing.assert_array_equal(loaded([image, mask]), g([image, mask]))
    assert loaded.get_layer("mean_fill").mean == (0.25, -0.5, 0.0)


# ------------------------------------------------------------------------- the three stages, end to end

def _values(run_dir, stage, root, which=-1):
    prefixes = tf.train.get_checkpoint_state(str(run_dir / "ckpt" / f"stage{stage}")).all_model_checkpoint_paths
    reader = tf.train.load_checkpoint(prefixes[which])
    return {k: reader.get_tensor(k) for k in reader.get_variable_to_shape_map()
            if k.startswith(root + "/") and "OPTIMIZER_SLOT" not in k}


def _same(a, b):
    assert a.keys() == b.keys() and a
    return all(np.array_equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def stages(tmp_path_factory):
    """Stages 1, 2, 3 in one run directory. Stages 1 and 2 run their step eagerly (tracing costs
    most of a CPU smoke run); stage 3, whose step holds every piece of stages 1 and 2 (G, VGG,
    local crops, D, both tapes), runs compiled as in training."""
    run_dir = tmp_path_factory.mktemp("iizuka") / "run"
    calls = []
    real = train_iizuka.compute_mean
    train_iizuka.compute_mean = lambda *a, **k: calls.append(1) or real(*a, **k)
    try:
        for stage in (1, 2, 3):
            tf.config.run_functions_eagerly(stage < 3)
            assert train_iizuka.main(SMOKE + ["--run-dir", str(run_dir), "--stage", str(stage),
                                              "--save-every", "1"]) == 0
    finally:
        tf.config.run_functions_eagerly(False)
        train_iizuka.compute_mean = real
    return run_dir, calls


def test_each_stage_runs_and_exports(stages):
    run_dir, _ = stages
    for stage, steps in train_iizuka.SMOKE_STEPS.items():
        assert tf.train.latest_checkpoint(str(run_dir / "ckpt" / f"stage{stage}")).endswith(f"ckpt-{steps}")
        assert (run_dir / "export" / f"stage{stage}.keras").is_file()
    assert (run_dir / "export" / "inpainter.keras").is_file()
    config = json.loads((run_dir / "config.json").read_text())
    assert config["paper"] == "A" and config["stage"] == 3


def test_stage2_trains_d_only_and_stage3_trains_both(stages):
    run_dir, _ = stages
    g1 = _values(run_dir, 1, "generator")
    g2_first, g2 = _values(run_dir, 2, "generator", 0), _values(run_dir, 2, "generator")
    assert _same(g1, g2) and _same(g1, g2_first)                      # G frozen (BN statistics too)
    assert not _same(_values(run_dir, 2, "discriminator", 0), _values(run_dir, 2, "discriminator"))
    assert not _same(g2, _values(run_dir, 3, "generator"))
    assert not _same(_values(run_dir, 2, "discriminator"), _values(run_dir, 3, "discriminator"))


def test_mean_is_computed_once_and_stored(stages):
    run_dir, calls = stages
    assert len(calls) == 1
    stored = json.loads((run_dir / "mean.json").read_text())
    assert stored["images"] == 12 and len(stored["mean"]) == 3
    g = keras.saving.load_model(run_dir / "export" / "stage3.keras", compile=False)
    np.testing.assert_allclose(g.get_layer("mean_fill").mean, stored["mean"])


def test_report_magnitudes_prints_both_terms(stages, capsys):
    run_dir, _ = stages
    assert train_iizuka.main(SMOKE + ["--run-dir", str(run_dir), "--stage", "1", "--report-magnitudes",
                                      "--magnitude-batches", "1"]) == 0
    line = [x for x in capsys.readouterr().out.splitlines() if x.startswith("magnitudes")][0]
    assert "L_M" in line and "L_P" in line


def test_stage_1_logs_its_first_batch_magnitudes(stages):
    """Stage 1 writes L_M, beta * L_P and their ratio on its first batch into the run (magnitudes.json)."""
    run_dir, _ = stages
    m = json.loads((run_dir / "magnitudes.json").read_text())
    assert m["beta"] == train_iizuka.BETA and m["L_M"] > 0 and m["L_P"] > 0
    assert m["beta_L_P"] == pytest.approx(m["beta"] * m["L_P"])
    assert m["ratio_beta_L_P_to_L_M"] == pytest.approx(m["beta_L_P"] / m["L_M"])
    assert m["warning"] == train_iizuka.beta_warning(m["L_M"], m["L_P"], m["beta"])


def test_beta_warning_outside_ten_times_either_way():
    """One loud line, naming --report-magnitudes and --beta, when beta * L_P and L_M differ by > 10x."""
    assert train_iizuka.beta_warning(1.0, 100.0, 0.01) is None          # equal
    assert train_iizuka.beta_warning(1.0, 999.0, 0.01) is None          # 9.99x
    assert train_iizuka.beta_warning(1.0, 10.0, 0.01) is None           # 1/10 exactly
    for l_m, l_p in ((1.0, 1001.0), (1.0, 9.0)):                        # 10.01x and 0.09x
        w = train_iizuka.beta_warning(l_m, l_p, 0.01)
        assert w.startswith("WARNING") and "\n" not in w and "--report-magnitudes" in w and "--beta" in w
    assert "--beta 0.001" in train_iizuka.beta_warning(1.0, 1000.0 + 1e-3, 0.5)   # L_M / L_P


@pytest.mark.parametrize("stage", [2, 3])
def test_a_stage_refuses_to_start_without_the_previous_one(tmp_path, capsys, stage):
    run_dir = tmp_path / "run"
    with pytest.raises(SystemExit) as e:
        main_guard(train_iizuka.main)(SMOKE + ["--run-dir", str(run_dir), "--stage", str(stage)])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: stage {stage} starts from stage {stage - 1}'s checkpoint")
    assert not (run_dir / "config.json").exists()


def test_rerunning_a_finished_earlier_stage_keeps_the_latest_inpainter(stages, capsys):
    run_dir, _ = stages
    inpainter, stage1 = run_dir / "export" / "inpainter.keras", run_dir / "export" / "stage1.keras"
    before = inpainter.stat().st_mtime_ns, inpainter.read_bytes()
    assert train_iizuka.main(SMOKE + ["--run-dir", str(run_dir), "--stage", "1"]) == 0
    assert "already at step 3 of 3" in capsys.readouterr().out
    assert stage1.stat().st_mtime_ns > before[0]                   # stage 1 re-exported ...
    assert (inpainter.stat().st_mtime_ns, inpainter.read_bytes()) == before   # ... stage 3's inpainter kept
