"""Paper A (after Iizuka et al. 2017, GLCIC): completion network, global and local discriminators.

Layer tables (PAPERS.md section A; every conv is conv -> BatchNorm -> ReLU unless noted):

completion_network (128x128; "k3/2" = kernel 3, stride 2; "d2" = dilation 2)
    input: image with the hole filled by the training set's per-channel mean, + mask -> 4 ch
    conv k5 64 | conv k3/2 128 | conv k3 128 | conv k3/2 256 | conv k3 256 | conv k3 256   (encoder, 6)
    conv k3 d2 256 | conv k3 d4 256 | conv k3 d8 256                                       (dilated, 3)
    conv k3 256 | conv k3 256 | deconv k4/2 128 | conv k3 128 | deconv k4/2 64 | conv k3 32
    conv k3 3, tanh (no BN)                                                                (decoder, 8)
    the paper's output (GLCIC's): that tanh. residual=True (the demo's aid, off by default):
      + the image with its hole filled by the mean of ITS known pixels, clipped to [-1, 1], the
      last conv zero-initialised, so an untrained G returns exactly that mean fill; the input's
      hole holds that same per-image mean (issue 25: with the training set's mean there, the
      correction needs the image's mean, which no local conv sees), + mask
      (docs/PAPER_NOTES.md A, docs/EXPERIMENTS.md A)
global_discriminator (128x128): conv k5/2 64-128-256-512-512 (BN + ReLU), flatten, FC 1024
local_discriminator (64x64 box around the hole): conv k5/2 64-128-256-512, flatten, FC 1024
discriminator: concat(global, local) -> 2048 -> FC 1 + sigmoid = P(real)

`width` scales every channel count (64 = the paper), `image_size` / `local_size` the inputs,
`fc_units` the 1024-d outputs, so tests build tiny versions of the same graph.
"""
import keras
from keras import layers

from models.layers import AddInput, ImageMeanFill

PACKAGE = "gan_restoration"

IMAGE_SIZE = 128
LOCAL_SIZE = 64
WIDTH = 64
FC_UNITS = 1024
DILATIONS = (2, 4, 8)   # seed: three dilated layers (GLCIC has a fourth, rate 16)
# [paper] GLCIC's plain tanh output. The demo's aid (--residual, measured at 64 px: docs/EXPERIMENTS.md, A):
# output = clip(per-image mean fill + tanh(conv)), last conv at zero, so G starts at the trivial fill.
RESIDUAL = False
LAST_INIT = "zeros"     # the residual's last conv


@keras.saving.register_keras_serializable(package=PACKAGE)
class MeanFill(layers.Layer):
    """[image, mask] -> [image with holes set to `mean`, mask] (4 channels): GLCIC's network input.

    `mean` is the training set's per-channel mean in [-1, 1]; it is part of the layer's config,
    so an exported model needs nothing else. Whatever the hole pixels of `image` hold is ignored.
    """

    def __init__(self, mean=(0.0, 0.0, 0.0), **kwargs):
        super().__init__(**kwargs)
        self.mean = tuple(float(v) for v in mean)

    def call(self, inputs):
        image, mask = inputs
        mask = keras.ops.cast(mask, image.dtype)
        mean = keras.ops.cast(keras.ops.convert_to_tensor(self.mean), image.dtype)
        filled = image * (1.0 - mask) + mean * mask
        return keras.ops.concatenate([filled, mask], axis=-1)

    def compute_output_shape(self, input_shapes):
        shape = list(input_shapes[0])
        shape[-1] = 4
        return tuple(shape)

    def get_config(self):
        return {**super().get_config(), "mean": list(self.mean)}


def _stride_exceeds_input(x, stride, transpose):
    """True for a strided "same" conv whose stride is larger than its input's side (a k5/2 conv on
    a 1x1 map: only tiny images, e.g. image 16 / local 8, reach it; the paper's 128 / 64 never).

    Under mixed_bfloat16 TF 2.21's oneDNN CPU kernel for that conv's filter gradient
    (Conv2DBackpropFilter) leaves the taps that see only padding UNINITIALISED instead of 0: they
    get whatever bytes the allocator reused. A NaN there poisons the weight (harmless in the
    forward pass, which skips those taps), then the next backward pass spreads it to every weight
    of D and G. float32 and float16 kernels are correct. Such a conv computes in float32 under any
    mixed policy (the same maths; a conv on a 1x1 map costs nothing), see docs/PAPER_NOTES.md.
    """
    side = [d for d in x.shape[1:3] if d is not None]
    return not transpose and stride > 1 and bool(side) and min(side) < stride


# [choice: GLCIC's Torch code, measured] nn.SpatialBatchNormalization's defaults (momentum 0.1 =
# Keras 0.9, eps 1e-5). Keras' 0.99 keeps the moving statistics near their initial (0, 1) for
# hundreds of steps, so an inference-mode G is garbage early on (docs/EXPERIMENTS.md, A).
BN_MOMENTUM, BN_EPSILON = 0.9, 1e-5


