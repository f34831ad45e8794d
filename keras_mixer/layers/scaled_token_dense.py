"""A token-axis linear map followed by a per-channel scale and a per-entry bias."""

import keras
from keras import ops

from keras_mixer.arguments import positive_int


@keras.saving.register_keras_serializable(package="keras_mixer")
class ScaledTokenDense(keras.layers.Layer):
    """`y[b, t, c] = scale[c] * sum_s x[b, s, c] * kernel[s, t] + bias[t, c]`.

    The inference form of a token map between per-channel affine maps: a
    per-channel map commutes with a map over tokens, so
    `gamma * (A (x * alpha + beta) + b)` is this layer with
    `scale = gamma * alpha` and `bias[t, c] = gamma[c] * (beta[c] *
    sum_s A[s, t] + b[t])`. `keras_mixer.fuse_for_inference` builds it; its
    weights start at the identity scale and zero bias.

    Args:
        units: int, the number of output tokens.
        kernel_initializer: initialiser of the `(tokens, units)` kernel.
        **kwargs: base layer arguments.

    Input shape: `(B, S, C)` with S and C known. Output shape: `(B, units, C)`.

    Example:

    >>> import numpy as np, keras_mixer
    >>> layer = keras_mixer.layers.ScaledTokenDense(49)
    >>> y = layer(np.ones((2, 196, 384), "float32"))
    >>> tuple(y.shape), tuple(layer.scale.shape), tuple(layer.bias.shape)
    ((2, 49, 384), (384,), (49, 384))
    """

    def __init__(self, units, kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        self.units = positive_int("units", units)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, input_shape):
        if len(input_shape) != 3 or input_shape[1] is None or input_shape[2] is None:
            raise ValueError(
                f"{type(self).__name__} expects a token table (batch, tokens, channels) with "
                f"known tokens and channels, got shape {tuple(input_shape)}."
            )
        self.kernel = self.add_weight(
            shape=(input_shape[1], self.units), initializer=self.kernel_initializer, name="kernel"
        )
        self.scale = self.add_weight(shape=(input_shape[2],), initializer="ones", name="scale")
        self.bias = self.add_weight(
            shape=(self.units, input_shape[2]), initializer="zeros", name="bias"
        )

    def call(self, inputs):
        outputs = ops.einsum("bsc,st->btc", inputs, ops.cast(self.kernel, inputs.dtype))
        return outputs * ops.cast(self.scale, outputs.dtype) + ops.cast(self.bias, outputs.dtype)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.units, input_shape[2])

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
        }
