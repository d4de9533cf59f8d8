"""Paper E: the deblurring generator (three ablation variants) and the SRGAN-style discriminator.

Generator (PAPERS.md E; SRResNet / EDSR layout, the seed's 5 blocks, SAME padding, no pooling):
    conv9x9-64 + PReLU                                  "head"
    5 x [conv3x3-64, (BN), PReLU, conv3x3-64, (BN), + identity]   residual blocks
    conv3x3-64, (BN), + head                            global skip ("nested" skip connections)
    conv9x9-3 + tanh                                    image in [-1, 1] (the paper's output)
    global_residual=True (the demo's aid, off by default): + blurred input, clipped to [-1, 1],
    the last conv zero-initialised, so G starts as the identity (docs/PAPER_NOTES.md E)
Variants (the paper's ablation, table 1):
    stacked    StackedG: the same convolutions and PReLUs, no skip connection at all, no BN
    res_bn     ResG: residual blocks with BatchNorm (SRResNet)
    nonbn_res  NonBN-ResG: residual blocks without BatchNorm (the paper's "improved" block, EDSR)
("nonbn_res_l" of train_deblur.py is nonbn_res trained with the extra losses; same network.)
PReLU shares its slope over the spatial axes (one per channel), so the generator is fully
convolutional: any H x W in, the same H x W out.

Discriminator (the seed: 8 conv-activation-norm blocks, two dense layers, sigmoid; SRGAN's
numbers): conv3x3 64 s1, 64 s2, 128 s1, 128 s2, 256 s1, 256 s2, 512 s1, 512 s2 (BN on all but
the first), LeakyReLU 0.2; Dense 1024 + LeakyReLU 0.2; Dense 1 + sigmoid. It needs a fixed input
size (the dense layer), the training crop size.
"""
import keras

from models.layers import AddInput  # noqa: F401  (the global residual; registered there)

VARIANTS = ("stacked", "res_bn", "nonbn_res")
BLOCKS = 5            # [paper] 5 residual blocks
FILTERS = 64          # [choice: SRResNet]
PRELU_INIT = 0.25     # [choice] PReLU's slope at init as He et al. 2015 / SRGAN's Lasagne and PyTorch (Keras: 0)
BN_MOMENTUM = 0.9     # [choice] tensorlayer SRGAN's BatchNorm decay (Keras' default is 0.99)
GLOBAL_RESIDUAL = False  # [paper] tanh(conv9x9(x)); True: the demo's aid, clip(input + tanh(conv9x9(x)))
D_PLAN = ((64, 1), (64, 2), (128, 1), (128, 2), (256, 1), (256, 2), (512, 1), (512, 2))  # SRGAN


def _prelu(name):
    return keras.layers.PReLU(alpha_initializer=keras.initializers.Constant(PRELU_INIT),
                              shared_axes=[1, 2], name=name)


def _conv(filters, kernel, name, strides=1):
    return keras.layers.Conv2D(filters, kernel, strides=strides, padding="same", name=name)


def _bn(name):
    return keras.layers.BatchNormalization(momentum=BN_MOMENTUM, name=name)


def residual_block(x, filters, bn, name):
    """conv3x3 -> (BN) -> PReLU -> conv3x3 -> (BN) -> + x  (paper fig. 3 (a) with BN, (b) without)."""
    y = _conv(filters, 3, f"{name}_conv1")(x)
    if bn:
        y = _bn(f"{name}_bn1")(y)
    y = _prelu(f"{name}_prelu")(y)
    y = _conv(filters, 3, f"{name}_conv2")(y)
    if bn:
        y = _bn(f"{name}_bn2")(y)
    return keras.layers.Add(name=f"{name}_add")([x, y])


def plain_block(x, filters, name):
    """StackedG's block: the residual block's two convolutions, each followed by PReLU, no addition."""
    y = _conv(filters, 3, f"{name}_conv1")(x)
    y = _prelu(f"{name}_prelu1")(y)
    y = _conv(filters, 3, f"{name}_conv2")(y)
    return _prelu(f"{name}_prelu2")(y)


