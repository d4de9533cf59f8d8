"""Analytic FLOP counts from Keras layer shapes, and the timer (backend-agnostic: the TensorFlow
bench and the JAX proxy share them)."""
import statistics
import time

import keras
import numpy as np


def median_time(fn, repeats, warmup=2):
    """Median wall time of `fn()` over `repeats` calls after `warmup` untimed ones."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def concrete(model, size):
    """`model`, or for a fully convolutional one (inputs of unknown side) a clone whose inputs are
    size x size, so that its layers have the shapes `forward_macs` counts."""
    shapes = [tuple(t.shape) for t in model.inputs]
    if all(d is not None for shape in shapes for d in shape[1:]):
        return model
    inputs = [keras.Input(tuple(size if d is None else d for d in shape[1:])) for shape in shapes]
    return keras.models.clone_model(model, input_tensors=inputs if len(inputs) > 1 else inputs[0])


def forward_macs(model, size=None):
    """Multiply-accumulates of one example's forward pass: Conv2D, Conv2DTranspose, Dense (nested
    models included; BN, activations, pooling, losses are not counted: a few %). size: the image
    side at which a fully convolutional model (inputs of unknown side) is counted."""
    if size is not None:
        model = concrete(model, size)
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.Model):          # nested: at the side its caller feeds it (last call)
            fed = [n.input_tensors[0].shape for n in getattr(layer, "_inbound_nodes", []) if n.input_tensors]
            total += forward_macs(layer, fed[-1][1] if fed and size is not None else None)
        elif isinstance(layer, keras.layers.Conv2DTranspose):
            _, h, w, cin = layer.input.shape
            total += h * w * int(np.prod(layer.kernel_size)) * cin * layer.filters
        elif isinstance(layer, keras.layers.Conv2D):
            _, h, w, cout = layer.output.shape
            total += h * w * int(np.prod(layer.kernel_size)) * layer.input.shape[-1] * cout // layer.groups
        elif isinstance(layer, keras.layers.Dense):
            shape = layer.input.shape
            total += int(np.prod(shape[1:-1] or [1])) * shape[-1] * layer.units
    return int(total)
