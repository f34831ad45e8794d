"""DeiT's distillation (hard or soft) from any Keras teacher, trained with `fit`."""

import keras
from keras import ops

from keras_mixer.arguments import fraction
from keras_mixer.arguments import one_of
from keras_mixer.arguments import positive_float

DISTILLATION_TYPES = ("hard", "soft")


@keras.saving.register_keras_serializable(package="keras_mixer")
class Distillation(keras.Model):
    """Wraps a student so that `fit` trains it against labels and a teacher.

    The loss is `(1 - w) * L(y, s) + w * D(t, s)`, as in DeiT's
    `DistillationLoss` (facebookresearch/deit, losses.py): `L` is the loss
    given to `compile` (e.g. label-smoothed cross-entropy on MixUp/CutMix
    labels), `s` the student's and `t` the frozen teacher's predictions for
    the same (augmented) images, `w` = `distillation_weight` (DeiT's
    `--distillation-alpha`, 0.5). `D` is, by `distillation_type`:

    - "hard": `CE(argmax t, s)`, cross-entropy against the teacher's class
      (the mean over the batch).
    - "soft": `tau**2 * KL(softmax(log t / tau) || softmax(log s / tau))`
      with DeiT's reduction: the element-wise KL terms are summed over the
      batch and the classes and divided by their number (batch x classes),
      so `D` is the batch mean of the per-image KL divergence divided by the
      number of classes. In practice the soft term is `classes` times
      smaller than a per-image KL (1000x on ImageNet): with the same `w`,
      the teacher weighs far less than in the hard variant.

    The models here end in a softmax, so the student's and teacher's logits
    are taken as `log(clip(p, epsilon, 1))`: a softmax's logits are `log p`
    plus a per-image constant, and `log_softmax(z / tau)` does not change
    when the same constant is added to every logit of an image, so these
    logits give DeiT's tempered distributions exactly (clipping only
    touches probabilities below `keras.config.epsilon()`).

    This is DeiT's distillation *without* a distillation token, as the
    ResMLP paper uses it: ResMLP has no class token, so both terms train its
    single head, and the student alone is the model to keep and export
    (`wrapper.student`). Evaluation reports the supervised loss only.

    Args:
        student: the model to train (softmax output).
        teacher: any Keras classifier over the same classes (softmax
            output); it is frozen and called with `training=False`. When
            its input size differs, images are resized to it.
        distillation_weight: `w` above, in [0, 1].
        distillation_type: "hard" (DeiT's best) or "soft".
        tau: the temperature of "soft" (DeiT's `--distillation-tau`, 1.0).

    Example:

    >>> import keras, numpy as np
    >>> from keras_mixer.training import Distillation
    >>> def classifier():
    ...     return keras.Sequential([keras.Input((4, 4, 3)), keras.layers.Flatten(),
    ...                              keras.layers.Dense(2, activation="softmax")])
    >>> model = Distillation(classifier(), classifier(), distillation_type="soft", tau=3.0)
    >>> model.compile("adam", "categorical_crossentropy")
    >>> x, y = np.zeros((8, 4, 4, 3)), np.eye(2)[np.arange(8) % 2]
    >>> _ = model.fit(x, y, verbose=0)
    >>> model.predict(x, verbose=0).shape
    (8, 2)
    """

    def __init__(self, student, teacher, distillation_weight=0.5, distillation_type="hard",
                 tau=1.0, **kwargs):
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
        self.distillation_type = one_of("distillation_type", distillation_type, DISTILLATION_TYPES)
        self.tau = positive_float("tau", tau)
        if distillation_type == "hard":
            self._teacher_loss = keras.losses.CategoricalCrossentropy()
        else:
            self._teacher_loss = keras.losses.KLDivergence()

    def call(self, inputs, training=None):
        return self.student(inputs, training=training)

    def _teacher_predictions(self, images):
        size = tuple(self.teacher.input_shape[1:3])
        if None not in size and tuple(images.shape[1:3]) != size:
            images = ops.image.resize(images, size)
        return ops.stop_gradient(self.teacher(images, training=False))

    def _tempered(self, probabilities):
        logits = ops.log(ops.clip(probabilities, keras.config.epsilon(), 1.0))
        return ops.softmax(logits / self.tau, axis=-1)

    def distillation_loss(self, images, y_pred):
        """`D(t, s)` above for a batch of images and the student's predictions."""
        teacher = self._teacher_predictions(images)
        classes = teacher.shape[-1]
        if self.distillation_type == "hard":
            labels = ops.one_hot(ops.argmax(teacher, axis=-1), classes)
            return self._teacher_loss(labels, y_pred)
        kl = self._teacher_loss(self._tempered(teacher), self._tempered(y_pred))
        return kl * (self.tau**2 / classes)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        loss = super().compute_loss(x, y, y_pred, sample_weight, training=training)
        if not training or not self.distillation_weight:
            return loss
        weight = self.distillation_weight
        return (1.0 - weight) * loss + weight * self.distillation_loss(x, y_pred)

    def get_config(self):
        return {
            **super().get_config(),
            "student": keras.saving.serialize_keras_object(self.student),
            "teacher": keras.saving.serialize_keras_object(self.teacher),
            "distillation_weight": self.distillation_weight,
            "distillation_type": self.distillation_type,
            "tau": self.tau,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("student", "teacher"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)


@keras.saving.register_keras_serializable(package="keras_mixer")
class HardDistillation(Distillation):
    """`Distillation`'s earlier name, kept so that `.keras` files saved with it load.

    It is `Distillation` itself (hard by default, soft when asked).

    Example:

    >>> import keras
    >>> from keras_mixer.training import HardDistillation
    >>> def classifier():
    ...     return keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    >>> HardDistillation(classifier(), classifier()).distillation_type
    'hard'
    """