def _conv_bn_relu(x, filters, kernel, stride=1, dilation=1, name=None, transpose=False):
    conv = layers.Conv2DTranspose if transpose else layers.Conv2D
    # float32 is the policy's variable dtype anyway: only the compute dtype changes, and only under
    # mixed precision (under the float32 policy this layer is the same as every other one).
    dtype = {"dtype": "float32"} if _stride_exceeds_input(x, stride, transpose) else {}
    x = conv(filters, kernel, strides=stride, dilation_rate=dilation, padding="same", name=name, **dtype)(x)
    x = layers.BatchNormalization(momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def generator_plan(width=WIDTH):
    """The completion network's layers as (name, kind, filters, kernel, stride, dilation)."""
    w1, w2, w4 = width, 2 * width, 4 * width
    plan = [("conv1", "conv", w1, 5, 1, 1), ("conv2", "conv", w2, 3, 2, 1), ("conv3", "conv", w2, 3, 1, 1),
            ("conv4", "conv", w4, 3, 2, 1), ("conv5", "conv", w4, 3, 1, 1), ("conv6", "conv", w4, 3, 1, 1)]
    plan += [(f"dilated{i + 1}", "conv", w4, 3, 1, d) for i, d in enumerate(DILATIONS)]
    plan += [("conv7", "conv", w4, 3, 1, 1), ("conv8", "conv", w4, 3, 1, 1),
             ("deconv1", "deconv", w2, 4, 2, 1), ("conv9", "conv", w2, 3, 1, 1),
             ("deconv2", "deconv", w1, 4, 2, 1), ("conv10", "conv", max(1, width // 2), 3, 1, 1),
             ("output", "conv", 3, 3, 1, 1)]
    return plan


def completion_network(image_size=IMAGE_SIZE, width=WIDTH, mean=(0.0, 0.0, 0.0), name="completion_network",
                       residual=RESIDUAL):
    """G: inputs [image [B,S,S,3] in [-1,1], mask [B,S,S,1] (1 = hole)] -> prediction [B,S,S,3].

    The prediction is the whole image BEFORE compositing; the mean fill and the mask channel are
    inside (MeanFill), so this model is also the exported inpainter. residual: the output is the
    per-image mean fill plus tanh of a zero-initialised last conv (the demo's aid); else tanh (GLCIC, the default).
    """
    image = keras.Input((image_size, image_size, 3), name="image")
    mask = keras.Input((image_size, image_size, 1), name="mask")
    if residual:   # the aid's input is its own base: the hole holds the per-image mean it corrects (issue 25)
        base = ImageMeanFill(name="image_mean_fill")([image, mask])
        x = layers.Concatenate(name="mean_fill")([base, mask])
    else:
        x = MeanFill(mean, name="mean_fill")([image, mask])
    plan = generator_plan(width)
    for lname, kind, filters, kernel, stride, dilation in plan[:-1]:
        x = _conv_bn_relu(x, filters, kernel, stride, dilation, name=lname, transpose=kind == "deconv")
    lname, _, filters, kernel, _, _ = plan[-1]
    zero = dict(kernel_initializer=LAST_INIT) if residual else {}
    x = layers.Conv2D(filters, kernel, padding="same", name=lname, **zero)(x)  # last: no BN
    out = layers.Activation("tanh", dtype="float32", name="tanh")(x)          # float32 under mixed precision
    if residual:
        out = AddInput(name="residual")([base, out])
    return keras.Model([image, mask], out, name=name)


def _discriminator_branch(size, channels, fc_units, prefix):
    inp = keras.Input((size, size, 3), name=f"{prefix}_image")
    x = inp
    for i, filters in enumerate(channels):
        x = _conv_bn_relu(x, filters, 5, 2, name=f"{prefix}_conv{i + 1}")
    x = layers.Flatten(name=f"{prefix}_flatten")(x)
    out = layers.Dense(fc_units, name=f"{prefix}_fc")(x)   # linear 1024-d output, as tadax/glcic
    return keras.Model(inp, out, name=f"{prefix}_discriminator")


def global_discriminator(image_size=IMAGE_SIZE, width=WIDTH, fc_units=FC_UNITS):
    """Whole image [B,S,S,3] -> [B,1024]: 5 conv k5/2 (64-128-256-512-512) + 1 FC."""
    w = width
    return _discriminator_branch(image_size, (w, 2 * w, 4 * w, 8 * w, 8 * w), fc_units, "global")


def local_discriminator(local_size=LOCAL_SIZE, width=WIDTH, fc_units=FC_UNITS):
    """The local box [B,L,L,3] around the hole -> [B,1024]: 4 conv k5/2 (64-128-256-512) + 1 FC."""
    w = width
    return _discriminator_branch(local_size, (w, 2 * w, 4 * w, 8 * w), fc_units, "local")


def discriminator(image_size=IMAGE_SIZE, local_size=LOCAL_SIZE, width=WIDTH, fc_units=FC_UNITS):
    """D: [image [B,S,S,3], local box [B,L,L,3]] -> P(real) [B,1]: concat of both 1024-d outputs
    (2048-d), then FC 1 + sigmoid."""
    g = global_discriminator(image_size, width, fc_units)
    loc = local_discriminator(local_size, width, fc_units)
    image = keras.Input((image_size, image_size, 3), name="image")
    patch = keras.Input((local_size, local_size, 3), name="local")
    x = layers.Concatenate(name="concat")([g(image), loc(patch)])
    out = layers.Dense(1, activation="sigmoid", dtype="float32", name="p_real")(x)
    return keras.Model([image, patch], out, name="discriminator")


def networks(config, mean=(0.0, 0.0, 0.0)):
    """Paper A's networks for a run's config (papers.networks): the completion network (its input
    filled with the training-set `mean`) and, from stage 2 on, the global + local discriminator."""
    nets = dict(generator=completion_network(config["image_size"], config["width"], mean,
                                             residual=bool(config.get("residual", False))))
    if int(config.get("stage", 1)) > 1:
        nets["discriminator"] = discriminator(config["image_size"], config["local_size"], config["width"],
                                              config["fc_units"])
    return nets
