"""Gradient clipping on the whole gradient under tf.distribute, as on one device.

Keras 3.15's optimizer clips gradients in `apply` before its TensorFlow
backend sums them over replicas (`_all_reduce_sum_gradients`). Under a
MirroredStrategy or MultiWorkerMirroredStrategy each replica therefore clips
only its own part of the gradient: with `global_clipnorm=1.0` and two
replicas, a step may move up to twice as far as the single-device step, and
the papers' "clip at global norm 1.0" is not what runs.

`clip_across_replicas(optimizer)` makes each replica first sum the gradient
over all replicas, clip that sum with the optimizer's own rule (`clipnorm`,
`global_clipnorm` or `clipvalue`) and hand on its `1 / replicas` share. The
later all-reduce then adds up exactly the clipped full gradient. It costs one
more all-reduce per step, and only when clipping is on.
"""

import keras

_PATCHED = "_keras_mixer_clips_across_replicas"


def _clips(optimizer):
    return any(
        value is not None and value > 0
        for value in (optimizer.clipnorm, optimizer.global_clipnorm, optimizer.clipvalue)
    )


def _clip_summed_gradients(clip):
    def clip_summed(grads):
        import tensorflow as tf

        context = tf.distribute.get_replica_context()
        if context is None or context.num_replicas_in_sync == 1:
            return clip(grads)
        present = [index for index, grad in enumerate(grads) if grad is not None]
        summed = context.all_reduce("sum", [grads[index] for index in present])
        clipped = clip(summed)
        shares = list(grads)
        for index, grad in zip(present, clipped):
            shares[index] = grad / context.num_replicas_in_sync
        return shares

    return clip_summed


def clip_across_replicas(optimizer):
    """Makes `optimizer` clip the summed gradient of all replicas.

    Does nothing (and returns False) unless the backend is TensorFlow, the
    optimizer clips, and it was made under a tf.distribute strategy with
    more than one replica; returns True when it changed the optimizer.
    Changing it twice is harmless. JAX's `keras.distribution` and a single
    device already clip the whole gradient.

    Example:

    >>> import keras
    >>> from keras_mixer.training.clipping import clip_across_replicas
    >>> clip_across_replicas(keras.optimizers.AdamW(global_clipnorm=1.0))
    False
    """
    if keras.config.backend() != "tensorflow" or not _clips(optimizer):
        return False
    import tensorflow as tf

    if not tf.distribute.has_strategy():
        return False
    if tf.distribute.get_strategy().num_replicas_in_sync == 1:
        return False
    if getattr(optimizer, _PATCHED, False):
        return True
    optimizer._clip_gradients = _clip_summed_gradients(optimizer._clip_gradients)
    setattr(optimizer, _PATCHED, True)
    return True
