"""Loading Keras `.weights.h5` files, checked key by key before anything is assigned."""

import os
import tempfile

import h5py


def _h5_layout(path):
    """Returns `{dataset path: shape}` for every array in an HDF5 file."""
    layout = {}

    def visit(name, node):
        if isinstance(node, h5py.Dataset):
            layout[name] = tuple(node.shape)

    try:
        with h5py.File(path, "r") as handle:
            handle.visititems(visit)
    except OSError as error:
        raise ValueError(
            f"Cannot read weights file {path!r}: it is not a readable HDF5 "
            f"`.weights.h5` file ({error})."
        ) from None
    return layout


def model_layout(model):
    """Returns the `{key: shape}` layout that `model.save_weights` would write."""
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "layout.weights.h5")
        model.save_weights(path)
        return _h5_layout(path)


def _describe(mismatches, limit=5):
    shown = "; ".join(mismatches[:limit])
    more = len(mismatches) - limit
    return shown + (f"; and {more} more" if more > 0 else "")


def check_keras_weights(model, path):
    """Raises a `ValueError` naming every key whose presence or shape differs."""
    expected = model_layout(model)
    found = _h5_layout(path)
    mismatches = [
        f"{key}: expected shape {shape}, found {found[key]}"
        for key, shape in expected.items()
        if key in found and found[key] != shape
    ]
    mismatches += [
        f"{key}: expected shape {shape}, missing from the file"
        for key, shape in expected.items()
        if key not in found
    ]
    mismatches += [
        f"{key}: found shape {shape}, which model {model.name!r} does not have"
        for key, shape in found.items()
        if key not in expected
    ]
    if mismatches:
        raise ValueError(
            f"Weights file {path!r} does not match model {model.name!r} "
            f"(built for input {model.input_shape[1:]} and output "
            f"{model.output_shape[1:]}): {_describe(mismatches)}. Nothing was "
            f"loaded."
        )


def load_keras_weights(model, path):
    """Loads a Keras `.weights.h5` file into `model` after checking its layout."""
    check_keras_weights(model, path)
    model.load_weights(path)
    return model
