"""losses/: hand-computed values, Keras BCE agreement, GAN gradient behaviour, VGG extractor."""
import math

import keras
import numpy as np
import pytest
import scipy.signal
import tensorflow as tf

from errors import UserError
from losses import adversarial as adv
from losses import perceptual as perc
from losses import pixel
from train_deblur import PERCEPTUAL_WEIGHTS as E_PERCEPTUAL, TEXTURE_WEIGHTS as E_TEXTURE
from train_iizuka import VGG_LAYERS as A_LAYERS


def _t(x):
    return tf.constant(np.asarray(x, np.float32))


# ---------------------------------------------------------------- adversarial

def test_bce_on_probabilities_by_hand_and_against_keras():
    real, fake = [[0.9], [0.6]], [[0.2], [0.5]]
    d = adv.bce_d_loss(_t(real), _t(fake))
    hand = -(math.log(0.9) + math.log(0.6)) / 2 - (math.log(0.8) + math.log(0.5)) / 2
    assert float(d) == pytest.approx(hand, rel=1e-6)
    bce = keras.losses.BinaryCrossentropy()
    keras_d = bce(np.ones((2, 1)), _t(real)) + bce(np.zeros((2, 1)), _t(fake))
    assert float(d) == pytest.approx(float(keras_d), rel=1e-6)
    # generator: non-saturating -log D(G), saturating log(1 - D(G))
    assert float(adv.bce_g_loss(_t(fake))) == pytest.approx(-(math.log(0.2) + math.log(0.5)) / 2, rel=1e-6)
    assert float(adv.bce_g_loss(_t(fake))) == pytest.approx(float(bce(np.ones((2, 1)), _t(fake))), rel=1e-6)
    assert float(adv.bce_g_loss(_t(fake), saturating=True)) == pytest.approx(
        (math.log(0.8) + math.log(0.5)) / 2, rel=1e-6)
    # probabilities 0 and 1 are clipped like Keras (finite)
    extreme = adv.bce_d_loss(_t([[0.0]]), _t([[1.0]]))
    assert float(extreme) == pytest.approx(float(bce(np.ones((1, 1)), _t([[0.0]])) + bce(np.zeros((1, 1)), _t([[1.0]]))), rel=1e-5)


def test_bce_from_logits_against_keras_and_probabilities():
    real, fake = _t([[2.0], [-0.5], [30.0]]), _t([[-1.0], [0.3], [-40.0]])
    bce = keras.losses.BinaryCrossentropy(from_logits=True)
    keras_d = bce(np.ones((3, 1)), real) + bce(np.zeros((3, 1)), fake)
    assert float(adv.bce_d_loss(real, fake, from_logits=True)) == pytest.approx(float(keras_d), rel=1e-6)
    assert float(adv.bce_g_loss(fake, from_logits=True)) == pytest.approx(float(bce(np.ones((3, 1)), fake)), rel=1e-6)
    moderate = _t([[-1.0], [0.3]])
    assert float(adv.bce_g_loss(moderate, saturating=True, from_logits=True)) == pytest.approx(
        float(adv.bce_g_loss(tf.sigmoid(moderate), saturating=True)), rel=1e-5)


def test_saturating_gradient_vanishes_where_non_saturating_does_not():
    logit = tf.Variable([[-6.0]])  # D(G) = sigmoid(-6) ~ 0.0025: D confidently rejects the fake
    with tf.GradientTape(persistent=True) as tape:
        sat = adv.bce_g_loss(logit, saturating=True, from_logits=True)
        non = adv.bce_g_loss(logit, saturating=False, from_logits=True)
    g_sat, g_non = float(tape.gradient(sat, logit)[0, 0]), float(tape.gradient(non, logit)[0, 0])
    d = 1 / (1 + math.exp(6))
    assert g_sat == pytest.approx(-d, rel=1e-4)  # d/dl log(1 - sigmoid(l)) = -sigmoid(l)
    assert g_non == pytest.approx(-(1 - d), rel=1e-4)  # d/dl -log sigmoid(l) = -(1 - sigmoid(l))
    assert abs(g_non) > 100 * abs(g_sat)
    # both push the logit up (descent increases D(G))
    assert g_sat < 0 and g_non < 0


