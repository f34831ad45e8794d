"""Makes `model.fit` / `evaluate` work under MultiWorkerMirroredStrategy.

Keras 3.15's TensorFlow trainer fails there with "Attempt to convert a value
(PerReplica...)" (keras-team/keras#20585). There are two faults in
`keras/src/backend/tensorflow/trainer.py`:

1. `_maybe_symbolic_build` passes the first batch, a nest of per-replica
   values, to `strategy.reduce("MEAN", batch, axis=None)`, which takes one
   value, not a nest. The batch is only needed for its shapes and dtypes, so
   the first local replica's part of each value is what we build from.
2. `reduce_per_replica` reduces every log of the step with
   `strategy.reduce("MEAN", value, axis=0)` in multi-worker mode; the logs
   are 0-d, so there is no axis 0. We return each 0-d log as a 1-element
   vector: the reduction over replicas *and* axis 0 then gives the scalar
   mean over replicas, which is what Keras means to compute.

`patch_model_for_multi_worker` applies both to one model instance, and only
when that model was created under a MultiWorkerMirroredStrategy in
multi-worker mode; all other models and strategies are left untouched.
"""

import types

import keras
from keras import ops
from keras import tree

_PATCHED = "_keras_mixer_multi_worker_patch"


def is_multi_worker(strategy):
    """True for a MultiWorkerMirroredStrategy that spans more than one worker."""
    import tensorflow as tf

    return isinstance(
        strategy, tf.distribute.MultiWorkerMirroredStrategy
    ) and strategy.extended._in_multi_worker_mode()


def _first_local_value(strategy, value):
    import tensorflow as tf

    if isinstance(value, tf.distribute.DistributedValues):
        return strategy.experimental_local_results(value)[0]
    return value


def _maybe_symbolic_build(self, iterator=None, data_batch=None):
    strategy = self.distribute_strategy
    if iterator is not None:
        for _, _, batches in iterator:
            data_batch = tree.map_structure(
                lambda value: _first_local_value(strategy, value), next(batches)
            )
            break
    with strategy.scope():
        self._symbolic_build(data_batch=data_batch)


def _as_vector(value):
    if hasattr(value, "shape") and len(value.shape) == 0:
        return ops.reshape(value, (1,))
    return value


def _with_vector_logs(step):
    def step_with_vector_logs(data):
        return tree.map_structure(_as_vector, step(data))

    return step_with_vector_logs


def patch_model_for_multi_worker(model):
    """Lets `model.fit` and `model.evaluate` run under multi-worker TF.

    Call it after building the model inside the strategy's scope. It does
    nothing (and returns False) unless the backend is TensorFlow and the
    model's strategy is a multi-worker MultiWorkerMirroredStrategy; it
    returns True when it patched the model. Patching twice is harmless.

    Example:

    >>> import keras
    >>> from keras_mixer.training.multi_worker import patch_model_for_multi_worker
    >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    >>> patch_model_for_multi_worker(model)  # no multi-worker strategy here
    False
    """
    if keras.config.backend() != "tensorflow" or model._distribute_strategy is None:
        return False
    if not is_multi_worker(model._distribute_strategy):
        return False
    if getattr(model, _PATCHED, False):
        return True
    if not hasattr(model, "_symbolic_build"):
        raise RuntimeError(
            f"Keras {keras.__version__} has no Model._symbolic_build; the "
            "multi-worker fit workaround (keras-team/keras#20585) needs updating."
        )
    model._maybe_symbolic_build = types.MethodType(_maybe_symbolic_build, model)
    model.train_step = _with_vector_logs(model.train_step)
    model.test_step = _with_vector_logs(model.test_step)
    setattr(model, _PATCHED, True)
    return True
