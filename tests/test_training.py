"""Tests of training/: resume equals uninterrupted training, checkpoint safety, NaN guard,
Ctrl-C, run config, CLI guard, flags, mixed precision, image grids, TensorBoard, 2 replicas."""
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from errors import UserError, cli, main_guard
from imagefiles import write_png
from training import checkpoint, distribute, flags, loop, run, setup, summaries

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _reset_globals():
    """Leave the float32 policy and non-deterministic ops behind for other tests."""
    yield
    keras.mixed_precision.set_global_policy("float32")
    setup.set_determinism(False)


# ---------------------------------------------------------------- a tiny GAN-like state

def batches_from(start, batch=4, seed=7):
    """Deterministic stream: batch i depends only on (seed, i); starts at batch `start`."""
    def make(i):
        s = tf.stack([tf.constant(seed, tf.int64), i])
        real = tf.random.stateless_normal([batch, 3], s) * 0.5 + 1.0
        z = tf.random.stateless_uniform([batch, 2], s + 1, -1.0, 1.0)
        return {"real": real, "z": z}
    return tf.data.Dataset.range(start, 1_000_000).map(make)


class Gan:
    """G and D with BatchNorm and one Adam each; step = one D update then one G update (BCE)."""

    def __init__(self, directory, seed=0):
        setup.set_seed(seed)
        self.g = keras.Sequential([keras.Input((2,)), keras.layers.Dense(8), keras.layers.BatchNormalization(),
                                   keras.layers.ReLU(), keras.layers.Dense(3)])
        self.d = keras.Sequential([keras.Input((3,)), keras.layers.Dense(8), keras.layers.BatchNormalization(),
                                   keras.layers.LeakyReLU(0.2), keras.layers.Dense(1)])
        self.g_opt = keras.optimizers.Adam(1e-2, beta_1=0.5)
        self.d_opt = keras.optimizers.Adam(1e-2, beta_1=0.5)
        self.ckpt = checkpoint.Checkpointer(directory, keep=5, generator=self.g, discriminator=self.d,
                                            g_opt=(self.g_opt, self.g), d_opt=(self.d_opt, self.d))
        self.step = setup.make_step(self._step)

    def _step(self, batch):
        bce = keras.losses.BinaryCrossentropy(from_logits=True)
        with tf.GradientTape() as tape:
            fake = self.g(batch["z"], training=True)
            real_logits, fake_logits = self.d(batch["real"], training=True), self.d(fake, training=True)
            d_loss = bce(tf.ones_like(real_logits), real_logits) + bce(tf.zeros_like(fake_logits), fake_logits)
        grads = tape.gradient(d_loss, self.d.trainable_variables)
        self.d_opt.apply_gradients(zip(grads, self.d.trainable_variables))
        with tf.GradientTape() as tape:
            fake_logits = self.d(self.g(batch["z"], training=True), training=True)
            g_loss = bce(tf.ones_like(fake_logits), fake_logits)
        grads = tape.gradient(g_loss, self.g.trainable_variables)
        self.g_opt.apply_gradients(zip(grads, self.g.trainable_variables))
        return {"d_loss": d_loss, "g_loss": g_loss}

    def snapshot(self):
        """Every number that defines the training state."""
        arrays = [v.numpy() for v in self.g.weights + self.d.weights]
        arrays += [v.numpy() for v in self.g_opt.variables + self.d_opt.variables]
        return arrays + [self.ckpt.step.numpy()]

    def train(self, steps, **kw):
        self.ckpt.restore()
        kw = {"save_every": 1000, "log_every": 1000, "log": lambda *_: None, **kw}
        return loop.train_loop(self.step, batches_from, self.ckpt, steps, **kw)


def assert_same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y, rtol=0, atol=1e-6)


# ---------------------------------------------------------------- resume

def test_resume_equals_uninterrupted(tmp_path):
    setup.set_determinism(True)
    straight = Gan(tmp_path / "a")
    straight.train(6)
    expected = straight.snapshot()

    first = Gan(tmp_path / "b")
    first.train(3)
    half = first.snapshot()
    del first
    second = Gan(tmp_path / "b")                      # new Python objects, fresh weights
    assert second.ckpt.restore() == 3
    assert_same(second.snapshot(), half)              # slots and BN statistics came back
    second.train(6)
    got = second.snapshot()

    assert int(got[-1]) == 6
    assert second.g_opt.iterations.numpy() == 6 and second.d_opt.iterations.numpy() == 6
    assert_same(got, expected)
    # the comparison is not vacuous: training moved the weights between step 3 and 6
    assert not np.allclose(half[0], expected[0])


