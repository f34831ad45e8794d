"""Arguments shared by the commands: data options, argument types, model loading."""

import argparse


def positive_int(text):
    """An argparse type: an integer of at least 1, else a one-line usage error.

    Example:

    >>> positive_int("32")
    32
    """
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not supported; expected a positive integer")
    return value


def add_data_arguments(parser):
    parser.add_argument("--data", default="digits",
                        help="digits (default), tfds:NAME or folder:PATH (class sub-folders)")
    parser.add_argument("--image-size", type=positive_int,
                        help="side of the square model input (default: the model's)")
    parser.add_argument("--data-dir", help="TFDS data folder")
    parser.add_argument("--download", action="store_true",
                        help="let TFDS download the data set (off: nothing is fetched)")


def load_trained_model(path, compile=True):
    """Loads a `.keras` file, with a one-line ValueError naming it when it is missing or malformed."""
    import os

    import keras

    import keras_mixer.layers  # noqa: F401  (registers the layers for loading)
    import keras_mixer.training  # noqa: F401  (registers WarmupDecay, HardDistillation)

    if not os.path.isfile(path):
        raise FileNotFoundError(f"Model file {path!r} does not exist; expected a .keras file.")
    if not path.endswith(".keras"):
        raise ValueError(f"Model file {path!r} is not supported; expected a .keras file.")
    try:
        return keras.saving.load_model(path, compile=compile)
    except Exception as error:  # a malformed file fails anywhere in Keras' loader
        message = " ".join(str(error).split())[:300]
        raise ValueError(
            f"Model file {path!r} cannot be loaded ({type(error).__name__}: {message}); "
            f"expected a .keras file saved by keras-mixer train or model.save."
        ) from None
