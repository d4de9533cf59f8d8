"""Paper C (models/wgan.py, train_wgan_completion.py): the n_critic schedule, weight clipping,
the gradient penalty, smoke runs of every mode, the latent search and its command `inpaint.py latent`
(and the old spelling `train_wgan_completion.py complete`)."""
import json

import keras
import numpy as np
import pytest
import tensorflow as tf

import inpaint
import train_wgan_completion as twc
from errors import UserError
from evaluation import common, protocol
from inpainters import latent, latent_command
from losses.pixel import context_weights, masked_l1
from models import wgan

S, W, Z = 16, 4, 8


# ----------------------------------------------------------------------------- schedule

def test_n_critic_schedule_is_arjovskys():
    got = [wgan.n_critic_schedule(i) for i in range(1502)]
    want = [100 if (i < 25 or i % 500 == 0) else 5 for i in range(1502)]
    assert got == want
    assert got[:26] == [100] * 25 + [5] and got[499:502] == [5, 100, 5]
    tf_got = [int(wgan.n_critic_schedule(tf.constant(i, tf.int64))) for i in (0, 24, 25, 499, 500, 501, 1000)]
    assert tf_got == [100, 100, 5, 5, 100, 5, 100]


@pytest.mark.parametrize("kw", [{}, dict(n_critic=5, warm=3, warm_steps=2, every=4),
                                dict(n_critic=1, warm=1, warm_steps=0, every=1), dict(warm_steps=0, every=7)])
def test_critic_steps_before_is_the_running_sum(kw):
    total = 0
    for k in range(1300):
        assert wgan.critic_steps_before(k, **kw) == total
        total += wgan.n_critic_schedule(k, **kw)


# ----------------------------------------------------------------------------- train step

def tiny_step(flavour, warm=3, gp_weight=10.0, seed=0):
    keras.utils.set_random_seed(seed)
    G = wgan.generator(Z, S, W)
    D = wgan.critic(flavour, S, W)
    g_opt, d_opt = twc.make_optimizers(flavour)
    step_var = tf.Variable(0, dtype=tf.int64)
    schedule = (dict(n_critic=5, warm=warm, warm_steps=1, every=500) if flavour == "wgan"
                else dict(n_critic=1 if flavour == "bce" else 5, warm=1 if flavour == "bce" else 5, warm_steps=0, every=1))
    step = twc.make_train_step(G, D, g_opt, d_opt, step_var, flavour, schedule, 2, Z, seed=0, gp_weight=gp_weight)
    return G, D, step, step_var


def numbered_batches():
    """Batch k is filled with the value k, so the iterator's position is visible."""
    return iter(tf.data.Dataset.range(10**6).map(lambda k: tf.fill([2, S, S, 3], tf.cast(k, tf.float32) / 1e6)))


def test_wgan_step_clips_weights_and_reads_n_critic_batches():
    G, D, step, step_var = tiny_step("wgan", warm=3)
    assert max(float(tf.reduce_max(tf.abs(v))) for v in D.trainable_variables) > 0.01   # BN scale ~1
    it = numbered_batches()
    out = step(it)
    assert float(out["n_critic"]) == 3.0
    assert all(float(tf.reduce_max(tf.abs(v))) <= 0.01 + 1e-7 for v in D.trainable_variables)
    assert float(next(it)[0, 0, 0, 0]) == pytest.approx(3 / 1e6)     # warm step read batches 0, 1, 2
    step_var.assign(1)                                                # generator step 1: 5 critic steps
    out = step(it)
    assert float(out["n_critic"]) == 5.0
    assert float(next(it)[0, 0, 0, 0]) == pytest.approx(9 / 1e6)     # read 4..8
    assert "wasserstein_estimate" in out and "loss/gp" not in out


def test_gradient_penalty_is_used_under_gp():
    weights = {}
    for gp_weight in (10.0, 0.0):
        _, D, step, _ = tiny_step("gp", gp_weight=gp_weight)
        out = step(numbered_batches())
        assert float(out["n_critic"]) == 5.0
        assert (float(out["loss/gp"]) > 0) == (gp_weight > 0)
        weights[gp_weight] = [v.numpy() for v in D.trainable_variables]
    assert any(not np.allclose(a, b) for a, b in zip(weights[10.0], weights[0.0]))   # the penalty moved D


def test_bce_step_is_one_to_one():
    _, _, step, _ = tiny_step("bce")
    it = numbered_batches()
    out = step(it)
    assert float(out["n_critic"]) == 1.0 and float(next(it)[0, 0, 0, 0]) == pytest.approx(1 / 1e6)
    assert np.isfinite(float(out["loss/d"])) and "wasserstein_estimate" not in out


