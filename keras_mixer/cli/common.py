"""Arguments shared by the train, evaluate and predict commands."""


def add_data_arguments(parser):
    parser.add_argument("--data", default="digits",
                        help="digits (default), tfds:NAME or folder:PATH (class sub-folders)")
    parser.add_argument("--image-size", type=int,
                        help="side of the square model input (default: the model's)")
    parser.add_argument("--data-dir", help="TFDS data folder")
    parser.add_argument("--download", action="store_true",
                        help="let TFDS download the data set (off: nothing is fetched)")


def load_trained_model(path):
    """Loads a `.keras` file, with a one-line error when it is missing."""
    import os

    import keras

    import keras_mixer.layers  # noqa: F401  (registers the layers for loading)
    import keras_mixer.training  # noqa: F401  (registers WarmupDecay, HardDistillation)

    if not os.path.isfile(path):
        raise FileNotFoundError(f"Model file {path!r} does not exist; expected a .keras file.")
    return keras.saving.load_model(path)
