"""The gMLP block (Liu et al. 2021): one pre-norm residual MLP whose gate mixes tokens."""

import keras

from keras_mixer.arguments import positive_float
from keras_mixer.arguments import probability

from keras_mixer.layers.channel_mixing import ChannelMixing
from keras_mixer.layers.drop_path import DropPath
from keras_mixer.layers.remat import RematWithKeywords


@keras.saving.register_keras_serializable(package="keras_mixer")
class GMLPBlock(RematWithKeywords, keras.layers.Layer):
    """`Y = X + drop_path(fc2(SGU(GELU(fc1(LayerNorm(X))))))`, timm's `SpatialGatingBlock`.

    `fc1` widens C to `mlp_ratio * C` channels, the `SpatialGatingUnit` halves
    them (one half gates the other through an S x S map over tokens) and
    `fc2` maps back to C: the only token mixing of the block is inside the
    gate. The block's LayerNorm has epsilon 1e-6, the gate's 1e-5, as in timm.

    Args:
        mlp_ratio: hidden width of `fc1` relative to C (gMLP uses 6).
        norm_epsilon: epsilon of the block's LayerNorm.
        gate_norm_epsilon: epsilon of the gating unit's LayerNorm.
        drop_path_rate: stochastic-depth probability of the branch.
        dropout_rate: dropout after the activation and after `fc2`.
        kernel_initializer, bias_initializer: of `fc1` and `fc2`.
        **kwargs: base layer arguments.

    Input/output shape: `(B, S, C)`.

    Example:

    >>> import numpy as np, keras_mixer
    >>> block = keras_mixer.layers.GMLPBlock(mlp_ratio=6)
    >>> x = np.random.rand(2, 196, 128).astype("float32")
    >>> tuple(block(x).shape), tuple(block.channel_mixing.gate.proj.kernel.shape)
    ((2, 196, 128), (196, 196))
    """

    def __init__(
        self,
        mlp_ratio=6.0,
        norm_epsilon=1e-6,
        gate_norm_epsilon=1e-5,
        drop_path_rate=0.0,
        dropout_rate=0.0,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.mlp_ratio = positive_float("mlp_ratio", mlp_ratio)
        self.norm_epsilon = positive_float("norm_epsilon", norm_epsilon)
        self.gate_norm_epsilon = positive_float("gate_norm_epsilon", gate_norm_epsilon)
        self.drop_path_rate = probability("drop_path_rate", drop_path_rate)
        self.dropout_rate = probability("dropout_rate", dropout_rate)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.norm = keras.layers.LayerNormalization(
            epsilon=self.norm_epsilon, dtype=self.dtype_policy, name="norm"
        )
        self.channel_mixing = ChannelMixing(
            mlp_ratio=self.mlp_ratio,
            spatial_gating=True,
            norm_epsilon=self.gate_norm_epsilon,
            dropout_rate=self.dropout_rate,
            kernel_initializer=self.kernel_initializer,
            bias_initializer=self.bias_initializer,
            dtype=self.dtype_policy,
            name="channel_mixing",
        )
        self.drop_path = DropPath(self.drop_path_rate, dtype=self.dtype_policy)

    def build(self, input_shape):
        self.norm.build(input_shape)
        self.channel_mixing.build(input_shape)

    def call(self, inputs, training=None):
        branch = self.channel_mixing(self.norm(inputs), training=training)
        return inputs + self.drop_path(branch, training=training)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "mlp_ratio": self.mlp_ratio,
            "norm_epsilon": self.norm_epsilon,
            "gate_norm_epsilon": self.gate_norm_epsilon,
            "drop_path_rate": self.drop_path_rate,
            "dropout_rate": self.dropout_rate,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
        }