# ----------------------------------------------------------------------------- smoke runs + complete

@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("c_runs")
    out = {}
    for name, extra in (("wgan", []), ("gp", ["--gp"]), ("bce", ["--loss", "bce"])):
        rd = base / name
        assert twc.main(["train", "--smoke", "--run-dir", str(rd), *extra]) == 0
        out[name] = rd
    return out


def test_smoke_runs_of_every_mode(runs):
    for name, rd in runs.items():
        config = json.loads((rd / "config.json").read_text())
        assert config["paper"] == "C" and wgan.flavour_of(config) == name
        assert (rd / "ckpt" / "ckpt-3.index").exists()
    with pytest.raises(UserError, match="--gp"):
        twc.main(["train", "--smoke", "--gp", "--loss", "bce", "--run-dir", str(runs["bce"].parent / "x")])


def fixed_batch():
    rng = np.random.default_rng(0)
    images = np.clip(rng.normal(0, 0.5, (3, S, S, 3)), -1, 1).astype("float32")
    masks = np.zeros((3, S, S, 1), "float32")
    masks[:, 4:12, 4:12] = 1
    return images, masks


@pytest.mark.parametrize("flavour", ["wgan", "bce"])
def test_latent_search_lowers_contextual_loss_and_keeps_z_in_range(runs, flavour):
    G, D, _ = latent.load_trained(runs[flavour])
    images, masks = fixed_batch()
    res = latent.latent_search(G, D, images, masks, flavour, iterations=40, lr=0.05, progress=False, record_every=1)
    hist = [h for _, h in res["history"]]
    assert hist[-1] < hist[0]
    z = res["z"].numpy()
    assert z.shape == (3, G.input_shape[-1]) and z.min() >= -1.0 and z.max() <= 1.0
    assert np.abs(z).max() == 1.0                       # some coordinates were pushed out and clipped back
    assert res["generated"].shape == (3, S, S, 3)
    composite = masks * res["generated"].numpy() + (1 - masks) * images
    np.testing.assert_array_equal(composite[masks[..., 0] == 0], images[masks[..., 0] == 0])


def test_perceptual_loss_forms():
    d = tf.constant([[0.25], [0.5]])
    np.testing.assert_allclose(latent.perceptual_loss(d, "bce").numpy(), np.log([0.75, 0.5]), rtol=1e-6)
    np.testing.assert_allclose(latent.perceptual_loss(tf.constant([[2.0], [-3.0]]), "wgan").numpy(), [-2.0, 3.0])


def test_weighted_context_is_yehs(runs):
    from scipy.signal import convolve2d

    G, D, _ = latent.load_trained(runs["gp"])
    images, masks = fixed_batch()
    hole = masks[0, ..., 0]
    yeh = convolve2d(hole, np.ones((7, 7)) / 49.0, mode="same", boundary="symm") * (1 - hole)   # Yeh's code
    np.testing.assert_allclose(context_weights(masks).numpy()[0, ..., 0], yeh, atol=1e-6)
    assert yeh[0, 0] == 0 and yeh[3, 8] > 0                 # far known pixels do not count, the rim does
    plain = latent.latent_search(G, D, images, masks, "gp", iterations=1, progress=False)
    weighted = latent.latent_search(G, D, images, masks, "gp", iterations=1, weighted=True, progress=False)
    gen = weighted["generated"]
    want = masked_l1(gen, images, 1 - masks, weights=context_weights(masks), per_example=True)
    np.testing.assert_allclose(weighted["contextual"].numpy(), want.numpy(), rtol=1e-5)
    assert not np.allclose(weighted["contextual"].numpy(), plain["contextual"].numpy())