def test_wasserstein_values_and_signs():
    real, fake = tf.Variable([3.0, 5.0]), tf.Variable([1.0, 2.0])
    with tf.GradientTape(persistent=True) as tape:
        d = adv.wgan_d_loss(real, fake)
        g = adv.wgan_g_loss(fake)
    assert float(d) == pytest.approx(1.5 - 4.0)
    assert float(g) == pytest.approx(-1.5)
    np.testing.assert_allclose(tape.gradient(d, real), [-0.5, -0.5])  # critic raises real scores
    np.testing.assert_allclose(tape.gradient(d, fake), [0.5, 0.5])  # and lowers fake ones
    np.testing.assert_allclose(tape.gradient(g, fake), [-0.5, -0.5])  # generator raises fake scores


def _linear_critic(w):
    w = tf.constant(w, tf.float32)
    return lambda x: tf.reduce_sum(x * w, axis=[1, 2, 3])


def test_gradient_penalty_linear_critics():
    rng = np.random.default_rng(1)
    real, fake = _t(rng.normal(size=(4, 2, 2, 3))), _t(rng.normal(size=(4, 2, 2, 3)))
    w = rng.normal(size=(1, 2, 2, 3))
    unit = w / np.linalg.norm(w)
    seed = tf.constant([3, 4], tf.int32)
    gp = tf.function(adv.gradient_penalty)
    assert float(gp(_linear_critic(unit), real, fake, seed)) == pytest.approx(0.0, abs=1e-6)
    scaled = 3.0 * unit  # ||w|| = 3 -> (3 - 1)^2 = 4 for every sample, whatever alpha
    assert float(gp(_linear_critic(scaled), real, fake, seed)) == pytest.approx(4.0, rel=1e-5)
    assert float(adv.gradient_penalty(_linear_critic(scaled), real, fake, seed, weight=adv.GP_WEIGHT)) == pytest.approx(40.0, rel=1e-5)


def test_gradient_penalty_alpha_per_sample_and_stateless():
    # critic sum(x^2)/2 has gradient x; with fake = 0, x_hat = alpha_i * real_i, ||grad|| = alpha_i ||real_i||
    real = _t(np.arange(1, 25, dtype=np.float32).reshape(4, 1, 2, 3) / 10)
    fake = tf.zeros_like(real)
    critic = lambda x: 0.5 * tf.reduce_sum(tf.square(x), axis=[1, 2, 3])  # noqa: E731
    seed = tf.constant([7, 8], tf.int64)
    alpha = tf.random.stateless_uniform([4, 1, 1, 1], seed=seed).numpy().ravel()
    norms = np.linalg.norm(real.numpy().reshape(4, -1), axis=1)
    expected = np.mean((alpha * norms - 1.0) ** 2)
    got = adv.gradient_penalty(critic, real, fake, seed)
    assert float(got) == pytest.approx(expected, rel=1e-5)
    assert float(adv.gradient_penalty(critic, real, fake, seed)) == float(got)
    assert float(adv.gradient_penalty(critic, real, fake, tf.constant([7, 9], tf.int64))) != pytest.approx(expected, rel=1e-3)


def test_gradient_penalty_trains_a_keras_critic():
    critic = keras.Sequential([keras.Input((4, 4, 3)), keras.layers.Conv2D(2, 3, activation="tanh"),
                               keras.layers.Flatten(), keras.layers.Dense(1)])
    real = tf.random.stateless_normal([3, 4, 4, 3], seed=[0, 1])
    fake = tf.random.stateless_normal([3, 4, 4, 3], seed=[0, 2])

    @tf.function
    def grads():
        with tf.GradientTape() as tape:
            penalty = adv.gradient_penalty(critic, real, fake, tf.constant([1, 1]))
        return penalty, tape.gradient(penalty, critic.trainable_weights[0])

    penalty, g = grads()
    assert float(penalty) > 0 and float(tf.norm(g)) > 0  # double back-prop reaches the weights


# ---------------------------------------------------------------- pixel

def _pixel_case():
    diff = np.zeros((1, 2, 2, 2), np.float32)
    diff[0, 0, 0] = (1, 2)
    diff[0, 0, 1] = (3, 0)
    diff[0, 1, 0] = (10, 10)  # known pixel
    diff[0, 1, 1] = (0, -4)
    mask = np.array([[1, 1], [0, 1]], np.float32).reshape(1, 2, 2, 1)
    target = np.full_like(diff, 0.5)
    return target + diff, target, mask