def test_restore_builds_optimizer_slots_first(tmp_path):
    gan = Gan(tmp_path)
    gan.train(3)
    saved = [v.numpy() for v in gan.g_opt.variables]
    path = gan.ckpt.latest

    # naive cold restore: the unbuilt Adam has no m/v yet, and the restore cannot be verified
    setup.set_seed(1)
    g = keras.Sequential([keras.Input((2,)), keras.layers.Dense(8), keras.layers.BatchNormalization(),
                          keras.layers.ReLU(), keras.layers.Dense(3)])
    cold = keras.optimizers.Adam(1e-2)
    status = tf.train.Checkpoint(generator=g, g_opt=cold).restore(path)
    assert len(cold.variables) == 2                   # iterations + learning rate only
    with pytest.raises(AssertionError):
        status.assert_consumed()

    # the Checkpointer path: slots exist at restore time and hold the saved values
    again = Gan(tmp_path, seed=1)
    assert again.ckpt.restore() == 3
    restored = [v.numpy() for v in again.g_opt.variables]
    assert len(restored) == len(saved) > 2
    slots = [v for v in again.g_opt.variables if "momentum" in v.path or "velocity" in v.path]
    assert len(slots) == 2 * len(again.g.trainable_variables)
    assert all(np.any(v.numpy() != 0) for v in slots)
    assert_same(restored, saved)


def test_interrupted_save_is_ignored_and_subset_restore(tmp_path):
    gan = Gan(tmp_path / "run" / "ckpt")
    gan.train(4, save_every=2)
    kept = gan.snapshot()
    ckpt_dir = tmp_path / "run" / "ckpt"
    # debris of a save killed half-way at step 6: shards in ckpt-6_temp, a data file, no state update
    (ckpt_dir / "ckpt-6_temp").mkdir()
    (ckpt_dir / "ckpt-6_temp" / "part-00000-of-00001.data-00000-of-00001").write_bytes(b"\0" * 10)
    (ckpt_dir / "ckpt-6.data-00000-of-00001").write_bytes(b"garbage")
    state = (ckpt_dir / "checkpoint").read_text()

    fresh = Gan(ckpt_dir, seed=3)
    with pytest.raises(RuntimeError, match="restore"):    # forgetting restore() would restart at 0
        loop.train_loop(fresh.step, batches_from, fresh.ckpt, 6)
    assert fresh.ckpt.restore() == 4
    assert_same(fresh.snapshot(), kept)
    index = ckpt_dir / "ckpt-4.index"
    before = index.stat().st_mtime_ns
    fresh.ckpt.save()                                 # same step: the good checkpoint is not rewritten
    assert index.stat().st_mtime_ns == before and (ckpt_dir / "checkpoint").read_text() == state

    # a later stage loads only the generator, from the run directory
    setup.set_seed(5)
    g = keras.Sequential([keras.Input((2,)), keras.layers.Dense(8), keras.layers.BatchNormalization(),
                          keras.layers.ReLU(), keras.layers.Dense(3)])
    assert checkpoint.restore_from(tmp_path / "run", generator=g).endswith("ckpt-4")
    assert_same([v.numpy() for v in g.weights], [v.numpy() for v in gan.g.weights])
    with pytest.raises(UserError, match="has no critic"):
        checkpoint.restore_from(tmp_path / "run", critic=g)
    wider = keras.Sequential([keras.Input((2,)), keras.layers.Dense(9), keras.layers.Dense(3)])
    with pytest.raises(UserError, match="does not fit"):
        checkpoint.restore_from(tmp_path / "run", generator=wider)
    with pytest.raises(UserError, match="no checkpoint"):
        checkpoint.restore_from(tmp_path / "nowhere", generator=g)


