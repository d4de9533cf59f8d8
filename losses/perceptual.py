"""VGG19 feature extractor and feature-space losses (paper A eq. 3, paper E eqs. 4 and 5).

Layer names follow the papers: reluN_M (= Keras blockN_convM, whose conv includes the ReLU),
convN_M (EnhanceNet / tensorpack enet-pat naming; tensorpack builds VGG with
Conv2D(..., activation=relu), so its conv1_1 tensor is POST-ReLU: convN_M is an alias of reluN_M),
and poolN (blockN_pool).
Weights: "imagenet" (Keras' cached notop .h5, else Keras' download, else a one-line UserError),
a path to that .h5 file, or None (random, only when asked for explicitly; for tests).
Losses take feature dicts (run the extractor once with `vgg_pair`) and return float32 scalars.
"""
import os
import socket
import warnings

import keras
import tensorflow as tf

from errors import UserError

WEIGHTS_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"
WEIGHTS_URL = "https://storage.googleapis.com/tensorflow/keras-applications/vgg19/" + WEIGHTS_FILE
WEIGHTS_MD5 = "253f8cb515780f3b799900260a226db6"  # as keras.applications.vgg19

# The papers' own layer choices and weights live beside their objectives: train_iizuka.VGG_LAYERS
# (paper A eq. 3), train_deblur.PERCEPTUAL_WEIGHTS / TEXTURE_WEIGHTS (paper E eqs. 4 and 5).
TEXTURE_PATCH = 16


def _layer_map():
    names = {}
    for block, convs in ((1, 2), (2, 2), (3, 4), (4, 4), (5, 4)):
        for m in range(1, convs + 1):
            names[f"relu{block}_{m}"] = names[f"conv{block}_{m}"] = f"block{block}_conv{m}"
        names[f"pool{block}"] = f"block{block}_pool"
    return names


LAYER_NAMES = _layer_map()  # paper name -> Keras VGG19 layer name


def keras_cache_dir():
    """Keras' cache root, read at call time: $KERAS_HOME, else ~/.keras (/tmp/.keras if ~ is read-only)."""
    if os.environ.get("KERAS_HOME"):
        return os.environ["KERAS_HOME"]
    home = os.path.expanduser("~")
    return os.path.join(home if os.access(home, os.W_OK) else "/tmp", ".keras")


def resolve_vgg_weights(weights):
    """'imagenet' | path | None | 'none' -> path of an existing .h5 file, or None (random weights).

    Random weights only when asked for explicitly (None in code, `--vgg-weights none` on a command
    line, for tests and smoke runs); a loud warning says the VGG-based losses are then meaningless.
    """
    if weights is None or (isinstance(weights, str) and weights.lower() == "none"):
        warnings.warn("VGG19 with RANDOM weights (asked for explicitly): perceptual and texture losses "
                      "are meaningless; use only for tests and smoke runs", stacklevel=2)
        return None
    if weights == "imagenet":
        cache = keras_cache_dir()
        cached = os.path.join(cache, "models", WEIGHTS_FILE)
        if os.path.isfile(cached):
            return cached
        previous = socket.getdefaulttimeout()
        socket.setdefaulttimeout(30)       # an unreachable host fails in seconds instead of hanging
        try:
            return keras.utils.get_file(WEIGHTS_FILE, WEIGHTS_URL, cache_subdir="models",
                                        file_hash=WEIGHTS_MD5, cache_dir=cache)
        except Exception as e:  # offline, proxy, corrupted download: all end the same way
            reason = " ".join(str(e).split())[:160]
            raise UserError(f"VGG19 ImageNet weights unavailable ({type(e).__name__}: {reason}): put "
                            f"{WEIGHTS_FILE} into {os.path.dirname(cached)}/ or pass --vgg-weights PATH") from None
        finally:
            socket.setdefaulttimeout(previous)
    path = os.fspath(weights)
    if not os.path.isfile(path):
        raise UserError(f"VGG19 weights file not found: {path}; pass --vgg-weights PATH to {WEIGHTS_FILE}")
    return path


class VGGPreprocess(keras.layers.Layer):
    """Maps images in `input_range` to [0, 255], then keras.applications.vgg19.preprocess_input
    (caffe mode: RGB -> BGR, minus the ImageNet BGR means)."""

    def __init__(self, input_range=(-1.0, 1.0), **kwargs):
        super().__init__(**kwargs)
        self.input_range = tuple(float(v) for v in input_range)

    def call(self, x):
        lo, hi = self.input_range
        x = (x - lo) * (255.0 / (hi - lo))
        return keras.applications.vgg19.preprocess_input(x)

    def get_config(self):
        return {**super().get_config(), "input_range": self.input_range}


def vgg19_features(layers, weights="imagenet", input_range=(-1.0, 1.0), input_shape=(None, None, 3)):
    """Frozen VGG19 -> keras.Model: image batch in `input_range` -> {paper layer name: features}.

    Only the layers up to the deepest one requested are computed.
    """
    unknown = [n for n in layers if n not in LAYER_NAMES]
    if unknown:
        raise ValueError(f"unknown VGG19 layer names {unknown}; known: {sorted(LAYER_NAMES)}")
    path = resolve_vgg_weights(weights)
    base = keras.applications.VGG19(include_top=False, weights=None, input_shape=input_shape)
    if path is not None:
        try:
            base.load_weights(path)
        except Exception as e:
            reason = " ".join(str(e).split())[:160]
            raise UserError(f"could not load VGG19 weights from {path} ({reason}); "
                            f"expected Keras' {WEIGHTS_FILE}") from None
    base.trainable = False
    inputs = keras.Input(shape=input_shape)
    x = VGGPreprocess(input_range, name="vgg_preprocess")(inputs)
    taps = keras.Model(base.input, [base.get_layer(LAYER_NAMES[n]).output for n in layers], name="vgg19_taps")
    outputs = taps(x)
    if not isinstance(outputs, (list, tuple)):
        outputs = [outputs]
    model = keras.Model(inputs, dict(zip(layers, outputs)), name="vgg19_features")
    model.trainable = False
    return model


