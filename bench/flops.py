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


def forward_macs(model):
    """Multiply-accumulates of one example's forward pass: Conv2D, Conv2DTranspose, Dense (nested
    models included; BN, activations, pooling, losses are not counted: a few %)."""
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            total += forward_macs(layer)
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
