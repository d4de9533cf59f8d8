"""Paper D: a Context-Encoder-style network that rebuilds a lost image region from its context.

Seed (shared/seeds/003_*, section 1; PAPERS.md D): a 128x128 image whose centre 64x64 square
is filled white goes through an ENCODER of six 4x4 convolutions (stride 2, padding 1, ReLU, no
pooling; 64@64x64, 64@32x32, ...) ending in a 4000-element feature vector, then a DECODER of six
up-convolutions (512@4x4, 512@8x8, ...) that rebuilds the missing 64x64 region, which is PASTED
back into the 128x128 image. Where the seed gives no number we follow Pathak et al. 2016
(encoder 64, 64, 128, 256, 512, then a 4x4 "valid" conv to the 4000-d bottleneck; BN on inner
layers; DCGAN initialisation) and PAPERS.md's [choice] for the decoder (512@4, 512@8, 256@16,
128@32, 64@64, then a stride-1 3x3 up-convolution to 3@64 with tanh). The region discriminator
(not in the seed) is Pathak's / DCGAN's.

Our extension (not the paper's): for macroblock / burst losses spread over the whole frame,
`decoder(output_size=image_size)` gains one more up-convolution and predicts the full image, of
which only the hole pixels are used.

Builders take the paper's numbers as defaults and `width` / `bottleneck` / `image_size` for tiny
test builds. `inpainter(...)` wraps encoder + decoder into the exported two-input model
([image, mask] -> full-size prediction) that inpaint.py and evaluate.py load.
"""
import math

import keras
from keras import layers, ops

from errors import UserError
from models.layers import AddInput, ImageMeanFill

IMAGE_SIZE = 128        # [paper] input 128x128
WIDTH = 64              # [paper] first encoder layer: 64 filters
BOTTLENECK = 4000       # [paper] the 4000-element feature vector
KERNEL = 4              # [paper] 4x4 kernels, stride 2, padding 1
WHITE = 1.0             # [paper] the hole is "filled white" (= 1.0 in [-1, 1])
BN = dict(momentum=0.9, epsilon=1e-5)   # torch's BatchNorm defaults (Pathak's Torch code)
# [paper] the decoder's plain tanh output. The demo's aid (--residual, as paper A's; issue 25,
# docs/EXPERIMENTS.md): prediction = clip(per-image mean fill + tanh(last up-conv)), the last
# up-conv at zero, so G starts AT the trivial fill and learns only a correction to it.
RESIDUAL = False


def _init():
    """DCGAN / Pathak initialisation: conv weights ~ N(0, 0.02)."""
    return keras.initializers.RandomNormal(0.0, 0.02)


def _bn(name):
    return layers.BatchNormalization(gamma_initializer=keras.initializers.RandomNormal(1.0, 0.02),
                                     name=name, **BN)


def _levels(size, what):
    """Number of stride-2 halvings from `size` down to 4 (size must be 4 * a power of two >= 8)."""
    n = math.log2(size / 4) if size >= 8 else -1
    if n < 1 or n != int(n):
        raise UserError(f"{what} must be a power of two >= 8 (the paper uses 128), got {size}")
    return int(n)


def check_image_size(image_size):
    """The sizes this architecture supports: powers of two >= 16 (the centre region is half)."""
    size = int(image_size)
    if size < 16 or size & (size - 1):
        raise UserError(f"--image-size must be a power of two >= 16 (the paper uses 128), got {size}")
    return size


def encoder(image_size=IMAGE_SIZE, width=WIDTH, bottleneck=BOTTLENECK, name="encoder"):
    """Seed 1.1: 4x4 stride-2 convolutions + ReLU, no pooling, ending in the `bottleneck`-d vector.

    At 128: conv1 64@64 (no BN), conv2 64@32, conv3 128@16, conv4 256@8, conv5 512@4 (BN + ReLU),
    conv6 a 4x4 "valid" conv 4x4x512 -> 1x1x4000 (+ BN + ReLU, as Pathak's netG starts). Padding
    "same" with a 4x4 kernel, stride 2 and an even input pads exactly 1 pixel on each side (the
    seed's padding 1). Output: [B, bottleneck].
    """
    n = _levels(image_size, "the encoder input size")
    channels = [width, width, 2 * width, 4 * width, 8 * width]
    channels += [8 * width] * max(0, n - len(channels))
    x = inp = keras.Input((image_size, image_size, 3), name="image")
    for i in range(n):
        x = layers.Conv2D(channels[i], KERNEL, strides=2, padding="same", use_bias=i == 0,
                          kernel_initializer=_init(), name=f"conv{i + 1}")(x)
        if i > 0:
            x = _bn(f"bn{i + 1}")(x)
        x = layers.ReLU(name=f"relu{i + 1}")(x)
    x = layers.Conv2D(bottleneck, KERNEL, padding="valid", use_bias=False, kernel_initializer=_init(),
                      name=f"conv{n + 1}")(x)                       # 4x4 -> 1x1x4000
    x = _bn(f"bn{n + 1}")(x)
    x = layers.ReLU(name=f"relu{n + 1}")(x)
    x = layers.Reshape((bottleneck,), name="feature_vector")(x)
    return keras.Model(inp, x, name=name)


