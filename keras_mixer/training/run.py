"""One training run: data, model, recipe, distribution and callbacks put together.

This is what `keras-mixer train` calls; it is plain `model.fit` underneath.
"""

import dataclasses
import os

import keras

from keras_mixer import registry
from keras_mixer.arguments import one_of
from keras_mixer.arguments import positive_float
from keras_mixer.arguments import positive_int
from keras_mixer.staging import staged
from keras_mixer.training.augmentation import keras_cv_layers
from keras_mixer.training.backup import ResumableBackup
from keras_mixer.training.callbacks import make_callbacks
from keras_mixer.training.clipping import clip_across_replicas
from keras_mixer.training.data import load_image_data
from keras_mixer.training.data import make_pipeline
from keras_mixer.training.distillation import DISTILLATION_TYPES
from keras_mixer.training.distillation import Distillation
from keras_mixer.training.distribution import get_distribution
from keras_mixer.training.multi_worker import patch_model_for_multi_worker
from keras_mixer.training.recipes import get_recipe

DEFAULT_MODEL = "resmlp_digits"


def model_names():
    """Every model `train` can build: the registry's variants."""
    return registry.list_models()


def default_image_size(model_name):
    return registry.model_info(model_name).image_size


def default_recipe(model_name):
    """The variant's training recipe, else its family's."""
    variant = registry.model_info(model_name)
    return variant.recipe or variant.family.recipe


def check_model_name(model_name):
    """Raises a ValueError unless `model_name` is a registered variant."""
    registry.model_info(model_name)


def build_model(model_name, image_size, classes, drop_path_rate=0.0, weights=None):
    """Builds a registered variant (e.g. "resmlp_digits", "resmlp12") for training;
    `weights` (a preset tag or a file, as the builders take it) starts it from
    a checkpoint, resampled when trained at another size."""
    return registry.model_info(model_name).build(
        input_shape=(image_size, image_size, 3),
        classes=classes,
        drop_path_rate=drop_path_rate,
        weights=weights,
    )


def compile_model(model, recipe, steps_per_epoch, epochs, batch_size):
    """Compiles with the recipe's optimizer, schedule and loss; under
    tf.distribute, clips the summed gradient of all replicas, and under a
    multi-worker strategy also applies the `fit` workaround (keras#20585)."""
    model.compile(
        optimizer=recipe.make_optimizer(steps_per_epoch, epochs, batch_size),
        loss=recipe.make_loss(),
        metrics=["accuracy"],
    )
    clip_across_replicas(model.optimizer)
    patch_model_for_multi_worker(model)
    return model


@dataclasses.dataclass
class TrainResult:
    model: object
    history: dict
    test_metrics: dict
    distribution: object
    saved_model_path: str | None
    export_path: str | None