def test_masked_mse_by_hand_and_ignores_known_pixels():
    pred, target, mask = _pixel_case()
    # squared hole differences: 1 + 4 + 9 + 0 + 0 + 16 = 30
    assert float(pixel.masked_mse(pred, target, mask)) == pytest.approx(30 / 8)
    assert float(pixel.masked_mse(pred, target, mask, normalize="hole")) == pytest.approx(30 / 6)
    changed = target.copy()
    changed[0, 1, 0] = (-7, 9)
    assert float(pixel.masked_mse(pred, changed, mask)) == pytest.approx(30 / 8)
    # mixed precision input: float16 prediction, float32 result
    out = pixel.masked_mse(tf.constant(pred, tf.float16), target, mask)
    assert out.dtype == tf.float32 and float(out) == pytest.approx(30 / 8)


def test_masked_l1_per_example_weighted_and_contextual():
    pred, target, mask = _pixel_case()
    pred2 = np.concatenate([pred, target])  # second example: zero error
    target2 = np.concatenate([target, target])
    mask2 = np.concatenate([mask, mask])
    per = pixel.masked_l1(pred2, target2, mask2, per_example=True).numpy()
    np.testing.assert_allclose(per, [1 + 2 + 3 + 0 + 0 + 4, 0.0])  # a SUM of |.| per example
    assert float(pixel.masked_l1(pred2, target2, mask2)) == pytest.approx(5.0)
    weights = np.array([[0.5, 2.0], [9.0, 1.0]], np.float32).reshape(1, 2, 2, 1)
    assert float(pixel.masked_l1(pred, target, mask, weights=weights)) == pytest.approx(0.5 * 3 + 2.0 * 3 + 1.0 * 4)
    # paper C: the contextual loss counts the KNOWN pixels only: with `mask` as the hole mask,
    # that is pixel (1, 0) with |10| + |10|
    hole = mask
    assert float(pixel.contextual_loss(pred, target, hole, per_example=False)) == pytest.approx(20.0)
    moved = pred.copy()
    moved[0, 0, 0] += 100.0  # a hole pixel of the contextual loss
    assert float(pixel.contextual_loss(moved, target, hole, per_example=False)) == pytest.approx(20.0)


def test_context_weights_by_hand_and_against_scipy_symm():
    hole = np.zeros((1, 4, 4, 1), np.float32)
    hole[0, 0, 0] = 1.0
    w = pixel.context_weights(hole, window=3).numpy()[0, :, :, 0]
    # symmetric boundary: the corner hole is seen twice from (0, 1) and (1, 0), once from (1, 1)
    assert w[0, 0] == 0.0
    assert w[0, 1] == pytest.approx(2 / 9) and w[1, 0] == pytest.approx(2 / 9)
    assert w[1, 1] == pytest.approx(1 / 9) and w[2, 2] == 0.0
    rng = np.random.default_rng(0)
    hole = (rng.random((1, 12, 10, 1)) < 0.3).astype(np.float32)
    ref = (1 - hole[0, :, :, 0]) * scipy.signal.convolve2d(hole[0, :, :, 0], np.ones((7, 7)) / 49, mode="same", boundary="symm")
    np.testing.assert_allclose(pixel.context_weights(hole).numpy()[0, :, :, 0], ref, atol=1e-6)


def test_l1_by_hand():
    pred, target = _t([[1.0, -1.0], [0.5, 3.0]]), _t([[0.0, 0.0], [0.5, 1.0]])
    assert float(pixel.l1(pred, target)) == pytest.approx((1 + 1 + 0 + 2) / 4)


# ---------------------------------------------------------------- perceptual (feature level)