def _damage(ckpt_dir, step, how):
    data = next(ckpt_dir.glob(f"ckpt-{step}.data-*"))
    index = ckpt_dir / f"ckpt-{step}.index"
    if how == "truncated data":
        data.write_bytes(data.read_bytes()[: data.stat().st_size // 2])
    elif how == "truncated index":
        index.write_bytes(index.read_bytes()[: index.stat().st_size // 2])
    elif how == "missing data":
        data.unlink()


@pytest.mark.parametrize("how,reason", [("truncated data", "truncated"), ("truncated index", "index"),
                                        ("missing data", "missing")])
def test_a_damaged_newest_checkpoint_falls_back_to_the_previous_one(tmp_path, how, reason):
    """The newest checkpoint that reads back whole is used, with one line naming the one skipped; the
    damaged files move to damaged/ (no later save writes over them) and training goes on from there."""
    ckpt_dir = tmp_path / "ckpt"
    gan = Gan(ckpt_dir)
    gan.train(2, save_every=2)
    at_2 = gan.snapshot()
    gan.train(4, save_every=2)
    _damage(ckpt_dir, 4, how)
    lines = []
    again = Gan(ckpt_dir, seed=3)
    assert again.ckpt.restore(log=lines.append) == 2
    assert_same(again.snapshot(), at_2)
    assert len(lines) == 1 and "ckpt-4" in lines[0] and reason in lines[0] and "\n" not in lines[0]
    assert sorted(p.name.split(".")[0] for p in (ckpt_dir / "damaged").iterdir()) >= ["ckpt-4"]
    assert not list(ckpt_dir.glob("ckpt-4.*"))
    again.train(6, save_every=2)                      # goes on, and writes ckpt-4 anew beside damaged/
    assert [s for s, _ in checkpoint.checkpoints_on_disk(ckpt_dir)] == [2, 4, 6]
    assert "ckpt-6" in (ckpt_dir / "checkpoint").read_text()


def test_a_garbled_state_file_is_rebuilt_from_the_checkpoints_present(tmp_path):
    """A garbled `checkpoint` state file used to restart training at step 1 over the ckpt-N files."""
    ckpt_dir = tmp_path / "ckpt"
    gan = Gan(ckpt_dir)
    gan.train(4, save_every=2)
    kept = gan.snapshot()
    (ckpt_dir / "checkpoint").write_bytes(b"garbage \x00 {{{")
    lines = []
    again = Gan(ckpt_dir, seed=3)
    assert again.ckpt.restore(log=lines.append) == 4
    assert_same(again.snapshot(), kept)
    assert len(lines) == 1 and "rebuilt" in lines[0]
    assert tf.train.latest_checkpoint(str(ckpt_dir)).endswith("ckpt-4")
    assert [Path(p).name for p in again.ckpt.manager.checkpoints] == ["ckpt-2", "ckpt-4"]


def test_all_checkpoints_damaged_stops_and_never_restarts_over_them(tmp_path):
    ckpt_dir = tmp_path / "ckpt"
    gan = Gan(ckpt_dir)
    gan.train(4, save_every=2)
    for step in (2, 4):
        _damage(ckpt_dir, step, "truncated data")
    again = Gan(ckpt_dir, seed=3)
    with pytest.raises(UserError, match="every checkpoint .* is damaged") as e:
        again.ckpt.restore(log=lambda *_: None)
    assert "\n" not in str(e.value)
    assert len(list((ckpt_dir / "damaged").glob("ckpt-*.index"))) == 2   # kept, never overwritten


def test_restore_refuses_a_checkpoint_of_another_model(tmp_path):
    Gan(tmp_path).train(2)
    setup.set_seed(0)
    other = keras.Sequential([keras.Input((2,)), keras.layers.Dense(5), keras.layers.Dense(3)])
    ckpt = checkpoint.Checkpointer(tmp_path, generator=other, g_opt=(keras.optimizers.Adam(), other))
    with pytest.raises(UserError, match="does not fit"):
        ckpt.restore()


# ---------------------------------------------------------------- NaN, Ctrl-C

@pytest.mark.parametrize("check_every", [1, 3])
def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path, check_every):
    gan = Gan(tmp_path)
    good = {}

    def step(batch):
        n = int(gan.ckpt.step.numpy())              # completed steps before this one
        losses = gan.step(batch)
        if n == 4:                                  # the 5th step blows up the weights
            for v in gan.g.trainable_variables:
                v.assign(v * np.nan)
            losses["g_loss"] = losses["g_loss"] * np.nan
        if n == 3:
            good["after4"] = [v.numpy() for v in gan.g.weights]
        return losses

    with pytest.raises(loop.NonFiniteLoss, match=r"loss g_loss is nan at step 5.*ckpt-4"):
        loop.train_loop(step, batches_from, gan.ckpt, 10, save_every=2, log_every=100,
                        check_every=check_every, log=lambda *_: None)
    assert Path(gan.ckpt.manager.latest_checkpoint).name == "ckpt-4"
    again = Gan(tmp_path, seed=9)
    assert again.ckpt.restore() == 4
    weights = [v.numpy() for v in again.g.weights]
    assert all(np.isfinite(w).all() for w in weights)
    assert_same(weights, good["after4"])


def test_sigint_saves_then_rerun_resumes(tmp_path):
    gan = Gan(tmp_path)
    before = signal.getsignal(signal.SIGINT)

    def step(batch):
        if int(gan.ckpt.step.numpy()) == 2:         # during the 3rd step
            os.kill(os.getpid(), signal.SIGINT)
        return gan.step(batch)

    with pytest.raises(loop.Interrupted, match="interrupted at step 3"):
        loop.train_loop(step, batches_from, gan.ckpt, 8, save_every=100, log=lambda *_: None)
    assert signal.getsignal(signal.SIGINT) is before
    assert Path(gan.ckpt.manager.latest_checkpoint).name == "ckpt-3"

    starts = []
    again = Gan(tmp_path, seed=4)
    assert again.ckpt.restore() == 3
    loop.train_loop(again.step, lambda s: starts.append(s) or batches_from(s), again.ckpt, 8,
                    log=lambda *_: None)
    assert starts == [3] and int(again.ckpt.step.numpy()) == 8
    assert Path(again.ckpt.manager.latest_checkpoint).name == "ckpt-8"


# ---------------------------------------------------------------- run dir, CLI, flags

def paper_parser():
    parser = flags.common_parser("test", dataset="celeb_a", steps=20_000, batch_size=96, image_size=128)
    parser.add_argument("--alpha", type=float, default=0.0004)
    return parser


def test_flags_parse_with_paper_defaults():
    args = flags.parse(paper_parser(), [])
    assert (args.dataset, args.steps, args.batch_size, args.image_size) == ("celeb_a", 20_000, 96, 128)
    assert (args.seed, args.vgg_weights, args.mixed_precision, args.strategy) == (0, "imagenet", "off", "default")
    assert args.xla is False and args.deterministic is False and args.smoke is False
    assert args._given == frozenset()
    args = flags.parse(paper_parser(), ["--smoke", "--steps", "7", "--xla", "--mixed-precision", "bfloat16"],
                       smoke=dict(steps=2, batch_size=2, image_size=32))
    assert (args.steps, args.batch_size, args.image_size, args.xla) == (7, 2, 32, True)
    assert args._given == {"smoke", "steps", "xla", "mixed_precision"}
    assert "_given" not in flags.config_of(args)
    with pytest.raises(SystemExit):
        flags.parse(paper_parser(), ["--steps", "0"])
    with pytest.raises(TypeError):
        flags.common_parser("x", stepz=3)


def test_config_written_checked_and_steps_raised(tmp_path, capsys):
    rd = str(tmp_path / "r")
    args = flags.parse(paper_parser(), ["--run-dir", rd, "--batch-size", "32", "--steps", "100"])
    first = run.open_run(args, log=None)
    saved = json.loads((tmp_path / "r" / "config.json").read_text())
    assert not first.resumed and saved["batch_size"] == 32 and saved["alpha"] == 0.0004
    assert "tensorflow" in saved["_versions"]

    # nothing trained yet (say the first try named a missing dataset): other settings are accepted
    fresh = run.open_run(flags.parse(paper_parser(), ["--run-dir", rd, "--batch-size", "8"]), log=None)
    assert not fresh.resumed and json.loads((tmp_path / "r" / "config.json").read_text())["batch_size"] == 8
    run.open_run(args, log=None)
    (tmp_path / "r" / "ckpt").mkdir()
    (tmp_path / "r" / "ckpt" / "checkpoint").write_text("model_checkpoint_path: 'ckpt-1'\n")

    with pytest.raises(UserError, match=r"alpha 0.0004 -> 0.001, batch_size 32 -> 64"):
        run.open_run(flags.parse(paper_parser(), ["--run-dir", rd, "--batch-size", "64", "--alpha", "0.001"]))

    args = flags.parse(paper_parser(), ["--run-dir", rd, "--steps", "300", "--log-every", "5"])
    again = run.open_run(args, log=None)
    assert again.resumed and again.adopted == ["batch_size"]
    assert args.batch_size == 32 and args.steps == 300
    saved = json.loads((tmp_path / "r" / "config.json").read_text())
    assert saved["steps"] == 300 and saved["batch_size"] == 32 and saved["log_every"] == 5
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == ["ckpt", "config.json",   # no temp files left
                                                                  "trainer.lock"]          # (held by this process)

    # without the record of typed flags every model setting must match exactly
    plain = paper_parser().parse_args(["--run-dir", rd, "--steps", "400"])
    with pytest.raises(UserError, match="batch_size 32 -> 96"):
        run.open_run(plain)


def test_a_setting_added_after_a_run_started_keeps_its_old_behaviour_on_resume(tmp_path):
    """open_run(legacy=...): a resumed run whose config.json predates a flag takes the behaviour it
    was trained with (paper D's --d-lr: D at --lr), unless the flag is typed; new runs get the new default."""
    def parser():
        p = paper_parser()
        p.add_argument("--lr", type=float, default=0.001)
        p.add_argument("--d-lr", type=float, default=0.0001)
        return p
    legacy = {"d_lr": lambda saved: saved["lr"]}
    rd = tmp_path / "r"
    run.open_run(flags.parse(parser(), ["--run-dir", str(rd), "--lr", "0.002"]), log=None)
    old = json.loads((rd / "config.json").read_text())
    del old["d_lr"]                                         # as written before --d-lr existed
    (rd / "config.json").write_text(json.dumps(old))
    (rd / "ckpt").mkdir()
    (rd / "ckpt" / "checkpoint").write_text("model_checkpoint_path: 'ckpt-1'\n")
    args = flags.parse(parser(), ["--run-dir", str(rd), "--steps", "50"])
    again = run.open_run(args, log=None, legacy=legacy)
    assert again.resumed and args.d_lr == 0.002 and json.loads((rd / "config.json").read_text())["d_lr"] == 0.002
    typed = flags.parse(parser(), ["--run-dir", str(tmp_path / "s"), "--d-lr", "0.0003"])
    assert run.open_run(typed, log=None, legacy=legacy).config["d_lr"] == 0.0003
    fresh = flags.parse(parser(), ["--run-dir", str(tmp_path / "t")])
    assert run.open_run(fresh, log=None, legacy=legacy).config["d_lr"] == 0.0001


def test_main_guard_one_line_and_exit_codes(capsys):
    def bad(_argv):
        raise UserError("no images in /x\nadd some")

    with pytest.raises(SystemExit) as e:
        cli(bad, [])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err == "error: no images in /x add some\n"

    def interrupted(_argv):
        raise loop.Interrupted("interrupted at step 3; checkpoint saved")

    with pytest.raises(SystemExit) as e:
        main_guard(interrupted)([])
    assert e.value.code == 130 and capsys.readouterr().err == "interrupted at step 3; checkpoint saved\n"
    with pytest.raises(SystemExit) as e:
        cli(lambda argv: None, [])
    assert e.value.code == 0


# ---------------------------------------------------------------- precision, XLA

def test_mixed_precision_policies_and_loss_scaling(tmp_path):
    assert setup.set_precision("float16") == "mixed_float16"
    assert keras.mixed_precision.global_policy().name == "mixed_float16"
    opt = setup.wrap_optimizer(keras.optimizers.Adam())
    assert isinstance(opt, keras.optimizers.LossScaleOptimizer)
    assert setup.wrap_optimizer(opt) is opt

    # a float16 step with loss scaling, checkpointed and restored with its loss scale
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4), keras.layers.Dense(1, dtype="float32")])
    ckpt = checkpoint.Checkpointer(tmp_path, model=model, opt=(opt, model))

    @tf.function
    def step(batch):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(model(batch["x"]) - 1.0))
            scaled = opt.scale_loss(loss)                  # inside the tape
        grads = tape.gradient(scaled, model.trainable_variables)
        opt.apply_gradients(zip(grads, model.trainable_variables))
        return {"loss": loss}

    data = lambda s: tf.data.Dataset.range(s, 100).map(lambda i: {"x": tf.ones([2, 3]) * tf.cast(i, tf.float32)})
    loop.train_loop(step, data, ckpt, 3, log=lambda *_: None)
    assert all(v.dtype == "float32" for v in model.weights) and model.layers[0].compute_dtype == "float16"
    scale, iterations = opt.dynamic_scale.numpy(), opt.iterations.numpy()
    assert scale < 2.0 ** 15 and iterations < 3        # float16 overflow: scale halved, update skipped
    opt2 = setup.wrap_optimizer(keras.optimizers.Adam())
    ckpt2 = checkpoint.Checkpointer(tmp_path, model=model, opt=(opt2, model))
    assert ckpt2.restore() == 3
    assert opt2.dynamic_scale.numpy() == scale and opt2.iterations.numpy() == iterations

    assert setup.set_precision("bfloat16") == "mixed_bfloat16"
    plain = keras.optimizers.Adam()
    assert setup.wrap_optimizer(plain) is plain
    assert setup.set_precision("off") == "float32"
    assert setup.wrap_optimizer(plain) is plain and keras.mixed_precision.global_policy().name == "float32"
    assert isinstance(setup.wrap_optimizer(keras.optimizers.Adam(), "float16"), keras.optimizers.LossScaleOptimizer)


