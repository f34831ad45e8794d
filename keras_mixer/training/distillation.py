"""DeiT-style hard distillation from any Keras teacher, trained with `fit`."""

import keras
from keras import ops

from keras_mixer.arguments import fraction


@keras.saving.register_keras_serializable(package="keras_mixer")
class HardDistillation(keras.Model):
    """Wraps a student so that `fit` trains it against labels and a teacher.

    The loss is `(1 - w) * L(y, s) + w * CE(argmax t, s)`: `L` is the loss
    given to `compile` (e.g. label-smoothed cross-entropy on MixUp/CutMix
    labels), `s` the student's and `t` the frozen teacher's predictions
    for the same (augmented) images, `w` = `distillation_weight` (DeiT: 0.5).

    This is DeiT's hard-label variant *without* a distillation token, as the
    ResMLP paper uses it: ResMLP has no class token, so both terms train its
    single head, and the student alone is the model to keep and export
    (`wrapper.student`). Evaluation reports the supervised loss only.

    Args:
        student: the model to train (softmax output).
        teacher: any Keras classifier over the same classes; it is frozen
            and called with `training=False`. When its input size differs,
            images are resized to it.
        distillation_weight: `w` above, in [0, 1].

    Example:

    >>> import keras, numpy as np
    >>> from keras_mixer.training import HardDistillation
    >>> def classifier():
    ...     return keras.Sequential([keras.Input((4, 4, 3)), keras.layers.Flatten(),
    ...                              keras.layers.Dense(2, activation="softmax")])
    >>> model = HardDistillation(classifier(), classifier())
    >>> model.compile("adam", "categorical_crossentropy")
    >>> x, y = np.zeros((8, 4, 4, 3)), np.eye(2)[np.arange(8) % 2]
    >>> _ = model.fit(x, y, verbose=0)
    >>> model.predict(x, verbose=0).shape
    (8, 2)
    """

    def __init__(self, student, teacher, distillation_weight=0.5, **kwargs):
        super().__init__(**kwargs)
        if student.output_shape[-1] != teacher.output_shape[-1]:
            raise ValueError(
                f"teacher predicts {teacher.output_shape[-1]} classes, student "
                f"{student.output_shape[-1]}; expected the same classes."
            )
        self.student = student
        self.teacher = teacher
        self.teacher.trainable = False
        self.distillation_weight = fraction("distillation_weight", distillation_weight)
        self._teacher_loss = keras.losses.CategoricalCrossentropy()

    def call(self, inputs, training=None):
        return self.student(inputs, training=training)

    def _teacher_labels(self, images):
        size = tuple(self.teacher.input_shape[1:3])
        if None not in size and tuple(images.shape[1:3]) != size:
            images = ops.image.resize(images, size)
        predictions = self.teacher(images, training=False)
        classes = predictions.shape[-1]
        return ops.stop_gradient(ops.one_hot(ops.argmax(predictions, axis=-1), classes))

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        loss = super().compute_loss(x, y, y_pred, sample_weight, training=training)
        if not training or not self.distillation_weight:
            return loss
        teacher_loss = self._teacher_loss(self._teacher_labels(x), y_pred)
        weight = self.distillation_weight
        return (1.0 - weight) * loss + weight * teacher_loss

    def get_config(self):
        return {
            **super().get_config(),
            "student": keras.saving.serialize_keras_object(self.student),
            "teacher": keras.saving.serialize_keras_object(self.teacher),
            "distillation_weight": self.distillation_weight,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("student", "teacher"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)