def test_perceptual_l1_and_l2_by_hand():
    fp = {"relu1_1": _t(np.ones((2, 2, 2, 1))), "relu2_1": _t(np.zeros((2, 1, 1, 2))), "relu3_1": _t(np.zeros((2, 1, 1, 1)))}
    ft = {"relu1_1": _t(np.zeros((2, 2, 2, 1))), "relu2_1": _t(np.full((2, 1, 1, 2), -3.0)), "relu3_1": _t([[[[0.0]]], [[[8.0]]]])}
    # per example ||.||_1 / CHW: relu1_1 4/4 = 1; relu2_1 6/2 = 3; relu3_1 0 and 8 -> batch mean 4
    assert float(perc.perceptual_l1(fp, ft, A_LAYERS)) == pytest.approx(1 + 3 + 4)
    fp = {"pool2": _t(np.full((1, 2, 2, 1), 2.0)), "pool5": _t([[[[1.0, 4.0]]]])}
    ft = {"pool2": _t(np.zeros((1, 2, 2, 1))), "pool5": _t([[[[0.0, 0.0]]]])}
    assert float(perc.perceptual_l2(fp, ft, E_PERCEPTUAL, normalize_mean=False)) == pytest.approx(0.2 * 4 + 0.02 * (1 + 16) / 2)


def test_perceptual_l2_divides_each_example_by_its_mean_as_tensorpack():
    """Paper E eq. 4 as tensorpack enet-pat: pool2 / pool5 divided by their per-example mean over H, W, C
    before the squared error, weights 0.2 / 0.02."""
    # pool2: pred [1, 3, 1, 3] (mean 2) -> [.5, 1.5, .5, 1.5]; target all 4 -> 1: squared error .25
    # pool5: pred [1, 4] (mean 2.5) -> [.4, 1.6]; target [2, 2] -> [1, 1]: squared error .36
    fp = {"pool2": _t(np.array([1.0, 3.0, 1.0, 3.0]).reshape(1, 2, 2, 1)), "pool5": _t([[[[1.0, 4.0]]]])}
    ft = {"pool2": _t(np.full((1, 2, 2, 1), 4.0)), "pool5": _t([[[[2.0, 2.0]]]])}
    assert float(perc.perceptual_l2(fp, ft, E_PERCEPTUAL)) == pytest.approx(0.2 * 0.25 + 0.02 * 0.36, rel=1e-5)
    # scale-free: multiplying both feature maps by a constant leaves the loss unchanged
    big_p = {k: v * 1000.0 for k, v in fp.items()}
    big_t = {k: v * 1000.0 for k, v in ft.items()}
    assert float(perc.perceptual_l2(big_p, big_t, E_PERCEPTUAL)) == pytest.approx(float(perc.perceptual_l2(fp, ft, E_PERCEPTUAL)), rel=1e-5)
    # and per example: a second example at another scale does not change the first one's share
    two_p = {k: tf.concat([v, 7.0 * v], 0) for k, v in fp.items()}
    two_t = {k: tf.concat([v, 7.0 * v], 0) for k, v in ft.items()}
    assert float(perc.perceptual_l2(two_p, two_t, E_PERCEPTUAL)) == pytest.approx(float(perc.perceptual_l2(fp, ft, E_PERCEPTUAL)), rel=1e-5)


def test_gram_matrix_by_hand():
    f = np.array([[1, 2], [3, 0], [0, 1], [2, 2]], np.float32).reshape(1, 2, 2, 2)  # 4 positions, 2 channels
    g = perc.gram_matrix(f).numpy()[0]
    # G[c, d] = sum over positions of f_c f_d
    np.testing.assert_allclose(g, [[1 + 9 + 0 + 4, 2 + 0 + 0 + 4], [2 + 0 + 0 + 4, 4 + 0 + 1 + 4]])
    np.testing.assert_allclose(perc.gram_matrix(f, normalize=True).numpy()[0], g / 4)


def test_texture_loss_by_hand():
    pred = np.ones((1, 4, 4, 1), np.float32)  # every 2x2 patch: Gram = 4
    target = np.ones((1, 4, 4, 1), np.float32)
    target[0, :2, :2] = 2.0  # top-left patch: Gram = 4 * 4 = 16
    # without normalisation: one patch off by 12, mean over 4 patches of squared differences
    assert float(perc.texture_loss(pred, target, patch=2, normalize_mean=False)) == pytest.approx(144 / 4)
    # normalised to mean 1: pred unchanged; target / 1.25 -> Grams 4 * 1.6^2 = 10.24 and 4 * 0.8^2 = 2.56
    hand = ((4 - 10.24) ** 2 + 3 * (4 - 2.56) ** 2) / 4
    assert float(perc.texture_loss(pred, target, patch=2)) == pytest.approx(hand, rel=1e-5)
    # normalisation makes it scale-free
    assert float(perc.texture_loss(3 * pred, 5 * target, patch=2)) == pytest.approx(hand, rel=1e-5)


