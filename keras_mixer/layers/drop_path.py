"""Stochastic depth: drop a whole residual branch per sample while training."""

import keras
from keras import ops

from keras_mixer.arguments import probability


@keras.saving.register_keras_serializable(package="keras_mixer")
class DropPath(keras.layers.Dropout):
    """Stochastic depth (Huang et al. 2016), a.k.a. drop-path.

    During training each sample's branch output is zeroed with probability
    `rate` and the survivors are scaled by `1 / (1 - rate)`; at inference it
    is the identity. It is Keras' `Dropout` (its seeding and config) applied to a
    `(batch, 1, ..., 1)` tensor of ones, the per-sample mask that multiplies the
    branch. Not `Dropout(noise_shape=...)`: on the torch backend that always draws
    through Keras' seeded generator, which `torch.compile` cannot trace (a graph
    break per block); the unseeded mask of ones is drawn by a traceable op. An
    explicit `seed` still takes the seeded generator on torch (reproducible masks,
    one graph break each under `jit_compile=True`; `docs/performance.md`).

    Args:
        rate: float in [0, 1), the probability of dropping a sample's branch.
        seed: optional int for reproducible masks.
        **kwargs: base layer arguments.

    Example:

    >>> import numpy as np, keras_mixer
    >>> drop = keras_mixer.layers.DropPath(0.5, seed=0)
    >>> y = np.asarray(drop(np.ones((8, 4, 3), "float32"), training=True))
    >>> sorted({float(v) for v in y.reshape(8, -1).max(axis=1)} - {0.0})
    [2.0]
    """

    def __init__(self, rate, seed=None, **kwargs):
        kwargs.pop("noise_shape", None)
        super().__init__(probability("rate", rate), seed=seed, **kwargs)

    def call(self, inputs, training=False):
        if not training or self.rate == 0:
            return inputs
        ones = ops.ones((ops.shape(inputs)[0],) + (1,) * (len(inputs.shape) - 1), inputs.dtype)
        return inputs * keras.random.dropout(ones, self.rate, seed=self.seed_generator)

    def get_config(self):
        config = super().get_config()
        config.pop("noise_shape", None)
        return config