def test_xla_step_matches_plain_step():
    results = []
    for xla in (False, True):
        setup.set_seed(0)
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="tanh"), keras.layers.Dense(1)])
        opt = keras.optimizers.Adam(0.1)
        opt.build(model.trainable_variables)

        def fn(batch):
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(tf.square(model(batch) - 1.0))
            opt.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
            return {"loss": loss}

        step = setup.make_step(fn, xla=xla)
        for i in range(3):
            step(tf.random.stateless_normal([4, 3], [0, i]))
        results.append([v.numpy() for v in model.weights])
        if xla:
            assert "HloModule" in step.experimental_get_compiler_ir(tf.zeros([4, 3]))(stage="hlo")
    np.testing.assert_allclose(np.concatenate([w.ravel() for w in results[0]]),
                               np.concatenate([w.ravel() for w in results[1]]), atol=1e-5)


# ---------------------------------------------------------------- images, TensorBoard

def test_image_grid_shape_values_and_png(tmp_path):
    inputs = np.zeros([3, 8, 8, 3], np.float32)
    inputs[0] = -1.0
    inputs[1] = 1.0
    mask = np.ones([3, 8, 8, 1], np.float32)
    patch = np.full([3, 4, 4, 3], 1.0, np.float32)
    grid = summaries.image_grid({"input": inputs, "mask": mask * 2 - 1, "patch": patch}, pad=2)
    assert grid.shape == (3 * 10 + 2, 3 * 10 + 2, 3) and grid.dtype == np.uint8
    assert (grid[2:10, 2:10] == 0).all() and (grid[2:10, 12:20] == 255).all()
    assert (grid[2:10, 22:30] == 128).all()                 # 0.0 -> round(127.5) = 128
    assert (grid[12:20, 2:10] == 255).all()                 # mask row, tiled to 3 channels
    assert (grid[0:2] == 255).all()                         # padding
    third = grid[22:30, 2:10]                               # 4x4 patch centred on black in an 8x8 cell
    assert (third[2:6, 2:6] == 255).all() and third[0, 0].tolist() == [0, 0, 0]
    assert summaries.to_uint8(np.array([[[-2.0, 0.999, 0.5]]])).tolist() == [[[0, 255, 191]]]
    path = write_png(tmp_path / "g" / "grid.png", grid)
    assert (tf.io.decode_png(tf.io.read_file(str(path))).numpy() == grid).all()


