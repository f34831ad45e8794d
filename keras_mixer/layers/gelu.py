"""GELU as every block computes it: one fused elementwise pass under XLA on JAX."""

import math

import keras
from keras import ops

_SQRT_HALF = math.sqrt(0.5)


def gelu(inputs, approximate=False):
    """`x Φ(x)`, exact (erf) by default or the tanh approximation.

    On the JAX backend the exact form is written as `x (1 + erf(x/√2)) / 2`
    in float32: `jax.nn.gelu` writes it with `erfc` and, in bfloat16, rounds
    `1/√2` to bfloat16, and XLA on a GPU splits that into two passes over the
    `(batch, tokens, hidden)` tensor, the largest one of a block
    (docs/performance.md has the measurement). The other backends keep
    `keras.ops.gelu`, which is one native kernel there. Both forms are the
    same function to float32 rounding.

    Example:

    >>> import numpy as np
    >>> from keras_mixer.layers.gelu import gelu
    >>> y = gelu(np.array([-1.0, 0.0, 1.0], "float32"))
    >>> [round(float(v), 4) for v in np.asarray(y)]
    [-0.1587, 0.0, 0.8413]
    """
    if approximate or keras.config.backend() != "jax":
        return ops.gelu(inputs, approximate=approximate)
    dtype = keras.backend.standardize_dtype(inputs.dtype)
    x = ops.cast(inputs, "float32")
    return ops.cast(x * (0.5 + 0.5 * ops.erf(x * _SQRT_HALF)), dtype)
