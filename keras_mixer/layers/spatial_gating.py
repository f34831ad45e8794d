"""gMLP's Spatial Gating Unit: half the channels gate the other half through a map over tokens."""

import keras
from keras import ops

from keras_mixer.arguments import positive_float
from keras_mixer.layers.mlp import fresh_initializer
from keras_mixer.layers.token_dense import TokenDense


@keras.saving.register_keras_serializable(package="keras_mixer")
class SpatialGatingUnit(keras.layers.Layer):
    """`s(Z) = Z1 * (W . LayerNorm(Z2) + b)`, W an S x S map over tokens (Liu et al. 2021).

    The channels of `Z` are split in halves `Z1`, `Z2` (first half `Z1`, as
    timm's `chunk(2, dim=-1)`); `Z2` is normalised over channels, mixed across
    the S tokens by `proj` (a `TokenDense`, the same map for every channel)
    and multiplies `Z1`. As in the paper and timm, `proj` starts with a kernel
    ~ N(0, 1e-6) and a bias of ones, so the unit starts as the identity on
    `Z1`. The LayerNorm epsilon is 1e-5, PyTorch's default, as in timm (the
    blocks use 1e-6).

    Args:
        norm_epsilon: epsilon of the LayerNorm on `Z2`.
        kernel_initializer: initialiser of `proj`'s kernel; None for N(0, 1e-6).
        bias_initializer: initialiser of `proj`'s bias.
        **kwargs: base layer arguments.

    Input shape: `(B, S, 2D)` with S known. Output shape: `(B, S, D)`.

    Example:

    >>> import keras, numpy as np, keras_mixer
    >>> unit = keras_mixer.layers.SpatialGatingUnit()
    >>> x = np.random.default_rng(0).normal(size=(2, 196, 768)).astype("float32")
    >>> y = keras.ops.convert_to_numpy(unit(x))
    >>> y.shape, tuple(unit.proj.kernel.shape)
    ((2, 196, 384), (196, 196))
    >>> bool(np.allclose(y, x[..., :384], atol=1e-3))  # at initialisation: Z1
    True
    """

    def __init__(
        self,
        norm_epsilon=1e-5,
        kernel_initializer=None,
        bias_initializer="ones",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.norm_epsilon = positive_float("norm_epsilon", norm_epsilon)
        self.kernel_initializer = keras.initializers.get(
            kernel_initializer or keras.initializers.RandomNormal(stddev=1e-6)
        )
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.norm = keras.layers.LayerNormalization(
            epsilon=self.norm_epsilon, dtype=self.dtype_policy, name="norm"
        )
        self.proj = None

    def build(self, input_shape):
        if len(input_shape) != 3 or input_shape[1] is None or (input_shape[2] or 1) % 2:
            raise ValueError(
                f"SpatialGatingUnit expects a token table (batch, tokens, channels) with a "
                f"known number of tokens and an even number of channels, got shape "
                f"{tuple(input_shape)}."
            )
        half = (input_shape[0], input_shape[1], input_shape[2] // 2)
        self.proj = TokenDense(
            input_shape[1],
            kernel_initializer=fresh_initializer(self.kernel_initializer),
            bias_initializer=fresh_initializer(self.bias_initializer),
            dtype=self.dtype_policy,
            name="proj",
        )
        self.norm.build(half)
        self.proj.build(half)

    def call(self, inputs):
        value, gate = ops.split(inputs, 2, axis=-1)
        return value * self.proj(self.norm(gate))

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], input_shape[-1] // 2)

    def get_config(self):
        return {
            **super().get_config(),
            "norm_epsilon": self.norm_epsilon,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
        }