def read_events(log_dir):
    """(plugin, tag, step) -> value (scalar as float, image as its [width, height, png] strings)."""
    values = {}
    for event_file in Path(log_dir).glob("events.out.tfevents.*"):
        for record in tf.data.TFRecordDataset(str(event_file)):
            event = tf.compat.v1.Event.FromString(record.numpy())
            for v in event.summary.value:
                plugin = v.metadata.plugin_data.plugin_name
                values[(plugin, v.tag, event.step)] = tf.make_ndarray(v.tensor)
    return values


def test_tensorboard_scalars_images_and_final_line(tmp_path):
    ckpt = checkpoint.Checkpointer(tmp_path / "ckpt", w=tf.Variable(1.0))
    logs = summaries.Summaries(tmp_path / "logs", tmp_path / "images")
    lines = []

    def step(batch):
        return {"loss": tf.constant(float(ckpt.step.numpy()) + 1.0)}   # step n has loss n

    images = lambda s: {"input": np.zeros([2, 4, 4, 3]), "output": np.full([2, 4, 4, 3], 0.5)}
    means = loop.train_loop(step, lambda s: iter(range(s, 100)), ckpt, 5, summaries=logs, images_fn=images,
                            log_every=2, image_every=4, batch_size=8, log=lines.append)
    logs.close()
    events = read_events(tmp_path / "logs")
    assert events[("scalars", "loss", 2)] == 1.5 and events[("scalars", "loss", 4)] == 3.5
    assert events[("scalars", "loss", 5)] == 5.0 and ("scalars", "perf/images_per_s", 4) in events
    width, height, png = events[("images", "samples", 4)]
    grid = tf.io.decode_png(png).numpy()
    assert (int(width), int(height)) == (2 * 6 + 2, 2 * 6 + 2) == grid.shape[1::-1]
    assert (grid[2:6, 2:6] == 128).all() and (grid[8:12, 2:6] == 191).all()   # 0 -> 128, 0.5 -> 191
    assert means == {"loss": 5.0}
    assert [p.name for p in (tmp_path / "images").iterdir()] == ["samples_00000004.png"]
    assert lines[-1].startswith("done: step 5/5") and "images/s" in lines[-1]
    assert Path(ckpt.manager.latest_checkpoint).name == "ckpt-5"
    assert loop.train_loop(step, [], ckpt, 5, log=lines.append) == {} and "already at step 5" in lines[-1]


