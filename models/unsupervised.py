"""Paper B: unsupervised (unpaired) GAN inpainting on the DCGAN architecture.

G(x_m) = the DCGAN generator fed by an encoder that mirrors the DCGAN discriminator down to a
100-d code [choice, PAPERS.md B]. The network's input is the damaged image with its holes set to
0 plus the mask as a 4th channel (`DamagedInput`), so whatever the hole held never enters it.
The discriminator is models.dcgan.discriminator (probability). Paper B's losses (section 4) and
its training step are in train_unsupervised.py.
"""
import keras
from keras import layers, ops

from models import dcgan
from models.layers import AddInput, ImageMeanFill

# Option, measured and OFF (docs/EXPERIMENTS.md, B): output = clip(per-image mean fill + G's tanh
# output), the last deconv at zero, as paper A's. With B's adversarial-only loss it gained 1 dB pasted
# but lost 1.4 dB Poisson-blended at the demo's scale, so the paper's plain DCGAN output stays.
RESIDUAL = False


@keras.saving.register_keras_serializable(package="gan_restoration")
class DamagedInput(keras.layers.Layer):
    """[image, mask] -> concat(image * (1 - mask), mask): the holes are zeroed (they may hold
    anything, the clean pixels included, and none of it passes) and the mask says where they are."""

    def call(self, inputs):
        image, hole = (ops.cast(t, self.compute_dtype) for t in inputs)
        return ops.concatenate([image * (1.0 - hole), hole], axis=-1)

    def compute_output_shape(self, input_shape):
        image_shape = input_shape[0]
        return (*image_shape[:-1], image_shape[-1] + 1)


def encoder(image_size=64, width=64, code_dim=100, channels=4):
    """The discriminator's plan with a 100-d code instead of the probability:
    Conv(4->64,4,2,1) LReLU, Conv(64->128) BN LReLU, ..., Conv(512->100, 4, 1, 0) (linear)."""
    x_in = keras.Input((image_size, image_size, channels), name="damaged_and_mask")
    x = dcgan.encoder_body(x_in, image_size, width, batch_norm=True, prefix="enc_")
    x = layers.Conv2D(code_dim, 4, strides=1, padding="valid", use_bias=False,
                      kernel_initializer=dcgan._conv_init(), name="enc_code")(x)
    code = layers.Flatten(name="code")(x)
    return keras.Model(x_in, code, name="encoder")


def inpainting_generator(image_size=64, width=64, code_dim=100, residual=RESIDUAL):
    """G(x_m): inputs [image [B,S,S,3] in [-1,1] (holes may hold anything), mask [B,S,S,1] (1 = hole)]
    -> the full prediction [B,S,S,3] in [-1,1], BEFORE compositing (the train step and inpaint.py
    composite). This model is what export/inpainter.keras holds. residual: the prediction is the
    per-image mean fill plus the DCGAN generator's output, whose last deconv starts at zero."""
    image = keras.Input((image_size, image_size, 3), name="image")
    mask = keras.Input((image_size, image_size, 1), name="mask")
    x = DamagedInput(name="damaged_input")([image, mask])
    code = encoder(image_size, width, code_dim)(x)
    out = dcgan.generator(code_dim, image_size, width, zero_last=residual)(code)
    if residual:
        out = AddInput(name="residual")([ImageMeanFill(name="image_mean_fill")([image, mask]), out])
    return keras.Model([image, mask], out, name="unsupervised_inpainter")


def discriminator(image_size=64, width=64):
    """Paper B's D: the DCGAN discriminator, a probability (sigmoid)."""
    return dcgan.discriminator(image_size, width, output="probability")


def networks(config):
    """Paper B's networks for a run's config (papers.networks): the inpainting generator and the
    DCGAN discriminator."""
    return dict(generator=inpainting_generator(config["image_size"], config["width"], config["code_dim"],
                                               residual=bool(config.get("residual", False))),
                discriminator=discriminator(config["image_size"], config["width"]))
