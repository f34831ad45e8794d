"""Keras `.weights.h5` files: checked key by key, adapted, then loaded.

A file whose layout equals the model's is loaded as it is. Otherwise its
arrays go through `adapt_checkpoint` (token-mixing resampling, a fresh head
for other class counts, one error for everything else) and a merged file,
the model's own weights with the adapted arrays written over them, is loaded.
"""

import contextlib
import os
import tempfile

import h5py
import numpy as np

from keras_mixer.staging import staged
from keras_mixer.weights.adapt import adapt_checkpoint

# Root attribute recording the GELU form of the weights (1 = tanh, 0 = exact),
# written when an official checkpoint is converted.
GELU_ATTRIBUTE = "keras_mixer_gelu_approximate"


def _read_h5(path, arrays=False):
    """Returns `{dataset path: shape}` (or `: array`) for every layer weight in an
    HDF5 file; optimizer state (`optimizer/...`, saved by a compiled model) is
    not part of the model's weights and is left out."""
    contents = {}

    def visit(name, node):
        if isinstance(node, h5py.Dataset) and name.startswith("layers/"):
            contents[name] = np.asarray(node) if arrays else tuple(node.shape)

    try:
        with h5py.File(path, "r") as handle:
            handle.visititems(visit)
    except (OSError, KeyError, RuntimeError) as error:
        raise ValueError(
            f"Cannot read weights file {path!r}: it is not a readable HDF5 "
            f"`.weights.h5` file (truncated or corrupt? {error})."
        ) from None
    return contents


@contextlib.contextmanager
def _own_weights(model):
    """Yields the path of a temporary `.weights.h5` of the model's current weights."""
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "own.weights.h5")
        model.save_weights(path)
        yield path


def model_layout(model):
    """Returns the `{key: shape}` layout that `model.save_weights` would write."""
    with _own_weights(model) as path:
        return _read_h5(path)


def gelu_approximate_of(path):
    """The GELU form recorded in a `.weights.h5` file, or None if none is."""
    try:
        with h5py.File(path, "r") as handle:
            value = handle.attrs.get(GELU_ATTRIBUTE)
    except OSError:
        return None
    return None if value is None else bool(value)


def save_keras_weights(model, path, gelu_approximate=None):
    """Writes `model`'s weights to `path` atomically, recording the GELU form."""
    with staged(path, overwrite=True) as partial:
        model.save_weights(partial)
        if gelu_approximate is not None:
            with h5py.File(partial, "a") as handle:
                handle.attrs[GELU_ATTRIBUTE] = int(gelu_approximate)
    return path


def check_keras_weights(model, path):
    """Raises a `ValueError` naming every key whose presence or shape differs
    in a way loading cannot adapt; returns the adapted `{key: array}`."""
    found = {key: (key, array) for key, array in _read_h5(path, arrays=True).items()}
    return adapt_checkpoint(model, found, model_layout(model), path)


def load_keras_weights(model, path):
    """Loads a Keras `.weights.h5` file into `model` after checking its layout."""
    path = os.fspath(path)
    if _read_h5(path) == model_layout(model):
        model.load_weights(path)
        return model
    adapted = check_keras_weights(model, path)
    with _own_weights(model) as merged:
        with h5py.File(merged, "a") as handle:
            for key, array in adapted.items():
                del handle[key]
                handle[key] = array
        model.load_weights(merged)
    return model
