"""Keras `.weights.h5` files: checked key by key, adapted, then loaded.

A file whose layout equals the model's is loaded as it is. Otherwise its
arrays go through `adapt_checkpoint` (token-mixing resampling, a fresh head
for other class counts, one error for everything else) and a merged file,
the model's own weights with the adapted arrays written over them, is loaded.
"""

import contextlib
import itertools
import os
import tempfile

import h5py
import numpy as np

from keras_mixer.staging import staged
from keras_mixer.weights.adapt import adapt_checkpoint
from keras_mixer.weights.bounds import MAX_DEFLATE_RATIO
from keras_mixer.weights.bounds import check_dtype
from keras_mixer.weights.bounds import check_shape
from keras_mixer.weights.bounds import element_count

# Root attribute recording the GELU form of the weights (1 = tanh, 0 = exact),
# written when an official checkpoint is converted.
GELU_ATTRIBUTE = "keras_mixer_gelu_approximate"
MAX_H5_DEPTH = 32
MAX_H5_OBJECTS = 100_000


def _check_dataset(node, key, path):
    """Raises unless `node` is a plain dataset of numbers whose declared size
    its storage in this file can really hold."""
    if node.is_virtual or node.external:
        raise ValueError(f"dataset {key!r} is virtual or stored in external files (it could read other files)")
    check_dtype(node.dtype, path, key)
    shape = check_shape(node.shape, path, key)
    declared, stored = element_count(shape) * node.dtype.itemsize, node.id.get_storage_size()
    if declared > MAX_DEFLATE_RATIO * stored + 64:
        raise ValueError(f"dataset {key!r} declares shape {shape} ({declared} bytes) but stores {stored} bytes")
    return shape


def _walk(group, prefix, contents, path, counter, depth=0):
    """Collects `{dataset path: shape}` of a group, refusing anything but hard
    links to groups and checked datasets, at most `MAX_H5_DEPTH` deep."""
    if depth > MAX_H5_DEPTH:
        raise ValueError(f"group {prefix!r} is nested deeper than {MAX_H5_DEPTH} (a link cycle?)")
    for name in group:
        key = f"{prefix}{name}"
        link = group.get(name, getlink=True)
        if not isinstance(link, h5py.HardLink):
            raise ValueError(f"{key!r} is a {type(link).__name__} (it could read other files or loop); Keras writes none")
        if next(counter) > MAX_H5_OBJECTS:
            raise ValueError(f"the file holds more than {MAX_H5_OBJECTS} objects")
        node = group[name]
        if isinstance(node, h5py.Group):
            _walk(node, f"{key}/", contents, path, counter, depth + 1)
        elif isinstance(node, h5py.Dataset):
            contents[key] = _check_dataset(node, key, path)
        else:
            raise ValueError(f"{key!r} is a {type(node).__name__}, not a group or a dataset")


def _h5_error(path, error):
    return ValueError(
        f"Cannot read weights file {path!r}: it is not a readable HDF5 `.weights.h5` "
        f"file of plain weights (truncated, corrupt or hostile? {error})."
    )


def _read_h5(path):
    """Returns `{dataset path: shape}` for every layer weight of an HDF5 file,
    from its metadata, after checking the whole file (every link a hard link,
    every dataset of numbers, stored in this file, of a size its storage
    holds); optimizer state (`optimizer/...`) is not part of the model's
    weights and is left out."""
    contents = {}
    try:
        with h5py.File(path, "r") as handle:
            _walk(handle, "", contents, path, itertools.count())
    except (OSError, KeyError, RuntimeError, ValueError) as error:
        raise _h5_error(path, error) from None
    return {key: shape for key, shape in contents.items() if key.startswith("layers/")}


def stored_parameter_count(path):
    """The number of weight values the layer datasets of a `.weights.h5` file
    declare, from its metadata after the checks of `_read_h5` (nothing is read)."""
    return sum(element_count(shape) for shape in _read_h5(path).values())


def _read_h5_arrays(path, keys):
    """Reads the datasets `keys` (already checked by `_read_h5`)."""
    try:
        with h5py.File(path, "r") as handle:
            return {key: np.asarray(handle[key]) for key in keys}
    except (OSError, KeyError, RuntimeError) as error:
        raise _h5_error(path, error) from None


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
    in a way loading cannot adapt; returns the adapted `{key: array}`.

    Keys and shapes are checked from the file's metadata; only the datasets
    the model has a place for are read (the others are zero-cost stand-ins
    of their shape, reported or dropped)."""
    contents, expected = _read_h5(path), model_layout(model)
    found = {key: (key, np.broadcast_to(np.float32(0), shape)) for key, shape in contents.items()}
    for key, array in _read_h5_arrays(path, [key for key in contents if key in expected]).items():
        found[key] = (key, array)
    return adapt_checkpoint(model, found, expected, path)


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