# ---------------------------------------------------------------- two replicas

TWO_REPLICAS = textwrap.dedent("""
    import os, sys, tempfile
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras, numpy as np
    from types import SimpleNamespace
    from training import checkpoint, distribute, loop, setup

    B = 3
    def data(start):
        def make(i):
            x = tf.random.stateless_normal([2 * B, 4], tf.stack([tf.constant(1, tf.int64), i]))
            return {"x": x, "y": tf.reduce_sum(x, axis=1, keepdims=True)}
        return tf.data.Dataset.range(start, 1000).map(make)

    def train(strategy_name, directory):
        args = SimpleNamespace(seed=0, deterministic=False, mixed_precision="off",
                               strategy=strategy_name, batch_size=2 * B, xla=False)
        strategy = setup.configure(args)
        with strategy.scope():
            model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2), keras.layers.Dense(1)])
            opt = keras.optimizers.SGD(0.05)
            ckpt = checkpoint.Checkpointer(directory, model=model, opt=(opt, model))
        init = [v.numpy() for v in model.weights]
        def per_replica(batch):
            with tf.GradientTape() as tape:
                per_example = tf.square(model(batch["x"]) - batch["y"])
                loss = distribute.global_mean(per_example, 2 * B)
            opt.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
            return {"loss": loss}
        step = setup.make_step(per_replica, strategy=strategy)
        ckpt.restore()
        loop.train_loop(step, lambda s: distribute.distribute_dataset(strategy, data(s)), ckpt, 4,
                        log=lambda *_: None)
        weights = [v.numpy() for v in model.weights]
        moved = max(float(np.abs(a - b).max()) for a, b in zip(weights, init))
        return strategy.num_replicas_in_sync, weights, moved

    tmp = tempfile.mkdtemp()
    n1, one, moved = train("default", tmp + "/one")
    n2, two, _ = train("mirrored", tmp + "/two")
    assert (n1, n2) == (1, 2), (n1, n2)
    diff = max(float(np.abs(a - b).max()) for a, b in zip(one, two))
    print("REPLICAS", n2, "DIFF", diff, "MOVED", moved)
    assert diff < 1e-6 and moved > 1e-3, (diff, moved)
""")