def train(
    model=DEFAULT_MODEL,
    data="digits",
    *,
    epochs=None,
    batch_size=None,
    strategy="auto",
    output_dir="runs/train",
    recipe=None,
    image_size=None,
    seed=0,
    data_dir=None,
    download=False,
    weights=None,
    teacher=None,
    distillation_type="hard",
    distillation_tau=1.0,
    export=None,
    verbose="auto",
    recipe_overrides=None,
):
    """Trains `model` on `data` with `fit`; resumes from `output_dir`'s backup.

    Args:
        model: a preset ("resmlp_digits") or a variant name ("resmlp12", ...).
        data: "digits", "tfds:NAME" or "folder:PATH".
        epochs, batch_size: default to the recipe's; `batch_size` is global.
        strategy: see `get_distribution`.
        output_dir: logs, backups, checkpoints, curves and the final model.
        recipe: a recipe name ("digits", "deit", "mixer"); default by model.
        image_size: side of the square model input; default by model.
        seed: seeds weights, data order and augmentation.
        data_dir, download: for TFDS (nothing is downloaded unless asked).
        weights: start from these weights (a preset tag or a checkpoint
            file, e.g. a `.weights.h5`; another input size or `classes`
            is adapted); with `recipe="finetune"` this fine-tunes.
        teacher: path of a `.keras` classifier to distil from (`Distillation`).
        distillation_type, distillation_tau: "hard" or "soft", and the
            temperature of "soft" (DeiT's defaults: "hard", 1.0).
        export: folder for a TF Serving SavedModel of the trained model.
        recipe_overrides: dict of `Recipe` fields to change.

    Returns:
        A `TrainResult`.
    """
    distribution = get_distribution(strategy)
    recipe_name = recipe or default_recipe(model)
    recipe = get_recipe(recipe_name, **(recipe_overrides or {}))
    epochs = recipe.epochs if epochs is None else epochs
    batch_size = recipe.batch_size if batch_size is None else batch_size
    positive_int("epochs", epochs)
    positive_int("batch_size", batch_size)
    distribution.check_batch_size(batch_size)
    check_model_name(model)
    image_size = image_size or default_image_size(model)
    one_of("distillation_type", distillation_type, DISTILLATION_TYPES)
    positive_float("distillation_tau", distillation_tau)
    if recipe.augmentation == "keras_cv":
        keras_cv_layers()  # an ImportError now rather than after loading the data
    if teacher is not None and not os.path.isfile(teacher):
        raise FileNotFoundError(f"Teacher model {teacher!r} does not exist; expected a .keras file.")

    images = load_image_data(data, (image_size, image_size), data_dir=data_dir,
                             download=download, seed=seed)
    steps = images.train_size // batch_size
    if steps < 1:
        raise ValueError(
            f"batch size {batch_size} is larger than the {images.train_size} "
            f"training images; expected at most {images.train_size}."
        )
    os.makedirs(output_dir, exist_ok=True)
    callbacks = make_callbacks(output_dir, distribution)
    with distribution.scope():
        keras.utils.set_random_seed(seed)
        network = build_model(model, image_size, images.num_classes, recipe.drop_path_rate,
                              weights)
        if teacher is not None:
            network = Distillation(network, keras.saving.load_model(teacher),
                                   distillation_type=distillation_type, tau=distillation_tau)
        compile_model(network, recipe, steps, epochs, batch_size)
        if not network.built:  # the distillation wrapper is built by its first call
            network.build((None, image_size, image_size, 3))
        # The backup decides where the stream starts.
        backup = next(c for c in callbacks if isinstance(c, ResumableBackup))
        start_epoch = backup.restore(network)
    train_data = make_pipeline(
        images.train, (image_size, image_size), batch_size, images.num_classes,
        training=True, recipe=recipe, seed=seed, epochs=epochs, start_epoch=start_epoch,
    )
    test_data = make_pipeline(images.test, (image_size, image_size), batch_size,
                              images.num_classes)
    history = network.fit(
        train_data,
        epochs=epochs,
        steps_per_epoch=steps,
        validation_data=test_data,
        callbacks=callbacks,
        verbose=verbose,
        shuffle=False,  # the stream is shuffled per epoch, see make_pipeline
    )
    test_metrics = network.evaluate(test_data, return_dict=True, verbose=0)
    trained = network.student if teacher is not None else network
    export_path = None
    # Every worker saves (non-chief copies under workers/, for checking that
    # all workers agree); only the chief exports.
    model_dir = output_dir
    if not distribution.is_chief:
        model_dir = os.path.join(output_dir, "workers", f"worker_{distribution.worker_index}")
        os.makedirs(model_dir, exist_ok=True)
    saved_model_path = os.path.join(model_dir, f"{trained.name}.keras")
    with staged(saved_model_path, overwrite=True) as path:
        trained.save(path)
    if distribution.is_chief and export:
        from keras_mixer.export import export_saved_model

        export_path = export_saved_model(trained, export)
    return TrainResult(trained, history.history, test_metrics, distribution,
                       saved_model_path, export_path)
