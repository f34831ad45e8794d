"""Mixing across channels: the per-token MLP shared by every token."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_mixer")
class ChannelMixing(keras.layers.Layer):
    """The channel-mixing MLP `fc2(GELU(fc1(x)))`, applied to every token.

    Args:
        hidden_dim: int D_C, the hidden width; if None, `mlp_ratio * C`.
        mlp_ratio: float, hidden width relative to the input channels, used
            when `hidden_dim` is None (ResMLP uses 4).
        gelu_approximate: bool, tanh-approximated GELU (official Mixer
            weights) instead of exact GELU (ResMLP, timm).
        dropout_rate: dropout after the activation and after the output.
        kernel_initializer, bias_initializer: initialisers of `fc1`, `fc2`.
        **kwargs: base layer arguments.

    Input shape: `(..., C)`. Output shape: same as input.

    Example:

    >>> import numpy as np, keras_mixer
    >>> mlp = keras_mixer.layers.ChannelMixing(mlp_ratio=4)
    >>> _ = mlp(np.zeros((2, 196, 384), "float32"))
    >>> tuple(mlp.fc1.kernel.shape), tuple(mlp.fc2.kernel.shape)
    ((384, 1536), (1536, 384))
    """

    def __init__(
        self,
        hidden_dim=None,
        mlp_ratio=4.0,
        gelu_approximate=False,
        dropout_rate=0.0,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.hidden_dim = None if hidden_dim is None else int(hidden_dim)
        self.mlp_ratio = float(mlp_ratio)
        self.gelu_approximate = bool(gelu_approximate)
        self.dropout_rate = float(dropout_rate)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.dropout = keras.layers.Dropout(self.dropout_rate, dtype=self.dtype_policy)

    def _dense(self, units, name):
        return keras.layers.Dense(
            units,
            kernel_initializer=self.kernel_initializer,
            bias_initializer=self.bias_initializer,
            dtype=self.dtype_policy,
            name=name,
        )

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None:
            raise ValueError(
                f"ChannelMixing needs a known channel dimension, got shape "
                f"{tuple(input_shape)}."
            )
        hidden = self.hidden_dim or int(round(channels * self.mlp_ratio))
        self.fc1 = self._dense(hidden, "fc1")
        self.fc2 = self._dense(channels, "fc2")
        self.fc1.build(input_shape)
        self.fc2.build(tuple(input_shape[:-1]) + (hidden,))

    def call(self, inputs, training=None):
        hidden = ops.gelu(self.fc1(inputs), approximate=self.gelu_approximate)
        hidden = self.dropout(hidden, training=training)
        return self.dropout(self.fc2(hidden), training=training)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "hidden_dim": self.hidden_dim,
            "mlp_ratio": self.mlp_ratio,
            "gelu_approximate": self.gelu_approximate,
            "dropout_rate": self.dropout_rate,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
        }
