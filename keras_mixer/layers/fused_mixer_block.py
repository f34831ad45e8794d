"""The inference form of a MixerBlock, per-channel maps folded into its linear maps."""

import keras

from keras_mixer.layers.gelu import gelu

from keras_mixer.arguments import boolean
from keras_mixer.arguments import one_of
from keras_mixer.arguments import optional_positive_int
from keras_mixer.arguments import positive_float
from keras_mixer.arguments import positive_int

from keras_mixer.layers.mixer_block import NORMS
from keras_mixer.layers.scaled_token_dense import ScaledTokenDense


@keras.saving.register_keras_serializable(package="keras_mixer")
class FusedMixerBlock(keras.layers.Layer):
    """A `MixerBlock` for inference, with no per-channel map left on its own.

        U = X + T(n(X))         T: token map(s), ScaledTokenDense
        Y = U + fc2(GELU(fc1(n(U))))

    `n` is the identity for ResMLP (`norm="affine"`: the Affine maps are
    folded into the next linear map) and a LayerNorm without scale and
    shift for MLP-Mixer (its scale and shift are folded). `T` is one
    `ScaledTokenDense` (`token_mixing_dim=None`) or two with a GELU between
    them; the layer scales are folded into the last map of each branch.
    `keras_mixer.fuse_for_inference` builds it from a trained `MixerBlock`;
    there is no dropout or stochastic depth, so it is for inference only.

    Args:
        token_mixing_dim: None (one token map) or int D_S (token MLP).
        channel_mixing_dim: int D_C, the hidden width of the channel MLP.
        norm: `"affine"` or `"layer_norm"`, the norm of the block it replaces.
        norm_epsilon: LayerNorm epsilon.
        gelu_approximate: tanh GELU instead of exact GELU.
        **kwargs: base layer arguments.

    Input/output shape: `(B, S, C)`.

    Example:

    >>> import numpy as np, keras_mixer
    >>> block = keras_mixer.layers.FusedMixerBlock(channel_mixing_dim=64)
    >>> tuple(block(np.zeros((2, 16, 32), "float32")).shape)
    (2, 16, 32)
    """

    def __init__(
        self,
        token_mixing_dim=None,
        channel_mixing_dim=None,
        norm="affine",
        norm_epsilon=1e-6,
        gelu_approximate=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.token_mixing_dim = optional_positive_int("token_mixing_dim", token_mixing_dim)
        self.channel_mixing_dim = positive_int("channel_mixing_dim", channel_mixing_dim)
        self.norm = one_of("norm", norm, NORMS)
        self.norm_epsilon = positive_float("norm_epsilon", norm_epsilon)
        self.gelu_approximate = boolean("gelu_approximate", gelu_approximate)
        self.normalize = (
            None if norm == "affine" else keras.layers.LayerNormalization(
                epsilon=self.norm_epsilon, center=False, scale=False, dtype=self.dtype_policy,
                name="normalize",
            )
        )

    def build(self, input_shape):
        _, tokens, channels = input_shape
        if tokens is None or channels is None:
            raise ValueError(
                f"FusedMixerBlock needs known tokens and channels, got shape {tuple(input_shape)}."
            )
        policy = {"dtype": self.dtype_policy}
        if self.token_mixing_dim is None:
            self.token_maps = [ScaledTokenDense(tokens, name="token_linear", **policy)]
        else:
            self.token_maps = [
                ScaledTokenDense(self.token_mixing_dim, name="token_fc1", **policy),
                ScaledTokenDense(tokens, name="token_fc2", **policy),
            ]
        hidden_tokens = (input_shape[0], self.token_mixing_dim, channels)
        for token_map, shape in zip(self.token_maps, (input_shape, hidden_tokens)):
            token_map.build(shape)
        self.fc1 = keras.layers.Dense(self.channel_mixing_dim, name="fc1", **policy)
        self.fc2 = keras.layers.Dense(channels, name="fc2", **policy)
        self.fc1.build(input_shape)
        self.fc2.build((input_shape[0], tokens, self.channel_mixing_dim))
        if self.normalize is not None:
            self.normalize.build(input_shape)

    def _norm(self, inputs):
        return inputs if self.normalize is None else self.normalize(inputs)

    def _gelu(self, inputs):
        return gelu(inputs, approximate=self.gelu_approximate)

    def call(self, inputs):
        branch = self.token_maps[0](self._norm(inputs))
        if len(self.token_maps) == 2:
            branch = self.token_maps[1](self._gelu(branch))
        tokens = inputs + branch
        return tokens + self.fc2(self._gelu(self.fc1(self._norm(tokens))))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "token_mixing_dim": self.token_mixing_dim,
            "channel_mixing_dim": self.channel_mixing_dim,
            "norm": self.norm,
            "norm_epsilon": self.norm_epsilon,
            "gelu_approximate": self.gelu_approximate,
        }
