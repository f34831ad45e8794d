"""The two-layer GELU MLP shared by token mixing and channel mixing."""

import keras

from keras_mixer.layers.gelu import gelu

from keras_mixer.arguments import boolean
from keras_mixer.arguments import optional_positive_int
from keras_mixer.arguments import probability


def _fresh(initializer):
    """A new initializer from `initializer`'s config (a new seed unless it fixes one)."""
    return keras.initializers.get(keras.initializers.serialize(initializer))


class MixingMLP(keras.layers.Layer):
    """Base of `TokenMixing` and `ChannelMixing`: `fc2(GELU(fc1(x)))` with dropout.

    Subclasses create `fc1` and `fc2` in `build` (along their own axis) with
    `_linear_kwargs()`; this class holds the shared options, the forward pass
    and the config.
    """

    def __init__(
        self,
        hidden_dim=None,
        gelu_approximate=False,
        dropout_rate=0.0,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.hidden_dim = optional_positive_int("hidden_dim", hidden_dim)
        self.gelu_approximate = boolean("gelu_approximate", gelu_approximate)
        self.dropout_rate = probability("dropout_rate", dropout_rate)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.dropout = keras.layers.Dropout(self.dropout_rate, dtype=self.dtype_policy)

    def _linear_kwargs(self, name):
        # A fresh initializer per map: an initializer object holds one seed,
        # so sharing it would give maps (and blocks) the same initial values.
        return {
            "kernel_initializer": _fresh(self.kernel_initializer),
            "bias_initializer": _fresh(self.bias_initializer),
            "dtype": self.dtype_policy,
            "name": name,
        }

    def _mlp(self, inputs, training):
        hidden = gelu(self.fc1(inputs), approximate=self.gelu_approximate)
        hidden = self.dropout(hidden, training=training)
        return self.dropout(self.fc2(hidden), training=training)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "hidden_dim": self.hidden_dim,
            "gelu_approximate": self.gelu_approximate,
            "dropout_rate": self.dropout_rate,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
        }
