"""tf.data pipelines from the bundled digits, a TFDS name or a folder of class folders.

The same pipelines feed `fit` on every backend: Keras takes a `tf.data.Dataset`
on TensorFlow, JAX and torch alike, and the Keras augmentation layers run
inside `tf.data` whatever the backend.
"""

import dataclasses
import os

DATA_KINDS = ("digits", "tfds:NAME", "folder:PATH")


@dataclasses.dataclass
class ImageData:
    """Unbatched `(image uint8/float, int label)` train and test datasets."""

    train: object
    test: object
    num_classes: int
    class_names: list
    train_size: int
    test_size: int


def parse_data_spec(spec):
    """Splits "digits", "tfds:NAME" or "folder:PATH" into `(kind, argument)`."""
    kind, _, argument = spec.partition(":")
    if kind == "digits" and not argument:
        return "digits", None
    if kind in ("tfds", "folder") and argument:
        return kind, argument
    raise ValueError(f"Unknown dataset {spec!r}; expected one of {DATA_KINDS}.")


def _digits(seed):
    import tensorflow as tf

    from keras_mixer.data import load_digits

    (x_train, y_train), (x_test, y_test) = load_digits(seed=seed)

    def as_dataset(x, y):
        return tf.data.Dataset.from_tensor_slices((x, y.astype("int32")))

    return ImageData(
        as_dataset(x_train, y_train), as_dataset(x_test, y_test), 10,
        [str(digit) for digit in range(10)], len(x_train), len(x_test),
    )


def _tfds(name, data_dir, download):
    import tensorflow_datasets as tfds

    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except tfds.core.DatasetNotFoundError:
        raise ValueError(
            f"Unknown TFDS dataset {name!r}; expected a name from tfds.list_builders()."
        ) from None
    if download:
        builder.download_and_prepare()
    elif not builder.is_prepared():
        raise ValueError(
            f"TFDS dataset {name!r} is not prepared in {builder.data_dir!r} and "
            f"downloading is off; prepare it there or pass download=True (--download)."
        )
    splits = builder.info.splits
    test_split = next((split for split in ("test", "validation") if split in splits), None)
    if "train" not in splits or test_split is None:
        raise ValueError(
            f"TFDS dataset {name!r} has splits {sorted(splits)}; expected 'train' "
            f"and 'test' or 'validation'."
        )
    train, test = builder.as_dataset(split=["train", test_split], as_supervised=True)
    label = builder.info.features["label"]
    return ImageData(train, test, label.num_classes, list(label.names),
                     splits["train"].num_examples, splits[test_split].num_examples)


def _folder(path, image_size, test_fraction, seed):
    import keras

    if not os.path.isdir(path):
        raise FileNotFoundError(f"Data folder {path!r} does not exist; expected a folder of class sub-folders.")
    class_names = sorted(
        entry for entry in os.listdir(path) if os.path.isdir(os.path.join(path, entry))
    )
    if len(class_names) < 2:
        raise ValueError(
            f"Data folder {path!r} has {len(class_names)} class sub-folders; expected at least 2."
        )
    train, test = keras.utils.image_dataset_from_directory(
        path, labels="inferred", label_mode="int", class_names=class_names,
        image_size=image_size, batch_size=None, shuffle=True, seed=seed,
        validation_split=test_fraction, subset="both", verbose=False,
    )
    return ImageData(train, test, len(class_names), class_names,
                     int(train.cardinality()), int(test.cardinality()))


def load_image_data(spec, image_size, *, data_dir=None, download=False,
                    test_fraction=0.2, seed=0):
    """Loads `spec` ("digits", "tfds:NAME" or "folder:PATH") as `ImageData`.

    Args:
        spec: the data source.
        image_size: `(height, width)` of the model (used by the folder reader).
        data_dir: TFDS data folder.
        download: let TFDS download and prepare the data; off by default,
            so nothing is fetched unless asked for.
        test_fraction: held-out fraction for a folder (digits and TFDS
            have their own fixed test splits).
        seed: the fixed seed of every split.
    """
    kind, argument = parse_data_spec(spec)
    if kind == "digits":
        return _digits(seed)
    if kind == "tfds":
        return _tfds(argument, data_dir, download)
    return _folder(argument, tuple(image_size), test_fraction, seed)


