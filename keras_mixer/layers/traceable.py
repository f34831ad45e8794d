"""Keras' preprocessing and BatchNorm layers, made traceable by `torch.compile`.

The models use these in place of `keras.layers.Rescaling`, `Normalization` and
`BatchNormalization`: same class names, arguments, weights and numbers, but no
graph break when a model is compiled with `jit_compile=True` on the torch backend
(Keras 3.15, torch 2.13; `docs/performance.md`):

- Keras' preprocessing layers ask TensorFlow, when it is imported (Keras' own
  serialisation imports it whenever it is installed), whether they run inside a
  `tf.data` graph, and look their backend up by `importlib` on every call;
  dynamo traces neither and breaks the graph there. Inside a model they never
  run in a `tf.data` graph, so these skip the question and compute the same
  expression with `keras.ops`.
- Keras' BatchNorm keeps its reduction axes in a tracked list, which dynamo
  cannot pass to `torch.mean`: every training step breaks the graph three times
  per BatchNorm. This one keeps them in a tuple.
"""

import keras
from keras import ops


class _ModelInputLayer:
    """Mixin: the layer runs as part of a model, never in a `tf.data` pipeline."""

    def __call__(self, inputs, **kwargs):
        return keras.layers.Layer.__call__(self, inputs, **kwargs)


@keras.saving.register_keras_serializable(package="keras_mixer")
class Rescaling(_ModelInputLayer, keras.layers.Rescaling):
    """`keras.layers.Rescaling` as a model's first layer (see the module docstring).

    Example:

    >>> import numpy as np
    >>> from keras_mixer.layers.traceable import Rescaling
    >>> layer = Rescaling(1.0 / 127.5, offset=-1.0)
    >>> [float(v) for v in np.asarray(layer(np.array([0.0, 255.0], "float32")))]
    [-1.0, 1.0]
    """

    def call(self, inputs):
        dtype = self.compute_dtype
        scale, offset = ops.cast(self.scale, dtype), ops.cast(self.offset, dtype)
        if len(scale.shape) and keras.config.image_data_format() == "channels_first":
            scale = ops.reshape(scale, tuple(scale.shape) + (1,) * (3 - len(scale.shape)))
        return ops.cast(inputs, dtype) * scale + offset


@keras.saving.register_keras_serializable(package="keras_mixer")
class Normalization(_ModelInputLayer, keras.layers.Normalization):
    """`keras.layers.Normalization` as a model's first layer (see the module docstring).

    Example:

    >>> import numpy as np
    >>> from keras_mixer.layers.traceable import Normalization
    >>> layer = Normalization(mean=[2.0], variance=[4.0])
    >>> [float(v) for v in np.asarray(layer(np.array([[0.0], [4.0]], "float32"))).ravel()]
    [-1.0, 1.0]
    """

    def call(self, inputs):
        if self.mean is None:
            raise ValueError(f"Normalization layer {self.name!r} is not built; call build() first.")
        inputs = ops.convert_to_tensor(inputs, self.compute_dtype)
        deviation = ops.maximum(ops.sqrt(self.variance), keras.config.epsilon())
        if self.invert:
            return ops.add(self.mean, ops.multiply(inputs, deviation))
        return ops.divide(ops.subtract(inputs, self.mean), deviation)


@keras.saving.register_keras_serializable(package="keras_mixer")
class BatchNormalization(keras.layers.BatchNormalization):
    """`keras.layers.BatchNormalization` with its reduction axes in a tuple.

    Example:

    >>> import numpy as np
    >>> import keras
    >>> from keras_mixer.layers.traceable import BatchNormalization
    >>> layer = BatchNormalization()
    >>> y = layer(np.array([[0.0], [2.0]], "float32"), training=True)
    >>> layer._reduction_axes, [round(float(v), 4) for v in keras.ops.convert_to_numpy(y).ravel()]
    ((0,), [-0.9995, 0.9995])
    """

    def build(self, input_shape):
        super().build(input_shape)
        self._reduction_axes = tuple(self._reduction_axes)
