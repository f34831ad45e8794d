"""Mixing across the token (patch) axis: Mixer's token MLP or ResMLP's linear map."""

import keras

from keras_mixer.layers.mlp import MixingMLP
from keras_mixer.layers.token_dense import TokenDense


@keras.saving.register_keras_serializable(package="keras_mixer")
class TokenMixing(MixingMLP):
    """Mixes information across tokens, shared over channels.

    With `hidden_dim=None` it is ResMLP's single linear map `A` (S x S, with
    bias) applied along the token axis; with an integer `hidden_dim` (D_S) it is
    MLP-Mixer's token-mixing MLP `W2 . GELU(W1 . x)` along the token axis. The
    number of tokens S is read from the input shape when the layer is built.

    Both maps are `TokenDense` layers contracting the token axis directly, so
    no transpose of the `(B, S, C)` token table is materialised. Kernels are
    stored `(in, out)`: `fc1` is `(S, D_S)`, `fc2` `(D_S, S)`, and ResMLP's
    `linear` is `(S, S)` with `linear.kernel[t, s] = A[s, t]`; biases are
    vectors over the output tokens.

    With `glu=True` the MLP is gMixer's gated form: fc1 maps S to D_S tokens,
    whose halves `(a, g)` give `a * SiLU(g)`, and fc2 maps D_S / 2 back to S
    (see `MixingMLP`).

    Args:
        hidden_dim: None for the linear map, or int D_S for the MLP.
        gelu_approximate: bool, tanh-approximated GELU (official Mixer weights)
            instead of exact GELU (timm). Only used by the MLP form.
        glu: bool, the SiLU-gated MLP of gMixer (needs `hidden_dim`).
        dropout_rate: dropout after the activation and after the output.
        kernel_initializer, bias_initializer: initialisers of the maps.
        **kwargs: base layer arguments.

    Input shape: `(B, S, C)` with S known. Output shape: `(B, S, C)`.

    Example:

    >>> import numpy as np, keras_mixer
    >>> mlp = keras_mixer.layers.TokenMixing(hidden_dim=256)
    >>> tuple(mlp(np.zeros((2, 196, 512), "float32")).shape)
    (2, 196, 512)
    >>> linear = keras_mixer.layers.TokenMixing()  # ResMLP's A
    >>> _ = linear(np.zeros((2, 196, 384), "float32"))
    >>> tuple(linear.linear.kernel.shape)
    (196, 196)
    >>> glu = keras_mixer.layers.TokenMixing(hidden_dim=384, glu=True)  # gMixer
    >>> _ = glu(np.zeros((2, 196, 384), "float32"))
    >>> tuple(glu.fc1.kernel.shape), tuple(glu.fc2.kernel.shape)
    ((196, 384), (192, 196))
    """

    HIDDEN_AXIS = 1  # fc1 writes (B, D_S, C)

    def __init__(self, hidden_dim=None, **kwargs):
        super().__init__(hidden_dim, **kwargs)
        if self.glu and self.hidden_dim is None:
            raise ValueError(
                "TokenMixing: glu=True is not supported with hidden_dim=None (one linear "
                "map has nothing to gate); expected an integer hidden_dim."
            )

    def _token_map(self, units, name):
        return TokenDense(units, **self._linear_kwargs(name))

    def build(self, input_shape):
        if len(input_shape) != 3 or input_shape[1] is None:
            raise ValueError(
                f"TokenMixing expects a token table (batch, tokens, channels) with "
                f"a known number of tokens, got shape {tuple(input_shape)}."
            )
        tokens = input_shape[1]
        if self.hidden_dim is None:
            self.linear = self._token_map(tokens, "linear")
            self.linear.build(input_shape)
        else:
            self.fc1 = self._token_map(self.hidden_dim, "fc1")
            self.fc2 = self._token_map(tokens, "fc2")
            self.fc1.build(input_shape)
            width = self._activated_width(self.hidden_dim)
            self.fc2.build((input_shape[0], width, input_shape[2]))
            if self.glu:
                self._open_gates()

    def call(self, inputs, training=None):
        if self.hidden_dim is None:
            return self.linear(inputs)
        return self._mlp(inputs, training)