def test_two_replicas_equal_one_replica_with_double_batch():
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run([sys.executable, "-c", TWO_REPLICAS], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "REPLICAS 2 DIFF" in proc.stdout


def test_global_mean_and_replica_mean_single_replica():
    per_example = tf.constant([[1.0, 3.0], [5.0, 7.0]])
    assert float(distribute.global_mean(per_example)) == 4.0
    assert float(distribute.global_mean(per_example, global_batch_size=4)) == 4.0 * 2 / 4
    assert float(distribute.replica_mean(tf.constant(2.5))) == 2.5
    with pytest.raises(ValueError):
        distribute.global_mean(tf.constant(1.0))


# ---------------------------------------------------------------- a whole train script, end to end

TOY_SCRIPT = '''
"""Toy train script wired like the paper scripts."""
import keras
import tensorflow as tf

from errors import cli
from training import checkpoint, distribute, flags, loop, run, setup, summaries


def main(argv):
    parser = flags.common_parser(__doc__, steps=6, batch_size=2, image_size=8, save_every=2, log_every=2)
    parser.add_argument("--lr", type=float, default=0.01)
    args = flags.parse(parser, argv, smoke=dict(steps=2))
    r = run.open_run(args)
    strategy = setup.configure(args)
    with strategy.scope():
        g = keras.Sequential([keras.Input((args.image_size, args.image_size, 3)), keras.layers.Conv2D(3, 3, padding="same")])
        opt = setup.wrap_optimizer(keras.optimizers.Adam(args.lr))
        ckpt = checkpoint.Checkpointer(r.ckpt_dir, keep=args.keep, generator=g, g_opt=(opt, g))

    def train_step(batch):
        with tf.GradientTape() as tape:
            loss = distribute.global_mean(tf.abs(g(batch, training=True) - batch))
            scaled = opt.scale_loss(loss)
        opt.apply_gradients(zip(tape.gradient(scaled, g.trainable_variables), g.trainable_variables))
        return {"l1": loss}

    def data(start):
        shape = [args.batch_size, args.image_size, args.image_size, 3]
        return tf.data.Dataset.range(start, 10**9).map(lambda i: tf.random.stateless_uniform(
            shape, tf.stack([tf.constant(args.seed, tf.int64), i]), -1, 1))

    fixed = next(iter(data(0)))
    ckpt.restore()
    loop.train_loop(setup.make_step(train_step, args.xla, strategy), data, ckpt,
                    summaries=summaries.Summaries(r.log_dir, r.image_dir),
                    images_fn=lambda s: {"input": fixed, "output": g(fixed)}, **loop.loop_flags(args))


if __name__ == "__main__":
    cli(main)
'''


def test_train_script_end_to_end(tmp_path):
    script = tmp_path / "train_toy.py"
    script.write_text(TOY_SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "2"}
    rd = str(tmp_path / "run")

    def call(*argv):
        return subprocess.run([sys.executable, str(script), "--run-dir", rd, *argv], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=300)

    first = call("--steps", "3")
    assert first.returncode == 0, first.stderr[-3000:]
    assert "done: step 3/3" in first.stdout
    second = call("--steps", "4", "--image-every", "4")
    assert second.returncode == 0, second.stderr[-3000:]
    assert "reopening run" in second.stdout and "done: step 4/4" in second.stdout
    assert sorted(p.name for p in (tmp_path / "run" / "ckpt").glob("*.index")) == [
        "ckpt-2.index", "ckpt-3.index", "ckpt-4.index"]
    assert (tmp_path / "run" / "images" / "samples_00000004.png").exists()
    assert list((tmp_path / "run" / "logs").glob("events.out.tfevents.*"))
    refused = call("--lr", "0.1")
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines()[-1] == (
        f"error: {rd} was started with other settings (lr 0.01 -> 0.1); "
        f"repeat the saved values or use a new --run-dir")


def test_export_round_trip_and_errors(tmp_path):
    """An exported model reloads with identical outputs; bad paths and files are one-line UserErrors."""
    import keras
    import numpy as np
    import pytest
    from errors import UserError
    from training.export import export_model, load_exported

    inp = keras.Input((8, 8, 3))
    model = keras.Model(inp, keras.layers.Conv2D(2, 3, padding="same")(inp))
    path = export_model(model, tmp_path / "sub" / "net.keras")
    x = np.random.default_rng(0).normal(size=(2, 8, 8, 3)).astype("float32")
    np.testing.assert_array_equal(load_exported(path)(x), model(x))
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]
    with pytest.raises(UserError, match="no model file"):
        load_exported(tmp_path / "missing.keras")
    (tmp_path / "bad.keras").write_bytes(b"not a zip")
    with pytest.raises(UserError, match="is not a Keras model file") as e:   # not "file not found"
        load_exported(tmp_path / "bad.keras")
    assert "\n" not in str(e.value)
    import zipfile
    with zipfile.ZipFile(tmp_path / "other.keras", "w") as z:                 # a zip, but no Keras model
        z.writestr("readme.txt", "hello")
    with pytest.raises(UserError, match="cannot load model") as e:
        load_exported(tmp_path / "other.keras")
    assert "\n" not in str(e.value)
    with pytest.raises(UserError, match=".keras"):
        export_model(model, tmp_path / "net.h5")