def test_texture_loss_patches_are_local_and_remainder_unused():
    rng = np.random.default_rng(0)
    a = rng.random((2, 5, 6, 3)).astype(np.float32)
    b = a.copy()
    b[:, 4, :, :] = 9.0  # the 5th row is a remainder of a 2x2 tiling: unused
    b[:, :, 4:, :] = 7.0  # columns 4, 5 form a full third column of patches
    two = perc.texture_loss(a, b, patch=2, normalize_mean=False)
    b2 = b.copy()
    b2[:, 4, :, :] = -5.0
    assert float(perc.texture_loss(a, b2, patch=2, normalize_mean=False)) == pytest.approx(float(two))
    # a shuffle of pixels within a patch keeps its Gram matrix; across patches it does not
    c = a.copy()
    c[:, 0, 0], c[:, 1, 1] = a[:, 1, 1], a[:, 0, 0]
    assert float(perc.texture_loss(a, c, patch=2)) == pytest.approx(0.0, abs=1e-6)
    d = a.copy()
    d[:, 0, 0], d[:, 2, 2] = a[:, 2, 2], a[:, 0, 0]
    assert float(perc.texture_loss(a, d, patch=2)) > 1e-4
    with pytest.raises(UserError, match="16x16"):
        perc.texture_loss(a, b, patch=16)


def test_texture_losses_weights():
    f = {k: tf.random.stateless_uniform([1, 16, 16, 2], seed=[i, 0]) for i, k in enumerate(E_TEXTURE)}
    g = {k: tf.random.stateless_uniform([1, 16, 16, 2], seed=[i, 9]) for i, k in enumerate(E_TEXTURE)}
    single = [float(perc.texture_loss(f[k], g[k])) for k in E_TEXTURE]
    assert float(perc.texture_losses(f, g, E_TEXTURE)) == pytest.approx(3e-7 * single[0] + 1e-6 * single[1] + 1e-6 * single[2], rel=1e-5)
    assert float(perc.texture_losses(f, f, E_TEXTURE)) == 0.0


# ---------------------------------------------------------------- VGG19 extractor

ALL = ("relu1_1", "relu2_1", "relu3_1", "conv1_1", "conv2_1", "conv3_1", "pool2", "pool5")


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """KERAS_HOME in tmp_path and a download that fails: no test touches the network."""
    home = tmp_path / "keras_home"
    home.mkdir()
    monkeypatch.setenv("KERAS_HOME", str(home))
    calls = []

    def no_download(*args, **kwargs):
        calls.append(args)
        raise OSError("URL fetch failure: network is unreachable")

    monkeypatch.setattr(keras.utils, "get_file", no_download)
    return home, calls


def test_vgg_feature_shapes_and_frozen():
    vgg = perc.vgg19_features(ALL, weights=None)
    assert not vgg.trainable_weights
    feats = vgg(tf.zeros([1, 128, 128, 3]))
    shapes = {k: tuple(v.shape[1:]) for k, v in feats.items()}
    assert shapes == {"relu1_1": (128, 128, 64), "relu2_1": (64, 64, 128), "relu3_1": (32, 32, 256),
                      "conv1_1": (128, 128, 64), "conv2_1": (64, 64, 128), "conv3_1": (32, 32, 256),
                      "pool2": (32, 32, 128), "pool5": (4, 4, 512)}
    np.testing.assert_array_equal(feats["conv1_1"], feats["relu1_1"])  # post-ReLU (tensorpack naming)
    assert float(tf.reduce_min(feats["conv2_1"])) >= 0.0
    with pytest.raises(ValueError, match="unknown VGG19 layer"):
        perc.vgg19_features(("relu6_1",), weights=None)