def test_latent_inpainter_and_the_latent_command(runs, tmp_path, capsys, monkeypatch):
    inp = latent.latent_inpainter(runs["bce"], iterations=3, progress=False)
    assert inp.image_size == S and "latent search" in inp.name
    from inpainters import load_inpainter                  # inpaint.py's entry: a paper C run dir
    assert isinstance(load_inpainter(runs["gp"]), latent.LatentInpainter)
    images, masks = fixed_batch()
    pred = inp.predict(images, masks)
    assert pred.shape == (3, S, S, 3) and np.abs(pred).max() <= 1.0
    with pytest.raises(UserError):
        inp.predict(images[:, :8], masks)
    # the same search again (a new inpainter of the same run, as demo.py's second table A) is not redone
    searches = []
    monkeypatch.setattr(latent, "latent_search", lambda *a, **k: searches.append(1) or {"generated": tf.zeros(1)})
    again = latent.latent_inpainter(runs["bce"], iterations=3, progress=False)
    np.testing.assert_array_equal(again.predict(images, masks), pred)
    assert not searches
    again.predict(images, 1 - masks)                                   # other masks: searched
    assert searches
    monkeypatch.undo()

    out = tmp_path / "done"
    assert inpaint.main(["latent", "--run-dir", str(runs["wgan"]), "--iterations", "5", "--mask", "center",
                         "--out", str(out)]) == 0
    assert "completed 3 images" in capsys.readouterr().out
    from PIL import Image
    for kind in ("real", "masked", "composited", "completed"):
        assert len(list(out.glob(f"{kind}_*.png"))) == 3
    assert (out / "figure.png").is_file()
    real = np.asarray(Image.open(out / "real_0000.png"))
    done = np.asarray(Image.open(out / "completed_0000.png"))
    comp = np.asarray(Image.open(out / "composited_0000.png"))
    known = np.ones((S, S), bool)
    known[S // 4:S // 4 + S // 2, S // 4:S // 4 + S // 2] = False
    np.testing.assert_array_equal(done[known], real[known])    # known pixels kept after blending
    np.testing.assert_array_equal(comp[known], real[known])

    with pytest.raises(UserError, match="not a trained run"):
        latent.latent_inpainter(tmp_path / "nothing")
    mask_png = tmp_path / "empty.png"
    Image.fromarray(np.zeros((S, S), np.uint8)).save(mask_png)
    with pytest.raises(UserError, match="no hole"):
        latent_command.load_masks(str(mask_png), 1, S, 0)


def test_resume_equals_uninterrupted(runs, tmp_path):
    """Steps 1-2, then step 3 in a new call: the real-image stream resumes after the critic batches
    already read (critic_steps_before), so the weights match the uninterrupted 3-step smoke run."""
    rd = tmp_path / "resumed"
    assert twc.main(["train", "--smoke", "--run-dir", str(rd), "--steps", "2"]) == 0
    assert twc.main(["train", "--smoke", "--run-dir", str(rd), "--steps", "3"]) == 0
    G1, D1, _ = latent.load_trained(runs["wgan"])
    G2, D2, _ = latent.load_trained(rd)
    for a, b in zip(G1.weights + D1.weights, G2.weights + D2.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-6)


def test_a_rerun_without_gp_continues_the_wgan_gp_run(runs, tmp_path):
    """--gp is taken from config.json when not typed again: the critic built on resume is the
    WGAN-GP one, and the resumed run ends where the uninterrupted one does."""
    rd = tmp_path / "gp_resumed"
    assert twc.main(["train", "--smoke", "--gp", "--run-dir", str(rd), "--steps", "2"]) == 0
    assert twc.main(["train", "--smoke", "--run-dir", str(rd), "--steps", "3"]) == 0
    assert wgan.flavour_of(json.loads((rd / "config.json").read_text())) == "gp"
    G1, D1, _ = latent.load_trained(runs["gp"])
    G2, D2, _ = latent.load_trained(rd)
    for a, b in zip(G1.weights + D1.weights, G2.weights + D2.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-6)


def test_step0_twin_of_the_latent_search_searches_an_untrained_prior(runs):
    """evaluate --step0 for paper C: the same latent search in a fresh G and D (what training started from)."""
    inp = latent.latent_inpainter(runs["bce"], iterations=3, progress=False)
    row, twin = protocol.with_step0([common.Method("DCGAN", "x", fn=inp)])
    assert row.fn is inp and twin.name == "DCGAN (step 0)" and twin.fn.G is not inp.G and twin.fn.D is not inp.D
    assert not np.allclose(twin.fn.G.weights[0].numpy(), inp.G.weights[0].numpy())
    images, masks = fixed_batch()
    assert not np.allclose(twin.fn.predict(images, masks), inp.predict(images, masks))


def test_old_complete_spelling_runs_inpaint_py_latent(runs, tmp_path, capfd):
    """`train_wgan_completion.py complete` (one more release): one note line, then `inpaint.py latent`
    with the same flags in its own process (a train script imports no user tool)."""
    out = tmp_path / "old"
    assert twc.main(["complete", "--run-dir", str(runs["wgan"]), "--iterations", "2", "--limit", "1",
                     "--out", str(out)]) == 0
    captured = capfd.readouterr()
    notes = [line for line in captured.err.splitlines() if line.startswith("note:")]
    assert notes == ['note: "train_wgan_completion.py complete" moved to "python inpaint.py latent ..."; '
                     'running that'], captured.err
    assert "completed 1 images" in captured.out
    assert (out / "completed_0000.png").is_file() and (out / "figure.png").is_file()