def test_restore_from_finds_a_model_whose_variables_its_optimizer_also_tracks(tmp_path):
    """A BatchNorm-free critic: every variable is reachable through the optimizer too, so variable
    paths name only one owner; restore_from must still find the model by its object name."""
    def critic():
        return keras.Sequential([keras.Input((3,)), keras.layers.Dense(4), keras.layers.Dense(1)])

    setup.set_seed(1)
    c = critic()
    opt = keras.optimizers.Adam(1e-3)
    ck = checkpoint.Checkpointer(tmp_path / "ckpt", a_opt=(opt, c), critic=c)
    ck.restore()
    ck.step.assign(1)
    ck.save()
    assert {"a_opt", "critic", "step"} <= checkpoint.saved_objects(ck.latest)
    setup.set_seed(2)
    other = critic()
    checkpoint.restore_from(tmp_path, critic=other)
    for a, b in zip(other.weights, c.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_one_trainer_per_run_directory(tmp_path):
    """A second trainer on a live run directory exits 2 with one line naming the holder; a lock left by
    a killed trainer is taken over with a note; a clean exit leaves nothing to take over."""
    from training import lock
    script = tmp_path / "train_toy.py"
    script.write_text(TOY_SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "2"}
    rd = tmp_path / "run"
    rd.mkdir()
    lock.acquire(rd, log=lambda *_: None)                  # this process is a live trainer of rd
    try:
        busy = subprocess.run([sys.executable, str(script), "--run-dir", str(rd), "--steps", "1"], cwd=tmp_path,
                              env=env, capture_output=True, text=True, timeout=300)
    finally:
        lock.release(rd)
    assert busy.returncode == 2
    err = busy.stderr.strip().splitlines()
    assert err[-1].startswith(f"error: {rd} is in use by another trainer (host ") and f"PID {os.getpid()}," in err[-1]
    assert not list(rd.glob("ckpt/*.index"))               # it wrote no checkpoint
    killed = subprocess.run([sys.executable, "-c", "import os, sys; from training import lock; "
                             "lock.acquire(sys.argv[1]); os.kill(os.getpid(), 9)", str(rd)],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert killed.returncode == -9
    notes = []
    lock.acquire(rd, log=notes.append)
    lock.release(rd)
    assert len(notes) == 1 and "left by a trainer that is gone" in notes[0] and "PID " in notes[0]
    lock.acquire(rd, log=notes.append)                     # released cleanly: no note this time
    lock.release(rd)
    assert len(notes) == 1
