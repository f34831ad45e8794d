"""Weights: resolving the `weights=` argument of the model builders."""

import os

from keras_mixer.weights.keras_file import check_keras_weights
from keras_mixer.weights.keras_file import load_keras_weights


def validate_weights_argument(weights):
    """Raises early if `weights` is neither None nor an existing weights file."""
    if weights is None:
        return
    if not isinstance(weights, (str, os.PathLike)):
        raise ValueError(
            f"weights={weights!r} is not supported; expected None or the path "
            f"of a `.weights.h5` file."
        )
    path = os.fspath(weights)
    if not path.endswith(".weights.h5"):
        raise ValueError(
            f"weights={path!r} is not supported; expected None or the path of a "
            f"Keras `.weights.h5` file."
        )
    if not os.path.isfile(path):
        raise ValueError(f"weights={path!r}: no such file.")


def load_weights(model, weights):
    """Loads `weights` (None or a `.weights.h5` path) into `model`."""
    if weights is not None:
        load_keras_weights(model, os.fspath(weights))
    return model


__all__ = [
    "check_keras_weights",
    "load_keras_weights",
    "load_weights",
    "validate_weights_argument",
]
