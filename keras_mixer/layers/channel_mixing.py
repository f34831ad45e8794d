"""Mixing across channels: the per-token MLP shared by every token (gated in gMixer and gMLP)."""

import keras

from keras_mixer.arguments import boolean
from keras_mixer.arguments import positive_float

from keras_mixer.layers.mlp import MixingMLP
from keras_mixer.layers.spatial_gating import SpatialGatingUnit


@keras.saving.register_keras_serializable(package="keras_mixer")
class ChannelMixing(MixingMLP):
    """The channel-mixing MLP `fc2(GELU(fc1(x)))`, applied to every token.

    Args:
        hidden_dim: int D_C, the hidden width; if None, `mlp_ratio * C`.
        mlp_ratio: float, hidden width relative to the input channels, used
            when `hidden_dim` is None (ResMLP uses 4).
        gelu_approximate: bool, tanh-approximated GELU (official Mixer
            weights) instead of exact GELU (ResMLP, timm).
        glu: bool, gMixer's SiLU-gated MLP: fc1's halves `(a, g)` give
            `a * SiLU(g)` and fc2 reads half the hidden width.
        spatial_gating: bool, gMLP's channel MLP (timm's `GatedMlp`):
            `fc2(SGU(GELU(fc1(x))))`, a `SpatialGatingUnit` halving the width.
        norm_epsilon: LayerNorm epsilon of the spatial gating unit.
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
    >>> glu = keras_mixer.layers.ChannelMixing(mlp_ratio=4, glu=True)  # gMixer
    >>> _ = glu(np.zeros((2, 196, 384), "float32"))
    >>> tuple(glu.fc1.kernel.shape), tuple(glu.fc2.kernel.shape)
    ((384, 1536), (768, 384))
    >>> gmlp = keras_mixer.layers.ChannelMixing(mlp_ratio=6, spatial_gating=True)
    >>> _ = gmlp(np.zeros((2, 196, 256), "float32"))
    >>> tuple(gmlp.fc2.kernel.shape), tuple(gmlp.gate.proj.kernel.shape)
    ((768, 256), (196, 196))
    """

    def __init__(self, hidden_dim=None, mlp_ratio=4.0, spatial_gating=False, norm_epsilon=1e-5,
                 **kwargs):
        super().__init__(hidden_dim, **kwargs)
        self.mlp_ratio = positive_float("mlp_ratio", mlp_ratio)
        self.spatial_gating = boolean("spatial_gating", spatial_gating)
        self.norm_epsilon = positive_float("norm_epsilon", norm_epsilon)
        if self.spatial_gating and self.glu:
            raise ValueError(
                "ChannelMixing: glu=True with spatial_gating=True is not supported; expected "
                "one gate (gMixer: glu, gMLP: spatial_gating)."
            )
        if self.spatial_gating:
            self.gate = SpatialGatingUnit(self.norm_epsilon, dtype=self.dtype_policy,
                                          name="gate")

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None:
            raise ValueError(
                f"ChannelMixing needs a known channel dimension, got shape "
                f"{tuple(input_shape)}."
            )
        hidden = self.hidden_dim or int(round(channels * self.mlp_ratio))
        self.fc1 = keras.layers.Dense(hidden, **self._linear_kwargs("fc1"))
        self.fc2 = keras.layers.Dense(channels, **self._linear_kwargs("fc2"))
        self.fc1.build(input_shape)
        width = self._activated_width(hidden)
        if self.gate is not None:
            self.gate.build(tuple(input_shape[:-1]) + (hidden,))
        self.fc2.build(tuple(input_shape[:-1]) + (width,))
        if self.glu:
            self._open_gates()

    def call(self, inputs, training=None):
        return self._mlp(inputs, training)

    def get_config(self):
        return {**super().get_config(), "mlp_ratio": self.mlp_ratio,
                "spatial_gating": self.spatial_gating, "norm_epsilon": self.norm_epsilon}
