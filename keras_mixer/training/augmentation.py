"""The recipes' augmentation layers, from Keras core (the default) or keras-cv.

Keras core's layers are the default: they need nothing more than Keras.
keras-cv (`pip install "keras-mixer[keras-cv]"`) is archived and imports
TensorFlow under every backend; choose it with `Recipe(augmentation=
"keras_cv")` for its RandAugment, which draws the operations of each image
on its own (Keras core's draws them once per batch, their strengths per
image), and its MixUp and CutMix. Both libraries' mixers take and return
`{"images", "labels"}` batches. keras-cv has no random erasing: that layer is
Keras core's under both.
"""

import keras

AUGMENTATIONS = ("keras", "keras_cv")
# DeiT's RandAugment is timm's "rand-m9-mstd0.5": magnitude 9 of 10 (the
# recipes' factor 0.9), drawn around it with a standard deviation of 0.5 of 10.
RAND_AUGMENT_MAGNITUDE_STDDEV = 0.05


def keras_cv_layers():
    """`keras_cv.layers`, or an ImportError saying how to install it.

    Example:

    >>> from keras_mixer.training.augmentation import keras_cv_layers
    >>> try:
    ...     found = hasattr(keras_cv_layers(), "RandAugment")
    ... except ImportError as error:
    ...     found = "keras-mixer[keras-cv]" in str(error)
    >>> found
    True
    """
    try:
        import keras_cv
    except ImportError as error:
        raise ImportError(
            f"augmentation='keras_cv' needs keras-cv, which cannot be imported ({error}); "
            f"install it with pip install 'keras-mixer[keras-cv]', or use augmentation='keras'."
        ) from error
    return keras_cv.layers


def make_augmentation(recipe, seed=None):
    """`(image_layers, mixing_layers)` of `recipe`: per-image layers, then batch mixers.

    Per-image layers take 0-255 images; the mixers (MixUp, CutMix, applied
    one or the other at random as in DeiT) take `{"images", "labels"}`.

    Example:

    >>> from keras_mixer.training import get_recipe
    >>> from keras_mixer.training.augmentation import make_augmentation
    >>> image_layers, mixing_layers = make_augmentation(get_recipe("deit"), seed=0)
    >>> [type(layer).__name__ for layer in image_layers + mixing_layers]
    ['RandAugment', 'RandomErasing', 'MixUp', 'CutMix']
    """
    cv = keras_cv_layers() if recipe.augmentation == "keras_cv" else None
    image_layers = []
    if recipe.rand_augment:
        num_ops, factor = recipe.rand_augment
        if cv:
            image_layers.append(cv.RandAugment(
                value_range=(0, 255), augmentations_per_image=num_ops, magnitude=factor,
                magnitude_stddev=RAND_AUGMENT_MAGNITUDE_STDDEV, seed=seed))
        else:
            image_layers.append(keras.layers.RandAugment(num_ops=num_ops, factor=factor, seed=seed))
    if recipe.random_erasing:
        image_layers.append(keras.layers.RandomErasing(factor=recipe.random_erasing, seed=seed))
    library = cv or keras.layers
    mixing_layers = []
    if recipe.mixup_alpha:
        mixing_layers.append(library.MixUp(alpha=recipe.mixup_alpha, seed=seed))
    if recipe.cutmix_factor:
        # Keras core draws the Beta parameter in [0, factor]; keras-cv uses it as given.
        factor = {"alpha": recipe.cutmix_factor} if cv else {"factor": recipe.cutmix_factor}
        mixing_layers.append(library.CutMix(**factor, seed=seed))
    return image_layers, mixing_layers
