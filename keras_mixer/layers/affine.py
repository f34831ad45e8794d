"""Per-channel affine map, ResMLP's replacement for normalisation and its layer-scale."""

import keras
from keras import ops

from keras_mixer.arguments import boolean
from keras_mixer.arguments import finite_float


@keras.saving.register_keras_serializable(package="keras_mixer")
class Affine(keras.layers.Layer):
    """Per-channel affine map `Aff(x) = Diag(alpha) * x + beta`.

    ResMLP (Touvron et al. 2021) uses it in place of LayerNorm: it has no
    batch or token statistics, so at inference it can be folded into the next
    linear layer. With `use_beta=False` and a small `alpha_init` it is the
    per-channel layer-scale `gamma` that ResMLP puts on each residual branch;
    one layer serves both roles.

    Args:
        alpha_init: float, initial value of every entry of `alpha`.
        use_beta: bool, whether to add the bias `beta` (initialised to 0).
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Input shape: `(..., channels)`. Output shape: same as input.

    Example:

    >>> import numpy as np, keras_mixer
    >>> aff = keras_mixer.layers.Affine(alpha_init=0.1, use_beta=False)
    >>> y = aff(np.ones((2, 196, 384), "float32"))
    >>> tuple(y.shape), round(float(y[0, 0, 0]), 6)
    ((2, 196, 384), 0.1)
    """

    def __init__(self, alpha_init=1.0, use_beta=True, **kwargs):
        super().__init__(**kwargs)
        self.alpha_init = finite_float("alpha_init", alpha_init)
        self.use_beta = boolean("use_beta", use_beta)

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None:
            raise ValueError(
                f"{type(self).__name__} needs a known last (channel) dimension, "
                f"got input shape {input_shape}."
            )
        self.alpha = self.add_weight(
            shape=(channels,),
            initializer=keras.initializers.Constant(self.alpha_init),
            name="alpha",
        )
        self.beta = (
            self.add_weight(shape=(channels,), initializer="zeros", name="beta")
            if self.use_beta
            else None
        )

    def call(self, inputs):
        outputs = inputs * ops.cast(self.alpha, inputs.dtype)
        if self.beta is not None:
            outputs = outputs + ops.cast(self.beta, inputs.dtype)
        return outputs

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "alpha_init": self.alpha_init,
            "use_beta": self.use_beta,
        }
