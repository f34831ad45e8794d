"""A linear map along the token axis of a `(batch, tokens, channels)` table."""

import keras
from keras import ops

from keras_mixer.arguments import boolean
from keras_mixer.arguments import positive_int


@keras.saving.register_keras_serializable(package="keras_mixer")
class TokenDense(keras.layers.Layer):
    """`y[b, t, c] = sum_s x[b, s, c] * kernel[s, t] + bias[t]`: Dense over tokens.

    The same map is applied to every channel (the "parameter tying" of the
    MLP-Mixer paper). The contraction is one einsum over the token axis, so no
    transpose of the token table is materialised. The bias is explicitly
    broadcast to `(units, channels)` before the add: the TensorFlow backend of
    Keras 3.15 turns an add of a `(units, 1)` tensor into a channels-last
    `bias_add` whenever `units == channels`, which would put the bias on the
    wrong axis.

    Args:
        units: int, the number of output tokens.
        use_bias: bool, whether to add a per-output-token bias.
        kernel_initializer, bias_initializer: initialisers.
        **kwargs: base layer arguments.

    Input shape: `(B, S, C)` with S known. Output shape: `(B, units, C)`.

    Example:

    >>> import numpy as np, keras_mixer
    >>> layer = keras_mixer.layers.TokenDense(49)
    >>> y = layer(np.ones((2, 196, 384), "float32"))
    >>> tuple(y.shape), tuple(layer.kernel.shape), tuple(layer.bias.shape)
    ((2, 49, 384), (196, 49), (49,))
    """

    def __init__(
        self,
        units,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.units = positive_int("units", units)
        self.use_bias = boolean("use_bias", use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)

    def build(self, input_shape):
        if len(input_shape) != 3 or input_shape[1] is None:
            raise ValueError(
                f"{type(self).__name__} expects a token table (batch, tokens, "
                f"channels) with a known number of tokens, got shape "
                f"{tuple(input_shape)}."
            )
        self.kernel = self.add_weight(
            shape=(input_shape[1], self.units), initializer=self.kernel_initializer, name="kernel"
        )
        self.bias = (
            self.add_weight(shape=(self.units,), initializer=self.bias_initializer, name="bias")
            if self.use_bias
            else None
        )

    def call(self, inputs):
        outputs = ops.einsum("bsc,st->btc", inputs, ops.cast(self.kernel, inputs.dtype))
        if self.bias is None:
            return outputs
        bias = ops.cast(ops.expand_dims(self.bias, -1), outputs.dtype)
        return outputs + ops.broadcast_to(bias, ops.shape(outputs)[1:])

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.units, input_shape[2])

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "use_bias": self.use_bias,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
        }