def test_vgg_preprocessing_is_caffe_of_0_255():
    vgg = perc.vgg19_features(("relu1_1",), weights=None, input_shape=(32, 32, 3))
    x = tf.random.stateless_uniform([1, 32, 32, 3], seed=[5, 5], minval=-1, maxval=1)
    base_in = (x.numpy() + 1) * 127.5
    caffe = base_in[..., ::-1] - np.array([103.939, 116.779, 123.68])
    expected = vgg.get_layer("vgg19_taps")(tf.constant(caffe, tf.float32))
    expected = expected[0] if isinstance(expected, (list, tuple)) else expected
    np.testing.assert_allclose(vgg(x)["relu1_1"], expected, atol=1e-4)


def test_perceptual_losses_zero_iff_identical():
    vgg = perc.vgg19_features(("relu1_1", "relu2_1", "relu3_1", "pool2", "pool5", "conv1_1", "conv2_1", "conv3_1"), weights=None)
    a = tf.random.stateless_uniform([2, 64, 64, 3], seed=[1, 2], minval=-1, maxval=1)
    b = tf.clip_by_value(a + 0.2 * tf.random.stateless_normal([2, 64, 64, 3], seed=[3, 4]), -1, 1)
    fa, fa2 = perc.vgg_pair(vgg, a, a)
    fp, ft = perc.vgg_pair(vgg, b, a)
    assert float(perc.perceptual_l1(fa, fa2, A_LAYERS)) == 0.0 and float(perc.perceptual_l2(fa, fa2, E_PERCEPTUAL)) == 0.0
    assert float(perc.texture_losses(fa, fa2, E_TEXTURE)) == 0.0
    assert float(perc.perceptual_l1(fp, ft, A_LAYERS)) > 0 and float(perc.perceptual_l2(fp, ft, E_PERCEPTUAL)) > 0
    assert float(perc.texture_losses(fp, ft, E_TEXTURE)) > 0


def test_imagenet_offline_without_cache_raises_one_line_user_error(offline):
    home, calls = offline
    with pytest.raises(UserError) as err:
        perc.vgg19_features(A_LAYERS, weights="imagenet")
    msg = str(err.value)
    assert "\n" not in msg
    assert perc.WEIGHTS_FILE in msg and "--vgg-weights" in msg and str(home) in msg
    assert len(calls) == 1


def test_missing_or_bad_weights_path_raises_user_error(offline, tmp_path):
    with pytest.raises(UserError, match="not found"):
        perc.vgg19_features(A_LAYERS, weights=str(tmp_path / "nope.h5"))
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"not an hdf5 file")
    with pytest.raises(UserError, match="could not load"):
        perc.vgg19_features(A_LAYERS, weights=str(bad))


def _save_legacy_notop_h5(path):
    """Writes a random VGG19 notop in Keras' legacy .h5 weights layout (the format of the real file)."""
    import h5py
    from keras.src.legacy.saving import legacy_h5_format

    base = keras.applications.VGG19(include_top=False, weights=None)
    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, base)
    return base


def test_weights_path_and_keras_cache_load_identical_features(offline):
    home, calls = offline
    cache = home / "models"
    cache.mkdir()
    path = cache / perc.WEIGHTS_FILE
    base = _save_legacy_notop_h5(path)
    x = tf.random.stateless_uniform([1, 32, 32, 3], seed=[0, 7], minval=-1, maxval=1)
    caffe = keras.applications.vgg19.preprocess_input((x + 1.0) * 127.5)
    expected = keras.Model(base.input, base.get_layer("block2_conv1").output)(caffe)
    from_path = perc.vgg19_features(("relu2_1",), weights=str(path))(x)["relu2_1"]
    from_cache = perc.vgg19_features(("relu2_1",), weights="imagenet")(x)["relu2_1"]
    np.testing.assert_allclose(from_path, expected, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(from_cache, expected, rtol=1e-5, atol=1e-4)
    assert not calls  # the cached file was used, no download attempted
    other = perc.vgg19_features(("relu2_1",), weights=None)(x)["relu2_1"]
    assert not np.allclose(other, expected, atol=1e-2)  # random weights really differ


def test_random_vgg_weights_only_when_asked_and_loudly():
    """'none' (a command line's explicit ask) and None mean random weights, with a warning; never silently."""
    import pytest
    import losses.perceptual as perc
    for value in (None, "none", "None"):
        with pytest.warns(UserWarning, match="RANDOM weights"):
            assert perc.resolve_vgg_weights(value) is None
