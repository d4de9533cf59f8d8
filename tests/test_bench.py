"""bench/flops.py: the analytic FLOP count the bench reports, on hand-counted layers."""
import keras

from bench.flops import forward_macs


def test_forward_macs_counts_conv_transposed_conv_and_dense_by_hand():
    x = inp = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, strides=2, padding="same")(x)           # out 4x4x4: 16 * 9*3 * 4
    x = keras.layers.Conv2DTranspose(2, 4, strides=2, padding="same")(x)  # in 4x4x4: 16 * 16*4 * 2
    x = keras.layers.BatchNormalization()(x)                              # not counted
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(5)(x)                                          # 8*8*2 * 5
    inner = keras.Model(inp, x)
    outer = keras.Model(inp, keras.layers.Dense(7)(inner(inp)))           # nested + 5 * 7
    assert forward_macs(inner) == 16 * 27 * 4 + 16 * 16 * 4 * 2 + 128 * 5
    assert forward_macs(outer) == forward_macs(inner) + 35
