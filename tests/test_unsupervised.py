"""Paper B (models/unsupervised.py, train_unsupervised.py): no clean image of a damaged example ever
reaches a loss; the two data halves are disjoint; export round trip; a smoke run."""
import keras
import numpy as np
import pytest
import tensorflow as tf

import train_unsupervised as tu
from data.sources import samples_source
from models import unsupervised
from training.export import export_model

S, W = 16, 4


def tiny():
    keras.utils.set_random_seed(0)
    return unsupervised.inpainting_generator(S, W), unsupervised.discriminator(S, W)


def test_inpainting_generator_plan_at_paper_size():
    g = unsupervised.inpainting_generator()
    assert [t.shape for t in g.inputs] == [(None, 64, 64, 3), (None, 64, 64, 1)]
    assert g.output_shape == (None, 64, 64, 3)
    enc = g.get_layer("encoder")
    assert enc.input_shape == (None, 64, 64, 4) and enc.output_shape == (None, 100)
    plan = [(l.filters, l.strides, l.output.shape[1]) for l in enc.layers if isinstance(l, keras.layers.Conv2D)]
    assert plan == [(64, (2, 2), 32), (128, (2, 2), 16), (256, (2, 2), 8), (512, (2, 2), 4), (100, (1, 1), 1)]
    dec = g.get_layer("dcgan_generator")
    assert sum(int(np.prod(v.shape)) for v in dec.trainable_variables) == 3_576_704
    enc_params = 4 * 64 * 16 + 64 * 128 * 16 + 128 * 256 * 16 + 256 * 512 * 16 + 512 * 100 * 16 + 2 * (128 + 256 + 512)
    assert sum(int(np.prod(v.shape)) for v in enc.trainable_variables) == enc_params


def batch_from(clean, mask, real):
    """What the pipeline hands the step: the damaged view of `clean`, the mask, real images."""
    mask = tf.constant(mask)
    return dict(damaged=tu.damaged_view(clean, mask), mask=mask, real=tf.constant(real))


def test_ground_truth_of_damaged_images_never_reaches_a_loss():
    """Structural + dependency check: the losses and every gradient are identical whatever the hole
    of a damaged image held, and d(loss)/d(clean pixel) is exactly 0 in the hole."""
    G, D = tiny()
    rng = np.random.default_rng(1)
    clean = rng.uniform(-1, 1, (4, S, S, 3)).astype("float32")
    other = clean.copy()
    mask = np.zeros((4, S, S, 1), "float32")
    mask[:, 4:12, 3:10] = 1.0
    other[mask[..., 0] > 0] = rng.uniform(-1, 1, (int(mask.sum()), 3))     # a different ground truth
    real = rng.uniform(-1, 1, (4, S, S, 3)).astype("float32")

    def losses_and_grads(clean_x):
        x = tf.constant(clean_x)
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(x)
            batch = batch_from(x, mask, real)
            ld = tu.d_loss(G, D, batch, training=False)
            lg = tu.g_loss(G, D, batch, training=False)
        grads = [tape.gradient(ld, D.trainable_variables), tape.gradient(lg, G.trainable_variables)]
        return (ld, lg), grads, tape.gradient(lg, x), tape.gradient(ld, x)

    (ld1, lg1), g1, dx_g, dx_d = losses_and_grads(clean)
    (ld2, lg2), g2, _, _ = losses_and_grads(other)
    assert float(ld1) == float(ld2) and float(lg1) == float(lg2)
    for a, b in zip(tf.nest.flatten(g1), tf.nest.flatten(g2)):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    hole = np.broadcast_to(mask, clean.shape) > 0
    assert np.all(dx_g.numpy()[hole] == 0.0)
    assert np.abs(dx_g.numpy()[~hole]).sum() > 0          # the known pixels do matter
    assert dx_d is None or np.all(dx_d.numpy()[hole] == 0.0)


def test_generator_ignores_whatever_the_hole_holds():
    G, _ = tiny()
    rng = np.random.default_rng(2)
    x = rng.uniform(-1, 1, (2, S, S, 3)).astype("float32")
    mask = np.zeros((2, S, S, 1), "float32")
    mask[:, 5:11, 5:11] = 1
    y = np.where(mask > 0, 0.7, x).astype("float32")
    np.testing.assert_array_equal(G([x, mask], training=False).numpy(), G([y, mask], training=False).numpy())


