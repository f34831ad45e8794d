"""GELU as every block computes it: in float32 on JAX, whatever the compute dtype."""

import keras
from keras import ops


def gelu(inputs, approximate=False):
    """`x Φ(x)`, exact (erf) by default or the tanh approximation.

    On the JAX backend the exact form is computed in float32 and cast back:
    `jax.nn.gelu` on bfloat16 inputs forms `-x/√2` in bfloat16 (rounding `1/√2`
    too), and XLA on a GPU made that a second pass over the
    `(batch, tokens, hidden)` tensor, the largest one of a block
    (benchmarks/README.md, "GPU probe"). It stays the `erfc` form of
    `jax.nn.gelu`: an `erf` form exports through jax2tf as a StableHLO
    composite that TensorFlow's SavedModel loader cannot read. The other
    backends keep `keras.ops.gelu`, one native kernel there.

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
    return ops.cast(ops.gelu(ops.cast(inputs, "float32"), approximate=False), dtype)