def make_pipeline(dataset, image_size, batch_size, num_classes, *, training=False,
                  recipe=None, seed=0, epochs=1, start_epoch=0):
    """Resizes, batches by the global batch size, augments, one-hots, prefetches.

    For training, the result is one stream of `epochs - start_epoch` epochs
    (use `steps_per_epoch` in `fit`), each reshuffled; the order of epoch `e`
    depends only on `seed` and `e`, so a resumed run and every worker see
    the batches of an uninterrupted single process. Training batches are whole (the last partial batch is dropped); for
    evaluation it is one pass over every example.

    Args:
        dataset: unbatched `(image, label)` pairs.
        image_size: `(height, width)` of the model.
        batch_size: the global batch size (all replicas together).
        num_classes: for the one-hot labels (MixUp/CutMix and label
            smoothing need them).
        training: shuffle and apply the recipe's augmentation.
        recipe: a `Recipe`; its repeated augmentation, RandAugment, random
            erasing, MixUp and CutMix run on the fly when `training`.
        seed: base seed of the shuffling and augmentation.
        epochs, start_epoch: the span of epochs of the training stream.
    """
    import tensorflow as tf

    height, width = image_size

    def resize(image, label):
        image = tf.cast(image, tf.float32)
        if image.shape[-1] == 1:
            image = tf.image.grayscale_to_rgb(image)
        if tuple(image.shape[:2]) != (height, width):
            image = tf.image.resize(image, (height, width))
        return image, tf.one_hot(label, num_classes)

    dataset = dataset.map(resize, num_parallel_calls=tf.data.AUTOTUNE)
    if not training:
        return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)

    # Each epoch is its own pipeline, shuffled with a seed of its own: its
    # order depends on nothing else (not on how many iterators were made
    # before, as `reshuffle_each_iteration` would), so every process and a
    # resumed run see the same batches.
    if not 0 <= start_epoch < epochs:
        raise ValueError(
            f"start_epoch={start_epoch} with epochs={epochs} is not supported; "
            f"expected 0 <= start_epoch < epochs."
        )
    repeats = 1 if recipe is None else recipe.repeated_augmentation
    epochs_left = [
        _epoch(dataset, seed * 100_003 + epoch, repeats).batch(batch_size, drop_remainder=True)
        for epoch in range(start_epoch, epochs)
    ]
    stream = _concatenate(epochs_left)
    if recipe is not None:
        stream = _augment(stream, recipe, seed)
    return stream.prefetch(tf.data.AUTOTUNE)


def _epoch(dataset, seed, repeats):
    """One epoch's examples in the order fixed by `seed`; with `repeats` > 1
    each comes `repeats` times in a row (DeiT's repeated augmentation: the
    copies are augmented independently later) and the epoch is cut to the
    dataset's size, as DeiT's RASampler does."""
    import tensorflow as tf

    shuffled = dataset.shuffle(4096, seed=seed, reshuffle_each_iteration=False)
    if repeats == 1:
        return shuffled
    size = int(dataset.cardinality())
    if size < 0:
        raise ValueError(
            f"repeated_augmentation={repeats} needs the number of training examples, "
            f"and this dataset's is unknown; expected a dataset of known cardinality "
            f"(use dataset.apply(tf.data.experimental.assert_cardinality(n)))."
        )

    def copies(image, label):
        return tf.data.Dataset.from_tensors((image, label)).repeat(repeats)

    return shuffled.flat_map(copies).take(size)


def _concatenate(datasets):
    """Concatenates as a balanced tree, so hundreds of epochs nest shallowly."""
    if len(datasets) == 1:
        return datasets[0]
    middle = len(datasets) // 2
    return _concatenate(datasets[:middle]).concatenate(_concatenate(datasets[middle:]))


def _augment(dataset, recipe, seed):
    import tensorflow as tf

    image_layers, mixing_layers = recipe.make_augmentation(seed=seed)
    if not image_layers and not mixing_layers:
        return dataset

    def augment(images, labels):
        for layer in image_layers:
            images = layer(images, training=True)
        if mixing_layers:
            mixed = [layer({"images": images, "labels": labels}, training=True)
                     for layer in mixing_layers]
            choice = tf.random.uniform((), 0, len(mixed), dtype=tf.int32, seed=seed)
            images = tf.switch_case(choice, [lambda m=m: m["images"] for m in mixed])
            labels = tf.switch_case(choice, [lambda m=m: m["labels"] for m in mixed])
        return images, labels

    return dataset.map(augment, num_parallel_calls=tf.data.AUTOTUNE)