def vgg_pair(vgg, pred, target):
    """Runs the extractor once on [pred; target] -> (features of pred, features of target), float32."""
    n = tf.shape(pred)[0]
    feats = vgg(tf.concat([tf.cast(pred, tf.float32), tf.cast(target, tf.float32)], 0), training=False)
    fp = {k: tf.cast(v[:n], tf.float32) for k, v in feats.items()}
    ft = {k: tf.cast(v[n:], tf.float32) for k, v in feats.items()}
    return fp, ft


def perceptual_l1(feats_pred, feats_target, layers):
    """Paper A eq. 3: sum_j ||phi_j(gt) - phi_j(pred)||_1 / (C_j H_j W_j), averaged over the batch
    (= the mean absolute difference over all elements of each layer, summed over layers)."""
    total = 0.0
    for name in layers:
        diff = tf.cast(feats_pred[name], tf.float32) - tf.cast(feats_target[name], tf.float32)
        total += tf.reduce_mean(tf.abs(diff))
    return total


def mean_normalize(features, eps=1e-8):
    """Divides each example's features by their mean over H, W, C (tensorpack enet-pat's
    `normalize(v)`: v / reduce_mean(v, axis=[1, 2, 3])), so a loss on them ignores the feature scale;
    meant for non-negative, post-ReLU / pooled features. eps keeps an all-zero map finite."""
    f = tf.cast(features, tf.float32)
    return f / (tf.reduce_mean(f, axis=[1, 2, 3], keepdims=True) + eps)


def perceptual_l2(feats_pred, feats_target, weights, normalize_mean=True):
    """Paper E eq. 4: sum_j w_j * mean over elements of (n(phi_j(pred)) - n(phi_j(gt)))^2 over the layers
    of `weights` (paper E: pool2 0.2, pool5 0.02, EnhanceNet table 2; train_deblur.PERCEPTUAL_WEIGHTS). n() divides each example's features by their
    mean over H, W, C, as tensorpack enet-pat does before its mean squared error (`normalize(pool2)`,
    `normalize(pool5)`): the weights 0.2 / 0.02 are for those normalised features; raw ImageNet-VGG
    pool5 activations are orders of magnitude larger and would swamp the L1 content loss."""
    total = 0.0
    for name, w in weights.items():
        fp, ft = feats_pred[name], feats_target[name]
        if normalize_mean:
            fp, ft = mean_normalize(fp), mean_normalize(ft)
        diff = tf.cast(fp, tf.float32) - tf.cast(ft, tf.float32)
        total += w * tf.reduce_mean(tf.square(diff))
    return total


def gram_matrix(features, normalize=False):
    """[B, H, W, C] -> [B, C, C] Gram matrix F^T F over the spatial positions (unnormalised, as
    EnhanceNet / tensorpack; normalize=True divides by H*W)."""
    f = tf.cast(features, tf.float32)
    shape = tf.shape(f)
    flat = tf.reshape(f, [shape[0], shape[1] * shape[2], shape[3]])
    gram = tf.matmul(flat, flat, transpose_a=True)
    if normalize:
        gram /= tf.cast(shape[1] * shape[2], tf.float32)
    return gram


def _patches(f, p):
    """[B, H, W, C] -> [B * (H//p) * (W//p), p, p, C] non-overlapping patches, top-left aligned;
    a remainder of fewer than p rows/columns at the bottom/right is not used."""
    shape = tf.shape(f)
    nh, nw, c = shape[1] // p, shape[2] // p, shape[3]
    f = f[:, : nh * p, : nw * p, :]
    f = tf.reshape(f, [shape[0], nh, p, nw, p, c])
    f = tf.transpose(f, [0, 1, 3, 2, 4, 5])
    return tf.reshape(f, [-1, p, p, c])


def texture_loss(feat_pred, feat_target, patch=TEXTURE_PATCH, normalize_mean=True, eps=1e-8):
    """Paper E eq. 5 for one layer (EnhanceNet "PAT" / tensorpack enet-pat):
    each example's features are divided by their mean over H, W, C (so the loss ignores the
    feature scale; meant for non-negative, post-ReLU features), split into non-overlapping
    patch x patch tiles, Gram matrix per tile (unnormalised), and the mean over tiles and Gram
    entries of the squared difference between prediction and target."""
    fp, ft = tf.cast(feat_pred, tf.float32), tf.cast(feat_target, tf.float32)
    h, w = fp.shape[1], fp.shape[2]
    if h is not None and w is not None and (h < patch or w < patch):
        raise UserError(f"texture loss needs feature maps of at least {patch}x{patch}, got {h}x{w}: "
                        f"use larger crops (conv3_1 is 1/4 of the crop size)")
    if normalize_mean:
        fp, ft = mean_normalize(fp, eps), mean_normalize(ft, eps)
    gp = gram_matrix(_patches(fp, patch))
    gt = gram_matrix(_patches(ft, patch))
    return tf.reduce_mean(tf.square(gp - gt))


def texture_losses(feats_pred, feats_target, weights, patch=TEXTURE_PATCH):
    """Paper E eq. 5 over layers: sum_j w_j * texture_loss_j (paper E: conv1_1 3e-7, conv2_1 1e-6,
    conv3_1 1e-6; train_deblur.TEXTURE_WEIGHTS)."""
    total = 0.0
    for name, w in weights.items():
        total += w * texture_loss(feats_pred[name], feats_target[name], patch)
    return total
