"""The DCGAN generator and discriminator (Radford et al. 2016), shared by papers B and C.

Paper B's code (section 5.2) gives the two ends of each network; the inner layers are the
standard DCGAN 64x64 plan (PyTorch DCGAN example, which paper B's code is cut from):

    generator      z [100] -> ConvT(100->512, 4, 1, 0) BN ReLU            4x4
                             ConvT(512->256, 4, 2, 1) BN ReLU             8x8
                             ConvT(256->128, 4, 2, 1) BN ReLU            16x16
                             ConvT(128->64, 4, 2, 1) BN ReLU             32x32
                             ConvT(64->3, 4, 2, 1) tanh                  64x64
    discriminator  x [64,64,3] -> Conv(3->64, 4, 2, 1) LReLU 0.2         32x32
                             Conv(64->128, 4, 2, 1) BN LReLU 0.2         16x16
                             Conv(128->256, 4, 2, 1) BN LReLU 0.2         8x8
                             Conv(256->512, 4, 2, 1) BN LReLU 0.2         4x4
                             Conv(512->1, 4, 1, 0) sigmoid                1x1

All convolutions have no bias (bias=False in paper B's code); weights N(0, 0.02), BN scale
N(1, 0.02) (DCGAN); BN momentum 0.9 / epsilon 1e-5 = PyTorch's defaults. PyTorch's padding 1
for a 4x4 stride-2 kernel equals Keras "same" on even sizes. `width` (64) scales every channel
count; `image_size` (64) sets the number of stride-2 layers (log2(size) - 2), so tests can build
the same graph tiny. Parameter counts at paper size: generator 3,576,704 trainable, discriminator
2,765,568 (the PyTorch example's figures).
"""
import math

import keras
from keras import layers

WEIGHT_INIT = dict(mean=0.0, stddev=0.02)
BN = dict(momentum=0.9, epsilon=1e-5)


def _n_up(image_size):
    n = math.log2(int(image_size)) - 2
    if n < 1 or n != int(n):
        raise ValueError(f"DCGAN image size must be a power of two >= 8, got {image_size}")
    return int(n)


def _conv_init(seed=None):
    return keras.initializers.RandomNormal(**WEIGHT_INIT, seed=seed)


def _bn(name):
    return layers.BatchNormalization(**BN, gamma_initializer=keras.initializers.RandomNormal(1.0, 0.02),
                                     name=name)


def generator(z_dim=100, image_size=64, width=64, name="dcgan_generator", zero_last=False):
    """DCGAN generator: z [B, 100] -> [B, 64, 64, 3] in [-1, 1] (tanh); paper B section 5.2, paper C's prior.
    zero_last: the last deconv starts at zero (paper B's residual output, models/unsupervised.py)."""
    n = _n_up(image_size)
    z = keras.Input((z_dim,), name="z")
    x = layers.Reshape((1, 1, z_dim), name="z_as_1x1")(z)
    x = layers.Conv2DTranspose(width * 2 ** (n - 1), 4, strides=1, padding="valid", use_bias=False,
                               kernel_initializer=_conv_init(), name="project")(x)     # 4x4
    x = _bn("project_bn")(x)
    x = layers.ReLU(name="project_relu")(x)
    for i in range(n - 1, 0, -1):                                                          # 8, 16, 32
        x = layers.Conv2DTranspose(width * 2 ** (i - 1), 4, strides=2, padding="same", use_bias=False,
                                   kernel_initializer=_conv_init(), name=f"up{n - i}")(x)
        x = _bn(f"up{n - i}_bn")(x)
        x = layers.ReLU(name=f"up{n - i}_relu")(x)
    x = layers.Conv2DTranspose(3, 4, strides=2, padding="same", use_bias=False,
                               kernel_initializer="zeros" if zero_last else _conv_init(), name="to_rgb")(x)
    out = layers.Activation("tanh", dtype="float32", name="tanh")(x)
    return keras.Model(z, out, name=name)


def encoder_body(x, image_size=64, width=64, batch_norm=True, prefix=""):
    """The discriminator's trunk on tensor x: 4x4 stride-2 convs, widths width*1, 2, 4, 8; LReLU 0.2;
    BN on all but the first (when batch_norm). Returns the 4x4 feature map."""
    n = _n_up(image_size)
    for i in range(n):
        x = layers.Conv2D(width * 2 ** i, 4, strides=2, padding="same", use_bias=False,
                          kernel_initializer=_conv_init(), name=f"{prefix}down{i + 1}")(x)
        if batch_norm and i > 0:
            x = _bn(f"{prefix}down{i + 1}_bn")(x)
        x = layers.LeakyReLU(0.2, name=f"{prefix}down{i + 1}_lrelu")(x)
    return x


def discriminator(image_size=64, width=64, output="probability", batch_norm=True, channels=3):
    """DCGAN discriminator: image [B, S, S, 3] -> [B, 1].

    output="probability": sigmoid (paper B, DCGAN with BCE); "score": the raw last conv, a WGAN
    critic. batch_norm=False drops every BN (the WGAN-GP critic: the penalty is per sample).
    """
    if output not in ("probability", "score"):
        raise ValueError(f"output must be 'probability' or 'score', got {output!r}")
    image = keras.Input((image_size, image_size, channels), name="image")
    x = encoder_body(image, image_size, width, batch_norm)
    x = layers.Conv2D(1, 4, strides=1, padding="valid", use_bias=False, kernel_initializer=_conv_init(),
                      name="score")(x)                                                     # 1x1
    x = layers.Flatten(name="flatten")(x)
    if output == "probability":
        x = layers.Activation("sigmoid", dtype="float32", name="sigmoid")(x)
    else:
        x = layers.Activation("linear", dtype="float32", name="raw_score")(x)
    name = "dcgan_discriminator" if output == "probability" else "dcgan_critic"
    return keras.Model(image, x, name=name)
