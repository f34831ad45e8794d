"""Gradient checkpointing for layers whose `call` takes keywords such as `training`."""

import keras


class RematWithKeywords:
    """Mixin for a `keras.layers.Layer`: under `keras.RematScope`, only tensors are recomputed.

    Keras rematerializes `call(*args, **kwargs)` whole, so the backend's
    remat sees the keywords too: `jax.checkpoint` traces `training=True` into
    an array (a Python `if training` then fails) and `tf.recompute_grad`
    refuses keywords inside a graph. This mixin binds the keywords first and
    hands the backend a function of the positional tensors alone; which
    layers are recomputed is still decided by the scope.

    Example:

    >>> import keras, numpy as np
    >>> class Noisy(RematWithKeywords, keras.layers.Dropout):
    ...     pass
    >>> with keras.RematScope(mode="list_of_layers", layer_names=["noisy"]):
    ...     layer = Noisy(0.5, name="noisy")
    >>> tuple(layer(np.ones((2, 3)), training=False).shape)
    (2, 3)
    """

    def rematerialized_call(self, layer_call, *args, **kwargs):
        def positional_call(*tensors):
            return layer_call(*tensors, **kwargs)

        recomputed = super().rematerialized_call(positional_call, *args, **kwargs)
        return lambda *tensors, **keywords: recomputed(*tensors)
