"""The pre-norm block shared by MLP-Mixer, ResMLP and gMixer."""

import keras

from keras_mixer.arguments import boolean
from keras_mixer.arguments import finite_float
from keras_mixer.arguments import one_of
from keras_mixer.arguments import optional_positive_int
from keras_mixer.arguments import positive_float
from keras_mixer.arguments import probability

from keras_mixer.layers.affine import Affine
from keras_mixer.layers.channel_mixing import ChannelMixing
from keras_mixer.layers.drop_path import DropPath
from keras_mixer.layers.token_mixing import TokenMixing
from keras_mixer.layers.remat import RematWithKeywords

NORMS = ("layer_norm", "affine")


@keras.saving.register_keras_serializable(package="keras_mixer")
class MixerBlock(RematWithKeywords, keras.layers.Layer):
    """Two pre-norm residual branches: token mixing, then channel mixing.

        U = X + drop_path(scale_1 * TokenMixing(norm_1(X)))
        Y = U + drop_path(scale_2 * ChannelMixing(norm_2(U)))

    MLP-Mixer block: `norm="layer_norm"`, `token_mixing_dim=D_S`, no layer
    scale. ResMLP block: `norm="affine"`, `token_mixing_dim=None` (one S x S
    linear map), `layer_scale_init=gamma` (the scales are `Affine` layers
    without bias, the same mechanism as the pre-norm). gMixer block (timm's
    `gmixer_*`): the Mixer block with `glu=True`, both MLPs SiLU-gated.

    Args:
        token_mixing_dim: None (ResMLP's linear map) or int D_S (Mixer MLP).
        channel_mixing_dim: int D_C, or None for `mlp_ratio * C`.
        mlp_ratio: float, used when `channel_mixing_dim` is None.
        norm: `"layer_norm"` (Mixer) or `"affine"` (ResMLP).
        norm_epsilon: LayerNorm epsilon (1e-6 as in the official Mixer code).
        layer_scale_init: None for no layer scale, else the initial gamma.
        drop_path_rate: stochastic-depth probability of each branch.
        dropout_rate: dropout inside both MLPs.
        gelu_approximate: tanh GELU (official Mixer) instead of exact GELU.
        glu: both MLPs gated, `a * SiLU(g)` (gMixer; see `MixingMLP`).
        kernel_initializer, bias_initializer: for every linear map.
        **kwargs: base layer arguments.

    Input/output shape: `(B, S, C)`.

    Example:

    >>> import numpy as np, keras_mixer
    >>> mixer = keras_mixer.layers.MixerBlock(token_mixing_dim=256,
    ...                                       channel_mixing_dim=2048)
    >>> resmlp = keras_mixer.layers.MixerBlock(norm="affine",
    ...                                        layer_scale_init=0.1)
    >>> x = np.random.rand(2, 196, 512).astype("float32")
    >>> tuple(mixer(x).shape), tuple(resmlp(x).shape)
    ((2, 196, 512), (2, 196, 512))
    """

    def __init__(
        self,
        token_mixing_dim=None,
        channel_mixing_dim=None,
        mlp_ratio=4.0,
        norm="layer_norm",
        norm_epsilon=1e-6,
        layer_scale_init=None,
        drop_path_rate=0.0,
        dropout_rate=0.0,
        gelu_approximate=False,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        glu=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.token_mixing_dim = optional_positive_int("token_mixing_dim", token_mixing_dim)
        self.channel_mixing_dim = optional_positive_int("channel_mixing_dim", channel_mixing_dim)
        self.mlp_ratio = positive_float("mlp_ratio", mlp_ratio)
        self.norm = one_of("norm", norm, NORMS)
        self.norm_epsilon = positive_float("norm_epsilon", norm_epsilon)
        self.layer_scale_init = (
            None if layer_scale_init is None else finite_float("layer_scale_init", layer_scale_init)
        )
        self.drop_path_rate = probability("drop_path_rate", drop_path_rate)
        self.dropout_rate = probability("dropout_rate", dropout_rate)
        self.gelu_approximate = boolean("gelu_approximate", gelu_approximate)
        self.glu = boolean("glu", glu)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)

        linear = {
            "kernel_initializer": self.kernel_initializer,
            "bias_initializer": self.bias_initializer,
            "gelu_approximate": self.gelu_approximate,
            "dropout_rate": self.dropout_rate,
            "glu": self.glu,
            "dtype": self.dtype_policy,
        }
        self.norm1 = self._norm("norm1")
        self.token_mixing = TokenMixing(token_mixing_dim, name="token_mixing", **linear)
        self.norm2 = self._norm("norm2")
        self.channel_mixing = ChannelMixing(
            channel_mixing_dim, self.mlp_ratio, name="channel_mixing", **linear
        )
        self.layer_scale1 = self._layer_scale("layer_scale1")
        self.layer_scale2 = self._layer_scale("layer_scale2")
        self.drop_path = DropPath(self.drop_path_rate, dtype=self.dtype_policy)

    def _norm(self, name):
        if self.norm == "affine":
            return Affine(dtype=self.dtype_policy, name=name)
        return keras.layers.LayerNormalization(
            epsilon=self.norm_epsilon, dtype=self.dtype_policy, name=name
        )

    def _layer_scale(self, name):
        if self.layer_scale_init is None:
            return None
        return Affine(
            self.layer_scale_init, use_beta=False, dtype=self.dtype_policy, name=name
        )

    def build(self, input_shape):
        for layer in (
            self.norm1,
            self.token_mixing,
            self.norm2,
            self.channel_mixing,
            self.layer_scale1,
            self.layer_scale2,
        ):
            if layer is not None:
                layer.build(input_shape)

    def _residual(self, inputs, norm, mixing, scale, training):
        branch = mixing(norm(inputs), training=training)
        if scale is not None:
            branch = scale(branch)
        return inputs + self.drop_path(branch, training=training)

    def call(self, inputs, training=None):
        tokens = self._residual(
            inputs, self.norm1, self.token_mixing, self.layer_scale1, training
        )
        return self._residual(
            tokens, self.norm2, self.channel_mixing, self.layer_scale2, training
        )

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "token_mixing_dim": self.token_mixing_dim,
            "channel_mixing_dim": self.channel_mixing_dim,
            "mlp_ratio": self.mlp_ratio,
            "norm": self.norm,
            "norm_epsilon": self.norm_epsilon,
            "layer_scale_init": self.layer_scale_init,
            "drop_path_rate": self.drop_path_rate,
            "dropout_rate": self.dropout_rate,
            "gelu_approximate": self.gelu_approximate,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            "glu": self.glu,
        }
