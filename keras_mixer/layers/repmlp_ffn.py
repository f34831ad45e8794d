"""RepMLPNet's feed-forward block: 1x1 conv-BN, GELU, 1x1 conv-BN."""

import keras

from keras_mixer.layers.gelu import gelu

from keras_mixer.layers import traceable

from keras_mixer.arguments import fraction
from keras_mixer.arguments import positive_float
from keras_mixer.arguments import positive_int


@keras.saving.register_keras_serializable(package="keras_mixer")
class FFNBlock(keras.layers.Layer):
    """The FFN of a RepMLPNet unit: `BN(fc2(GELU(BN(fc1(x)))))` per pixel.

    `fc1` and `fc2` are bias-free 1x1 convolutions, i.e. Dense layers over the
    channel axis; GELU is the exact form (PyTorch's `nn.GELU`).

    Args:
        expansion: hidden width relative to the input channels (4).
        epsilon, momentum: of the BatchNorm layers (PyTorch's defaults).
        **kwargs: base layer arguments.

    Input shape: `(..., C)`. Output shape: same as input.

    Example:

    >>> import numpy as np, keras_mixer
    >>> ffn = keras_mixer.layers.FFNBlock(expansion=4)
    >>> _ = ffn(np.zeros((1, 7, 7, 32), "float32"))
    >>> tuple(ffn.fc1.kernel.shape), tuple(ffn.fc2.kernel.shape)
    ((32, 128), (128, 32))
    """

    def __init__(self, expansion=4, epsilon=1e-5, momentum=0.9, **kwargs):
        super().__init__(**kwargs)
        self.expansion = positive_int("expansion", expansion)
        self.epsilon = positive_float("epsilon", epsilon)
        self.momentum = fraction("momentum", momentum)

    def _batch_norm(self, name):
        return traceable.BatchNormalization(
            epsilon=self.epsilon, momentum=self.momentum, dtype=self.dtype_policy, name=name
        )

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None:
            raise ValueError(
                f"FFNBlock needs a known channel dimension, got shape {tuple(input_shape)}."
            )
        hidden = channels * self.expansion
        self.fc1 = keras.layers.Dense(hidden, use_bias=False, dtype=self.dtype_policy, name="fc1")
        self.bn1 = self._batch_norm("bn1")
        self.fc2 = keras.layers.Dense(channels, use_bias=False, dtype=self.dtype_policy, name="fc2")
        self.bn2 = self._batch_norm("bn2")
        hidden_shape = tuple(input_shape[:-1]) + (hidden,)
        self.fc1.build(input_shape)
        self.bn1.build(hidden_shape)
        self.fc2.build(hidden_shape)
        self.bn2.build(input_shape)

    def call(self, inputs, training=None):
        hidden = gelu(self.bn1(self.fc1(inputs), training=training), approximate=False)
        return self.bn2(self.fc2(hidden), training=training)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "expansion": self.expansion,
            "epsilon": self.epsilon,
            "momentum": self.momentum,
        }
