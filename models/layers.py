"""Layers shared by more than one paper's network (registered, so exported .keras files load)."""
import keras

PACKAGE = "gan_restoration"


@keras.saving.register_keras_serializable(package=PACKAGE)
class AddInput(keras.layers.Layer):
    """[image, residual] -> clip(image + residual, -1, 1): the global residual of DeblurGAN
    (``output = clamp(input + tanh(model(input)), -1, 1)``); float32 whatever the policy.
    Paper E adds the blurred input; paper A adds the mean-filled image (models/iizuka.py)."""

    def __init__(self, **kw):
        kw.setdefault("dtype", "float32")
        super().__init__(**kw)

    def call(self, inputs):
        image, residual = inputs
        return keras.ops.clip(keras.ops.cast(image, "float32") + keras.ops.cast(residual, "float32"), -1.0, 1.0)


@keras.saving.register_keras_serializable(package=PACKAGE)
class ImageMeanFill(keras.layers.Layer):
    """[image, mask] -> image with each hole pixel set to the per-channel mean of that image's
    known pixels (the tables' "mean fill" baseline): the base of papers A's and B's residual output."""

    def call(self, inputs):
        image, mask = inputs
        known = 1.0 - keras.ops.cast(mask, image.dtype)
        mean = keras.ops.sum(image * known, axis=(1, 2), keepdims=True) / keras.ops.maximum(
            keras.ops.sum(known, axis=(1, 2), keepdims=True), 1.0)
        return image * known + mean * (1.0 - known)

    def compute_output_shape(self, input_shapes):
        return tuple(input_shapes[0])