def test_step_takes_only_damaged_and_real_batches():
    G, D = tiny()
    opt = lambda: keras.optimizers.Adam(2e-4, beta_1=0.5)
    step = tu.make_train_step(G, D, opt(), opt())
    z = np.zeros((2, S, S, 3), "float32")
    m = np.zeros((2, S, S, 1), "float32")
    m[:, 2:6, 2:6] = 1
    with pytest.raises(ValueError, match="exactly"):
        step(dict(damaged=z, mask=m, real=z, image=z))           # a clean image cannot be passed in
    out = step(dict(damaged=z, mask=m, real=z))
    assert set(out) == {"loss/d", "loss/g"} and np.isfinite(float(out["loss/d"]))


def test_halves_are_disjoint_and_pipeline_yields_no_clean_image(tmp_path):
    damaged, real, text = tu.split_halves("samples")
    whole = samples_source("train").paths
    assert not set(damaged.paths) & set(real.paths)
    assert sorted(damaged.paths + real.paths) == sorted(whole)
    assert damaged.paths == whole[0::2] and "disjoint" in text and "even" in text
    # a folder too
    import cv2
    for i in range(5):
        cv2.imwrite(str(tmp_path / f"{i}.png"), np.full((20, 20, 3), 40 * i, np.uint8))
    d2, r2, _ = tu.split_halves(str(tmp_path))
    assert (len(d2), len(r2)) == (3, 2) and not set(d2.paths) & set(r2.paths)

    batch = next(iter(tu.training_batches(damaged, real, S, 8, seed=3, mask="mixed")))
    assert set(batch) == tu.STEP_KEYS
    m = batch["mask"].numpy()
    assert np.all(batch["damaged"].numpy()[np.broadcast_to(m, (8, S, S, 3)) > 0] == 0.0)
    center = np.zeros((S, S, 1), "float32")
    center[S // 4:S // 4 + S // 2, S // 4:S // 4 + S // 2] = 1
    is_center = [np.array_equal(mi, center) for mi in m]
    assert any(is_center) and not all(is_center)              # mixed: centre squares and rectangles
    again = next(iter(tu.training_batches(damaged, real, S, 8, seed=3, mask="mixed")))
    np.testing.assert_array_equal(again["mask"].numpy(), m)   # deterministic (resumable)


def test_real_half_is_shuffled_independently_of_the_damaged_half(tmp_path):
    """Section 4: x_m and x_r are drawn independently. Two halves of equal length shuffled with one
    seed would meet in lock step (image 2k always beside 2k + 1); each half has its own stream."""
    import cv2
    for i in range(16):
        cv2.imwrite(str(tmp_path / f"{i:02d}.png"), np.full((20, 20, 3), 10 * i, np.uint8))
    damaged, real, _ = tu.split_halves(str(tmp_path))
    assert len(damaged) == len(real) == 8
    ids = lambda x: np.rint((x[:, 0, 0, 0] + 1.0) * 127.5 / 10).astype(int)   # noqa: E731 (corner is known)
    pairs = []
    for batch in tu.training_batches(damaged, real, S, 4, seed=3, mask="center").take(8):
        pairs += zip(ids(batch["damaged"].numpy()), ids(batch["real"].numpy()))
    assert all(d % 2 == 0 and r % 2 == 1 for d, r in pairs)   # still the two disjoint halves
    assert sum(r == d + 1 for d, r in pairs) < len(pairs) // 2
    assert tu.real_stream_seed(3) != 3 and tu.real_stream_seed(3) == tu.real_stream_seed(3)


def test_export_round_trip(tmp_path):
    G, _ = tiny()
    path = export_model(G, tmp_path / "export" / "inpainter.keras")
    loaded = keras.saving.load_model(path, compile=False)
    rng = np.random.default_rng(4)
    x = rng.uniform(-1, 1, (2, S, S, 3)).astype("float32")
    m = (rng.uniform(size=(2, S, S, 1)) < 0.3).astype("float32")
    np.testing.assert_array_equal(loaded([x, m]).numpy(), G([x, m], training=False).numpy())
    assert loaded is not G and loaded.output_shape == (None, S, S, 3)


def test_smoke_run(tmp_path, capsys):
    rd = tmp_path / "run"
    assert tu.main(["--smoke", "--run-dir", str(rd)]) == 0
    out = capsys.readouterr().out
    assert "paper B split (disjoint): damaged x_m = even positions of samples (6 images)" in out
    assert "never reach a loss" in out and "done: step 3/3" in out
    assert (rd / "export" / "inpainter.keras").is_file()
    import json
    assert json.loads((rd / "config.json").read_text())["paper"] == "B"
    from inpainters import load_inpainter                  # what inpaint.py / evaluate.py use
    inp = load_inpainter(rd)
    assert inp.image_size == 16
    assert inp.predict(np.zeros((2, 16, 16, 3)), np.ones((2, 16, 16, 1))).shape == (2, 16, 16, 3)