def generator(variant="nonbn_res", filters=FILTERS, blocks=BLOCKS, global_residual=GLOBAL_RESIDUAL, name=None):
    """The paper's generator G: blurred [B, H, W, 3] in [-1, 1] -> sharp [B, H, W, 3] in [-1, 1].

    variant: "stacked" (StackedG), "res_bn" (ResG) or "nonbn_res" (NonBN-ResG, the paper's model).
    filters / blocks: 64 / 5 as the paper; smaller for tiny test builds.
    global_residual: False (default, the paper): tanh(conv9x9(x)). True (the demo's aid, measured in
    docs/EXPERIMENTS.md): the network predicts a correction added to its input,
    clip(blurred + tanh(conv9x9(x)), -1, 1), with the last conv zero-initialised so an untrained G
    returns its input exactly. It turns StackedG into a residual learner too, which is what the
    paper's ablation measures, so it is never a default.
    """
    if variant == "nonbn_res_l":
        variant = "nonbn_res"     # same network, other losses
    if variant not in VARIANTS:
        raise ValueError(f"unknown generator variant {variant!r}; use one of {', '.join(VARIANTS)}")
    bn = variant == "res_bn"
    inputs = keras.Input((None, None, 3), name="blurred")
    head = _prelu("head_prelu")(_conv(filters, 9, "head_conv")(inputs))
    x = head
    for i in range(blocks):
        if variant == "stacked":
            x = plain_block(x, filters, f"block{i + 1}")
        else:
            x = residual_block(x, filters, bn, f"block{i + 1}")
    x = _conv(filters, 3, "post_conv")(x)
    if variant == "stacked":
        x = _prelu("post_prelu")(x)
    else:
        if bn:
            x = _bn("post_bn")(x)
        x = keras.layers.Add(name="global_skip")([head, x])
    # float32 output whatever the mixed-precision policy (the losses and tanh range need it)
    zero = dict(kernel_initializer="zeros") if global_residual else {}
    out = keras.layers.Conv2D(3, 9, padding="same", activation="tanh", dtype="float32", name="out_conv", **zero)(x)
    if global_residual:
        out = AddInput(name="global_residual")([inputs, out])
    names = {"stacked": "StackedG", "res_bn": "ResG", "nonbn_res": "NonBN-ResG"}
    return keras.Model(inputs, out, name=name or names[variant])


def discriminator(image_size=96, filters=FILTERS, dense=1024, name="discriminator"):
    """The paper's D: [B, S, S, 3] in [-1, 1] -> P(real) [B, 1] (sigmoid, float32).

    8 conv blocks (SRGAN plan, channels scaled by filters / 64), Dense(dense) + LeakyReLU 0.2,
    Dense(1) + sigmoid. S must be a multiple of 16 (four stride-2 convs).
    """
    if image_size % 16:
        raise ValueError(f"the discriminator needs an image size divisible by 16, got {image_size}")
    inputs = keras.Input((image_size, image_size, 3), name="image")
    x = inputs
    for i, (ch, stride) in enumerate(D_PLAN):
        x = _conv(ch * filters // FILTERS, 3, f"d_conv{i + 1}", strides=stride)(x)
        x = keras.layers.LeakyReLU(0.2, name=f"d_lrelu{i + 1}")(x)
        if i > 0:   # SRGAN: no BN after the first conv (order conv -> LReLU -> BN, the seed's "conv-activation-norm")
            x = _bn(f"d_bn{i + 1}")(x)
    x = keras.layers.Flatten(name="d_flatten")(x)
    x = keras.layers.Dense(dense, name="d_dense1")(x)
    x = keras.layers.LeakyReLU(0.2, name="d_lrelu_dense")(x)
    out = keras.layers.Dense(1, activation="sigmoid", dtype="float32", name="d_dense2")(x)
    return keras.Model(inputs, out, name=name)


def receptive_radius(model):
    """Pixels of context each side that one output pixel depends on: sum of (k - 1) / 2 * dilation
    over the Conv2D layers (exact for these networks, whose convolutions all lie on one path).
    5 blocks: 4 + 10 * 1 + 1 + 4 = 19 (a 39 x 39 receptive field)."""
    radius = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            k, d = layer.kernel_size[0], layer.dilation_rate[0]
            radius += (k - 1) // 2 * d
    return radius


def generator_macs_per_pixel(filters=FILTERS, blocks=BLOCKS):
    """Multiply-accumulates of one generator forward pass per output pixel (all variants: BN, PReLU
    and additions are negligible). 64 filters, 5 blocks: 436,608."""
    return 81 * 3 * filters + blocks * 2 * 9 * filters * filters + 9 * filters * filters + 81 * filters * 3


def networks(config):
    """Paper E's networks for a run's config (papers.networks): the generator of its variant and
    the SRGAN discriminator at its crop size."""
    return dict(generator=generator(config["variant"], filters=config["filters"], blocks=config["blocks"],
                                    global_residual=bool(config.get("global_residual", False))),
                discriminator=discriminator(config["image_size"], filters=config["d_filters"],
                                            dense=config["d_dense"]))