def decoder(output_size=IMAGE_SIZE // 2, width=WIDTH, bottleneck=BOTTLENECK, name="decoder", residual=RESIDUAL):
    """Seed 1.2: up-convolutions + ReLU from the feature vector to the missing region.

    At output 64 (the paper): upconv1 1x1 -> 512@4 (4x4 valid), upconv2 512@8, upconv3 256@16,
    upconv4 128@32, upconv5 64@64 (4x4 stride 2, BN + ReLU), upconv6 3x3 stride 1 -> 3@64, tanh.
    output_size=128 (our macroblock / burst extension) adds upconv 32@128 before the last layer.
    Output: [B, output_size, output_size, 3] in [-1, 1] (tanh, float32 under mixed precision).
    residual: the last up-conv starts at zero (its output is then added to the mean fill: `predict`).
    """
    n = _levels(output_size, "the decoder output size")
    channels = [8 * width, 8 * width, 4 * width, 2 * width, width, width // 2, width // 4]
    channels = [max(1, c) for c in channels] + [max(1, width // 4)] * max(0, n + 1 - len(channels))
    z = keras.Input((bottleneck,), name="feature_vector")
    x = layers.Reshape((1, 1, bottleneck))(z)
    x = layers.Conv2DTranspose(channels[0], KERNEL, padding="valid", use_bias=False,
                               kernel_initializer=_init(), name="upconv1")(x)          # 1 -> 4
    x = layers.ReLU(name="relu1")(_bn("bn1")(x))
    for i in range(1, n + 1):                                                          # 4 -> output
        x = layers.Conv2DTranspose(channels[i], KERNEL, strides=2, padding="same", use_bias=False,
                                   kernel_initializer=_init(), name=f"upconv{i + 1}")(x)
        x = layers.ReLU(name=f"relu{i + 1}")(_bn(f"bn{i + 1}")(x))
    x = layers.Conv2DTranspose(3, 3, padding="same", kernel_initializer="zeros" if residual else _init(),
                               name=f"upconv{n + 2}")(x)
    x = layers.Activation("tanh", dtype="float32", name="tanh")(x)
    return keras.Model(z, x, name=name)


def region_discriminator(region_size=IMAGE_SIZE // 2, width=WIDTH, name="region_discriminator"):
    """Adversarial critic of the rebuilt region (Pathak / DCGAN; the seed does not describe it).

    4x4 stride-2 convs 64 (no BN), 128, 256, 512 (BN) with LeakyReLU 0.2 down to 4x4, then a 4x4
    valid conv to 1 and a sigmoid. Output: [B, 1] probability "real". For the full-image
    (macroblock) variant pass region_size=image_size: it then judges the composited frame.
    """
    n = _levels(region_size, "the discriminator input size")
    channels = [width * 2 ** min(i, 3) for i in range(n)]
    x = inp = keras.Input((region_size, region_size, 3), name="region")
    for i in range(n):
        x = layers.Conv2D(channels[i], KERNEL, strides=2, padding="same", use_bias=i == 0,
                          kernel_initializer=_init(), name=f"conv{i + 1}")(x)
        if i > 0:
            x = _bn(f"bn{i + 1}")(x)
        x = layers.LeakyReLU(0.2, name=f"lrelu{i + 1}")(x)
    x = layers.Conv2D(1, KERNEL, padding="valid", kernel_initializer=_init(), name=f"conv{n + 1}")(x)
    x = layers.Reshape((1,))(x)
    x = layers.Activation("sigmoid", dtype="float32", name="sigmoid")(x)
    return keras.Model(inp, x, name=name)


# ----------------------------------------------------------------------------- pasting and filling

def center_box(image_size, region_size=None):
    """(top, left, side) of the centred square: side = half the image by default (the paper's)."""
    side = image_size // 2 if region_size is None else int(region_size)
    top = (image_size - side) // 2
    return top, top, side


def center_region(images, region_size=None):
    """The centred region [B, R, R, C] of images [B, S, S, C] (the ground truth of the centre variant)."""
    size = images.shape[1]
    top, left, side = center_box(size, region_size)
    return images[:, top:top + side, left:left + side, :]


def center_mask_like(images, region_size=None):
    """Float mask [B, S, S, 1] (1 inside the centred square) with the batch size of `images`."""
    size = images.shape[1]
    top, left, side = center_box(size, region_size)
    rows = ops.arange(size)
    inside = ops.logical_and(rows >= top, rows < top + side)
    square = ops.cast(ops.logical_and(inside[:, None], inside[None, :]), images.dtype)[None, :, :, None]
    return ops.zeros_like(images[..., :1]) + square


def paste_center(images, regions):
    """Paste regions [B, R, R, 3] into the centre of images [B, S, S, 3] (seed 1.2: the rebuilt
    region is "fused" with the image into the 128x128 result). Outside the square the result IS
    the input image (exactly: a select, not a blend)."""
    size, side = images.shape[1], regions.shape[1]
    top, left, _ = center_box(size, side)
    regions = ops.cast(regions, images.dtype)
    padded = ops.pad(regions, [[0, 0], [top, size - top - side], [left, size - left - side], [0, 0]])
    return ops.where(center_mask_like(images, side) > 0.5, padded, images)


def fill_holes(images, masks, value=WHITE):
    """The network input: hole pixels (mask > 0.5) set to `value` (white, the seed's fill)."""
    return ops.where(ops.cast(masks, images.dtype) > 0.5, ops.cast(value, images.dtype), images)


@keras.saving.register_keras_serializable(package="gan_restoration")
class FillHoles(layers.Layer):
    """[image, mask] -> image with the hole filled white; with `center=True` the centre square is
    filled too (the centre model was trained on exactly that input)."""

    def __init__(self, value=WHITE, center=False, **kw):
        super().__init__(**kw)
        self.value, self.center = float(value), bool(center)

    def call(self, inputs):
        images, masks = inputs
        masks = ops.cast(masks, images.dtype)
        if self.center:
            masks = ops.maximum(masks, center_mask_like(images))
        return fill_holes(images, masks, self.value)

    def get_config(self):
        return {**super().get_config(), "value": self.value, "center": self.center}


def mean_fill_base(images, masks, region_size=None):
    """The residual's base: each hole pixel (and the centre square, when region_size is given) set
    to the per-channel mean of the image's known pixels; the centre region only, if region_size."""
    masks = ops.cast(masks, images.dtype)
    if region_size is not None:
        masks = ops.maximum(masks, center_mask_like(images, region_size))
    base = ImageMeanFill()([images, masks])
    return center_region(base, region_size) if region_size is not None else base


def predict(enc, dec, images, masks, full_image, residual=RESIDUAL, training=False):
    """G's prediction for a batch: the decoder's centre region (or whole frame, full_image) from the
    image with its hole filled white; with `residual` (the demo's aid) added to the mean fill."""
    pred = dec(enc(fill_holes(images, masks), training=training), training=training)
    if residual:
        pred = ops.clip(mean_fill_base(images, masks, None if full_image else pred.shape[1]) + pred, -1.0, 1.0)
    return pred


@keras.saving.register_keras_serializable(package="gan_restoration")
class MeanFillBase(layers.Layer):
    """[image, mask] -> mean_fill_base (the residual's base) as a layer of the exported inpainter."""

    def __init__(self, region_size=None, **kw):
        super().__init__(**kw)
        self.region_size = None if region_size is None else int(region_size)

    def call(self, inputs):
        return mean_fill_base(*inputs, self.region_size)

    def get_config(self):
        return {**super().get_config(), "region_size": self.region_size}


@keras.saving.register_keras_serializable(package="gan_restoration")
class PasteCenter(layers.Layer):
    """[image, region] -> the image with the region pasted at its centre (paste_center)."""

    def call(self, inputs):
        return paste_center(*inputs)


def inpainter(enc, dec, image_size=IMAGE_SIZE, full_image=False, name="context_encoder_inpainter",
              residual=RESIDUAL):
    """The exported model (PAPERS_CONTRACT): inputs [image [B,S,S,3] in [-1,1], mask [B,S,S,1] 1=hole],
    output the full-size prediction [B,S,S,3] before compositing.

    Centre variant: the centre square (and any hole) is filled white, the decoder's 64x64 region is
    pasted at the centre, and every other pixel equals the input image; it only knows how to fill
    the centre square. Full-image variant (macroblock / burst): hole pixels filled white, output the
    decoder's whole 128x128 prediction (the caller keeps known pixels).
    """
    image = keras.Input((image_size, image_size, 3), name="image")
    mask = keras.Input((image_size, image_size, 1), name="mask")
    x = FillHoles(center=not full_image, name="fill_white")([image, mask])
    pred = dec(enc(x))
    if residual:                     # the demo's aid: the decoder's output is a correction to the mean fill
        base = MeanFillBase(None if full_image else image_size // 2, name="mean_fill_base")([image, mask])
        pred = AddInput(name="residual")([base, pred])
    if not full_image:
        pred = PasteCenter(name="paste_center", dtype="float32")([image, pred])
    return keras.Model([image, mask], pred, name=name)


def networks(config):
    """Paper D's networks for a run's config (papers.networks): encoder, decoder (the centre region,
    or the whole frame for every other --mask) and, unless rec_only, the region discriminator."""
    size = config["image_size"]
    out = size if config.get("mask", "center") != "center" else size // 2
    nets = dict(encoder=encoder(size, config["width"], config["bottleneck"]),
                decoder=decoder(out, config["width"], config["bottleneck"], residual=bool(config.get("residual", False))))
    if not config.get("rec_only", False):
        nets["discriminator"] = region_discriminator(out, config["width"])
    return nets
