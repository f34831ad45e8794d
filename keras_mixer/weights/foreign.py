"""Loading foreign checkpoints (official `.npz` / `.pth`, timm) into a keras_mixer model."""

import os

from keras_mixer.weights.adapt import adapt_checkpoint
from keras_mixer.weights.layouts import detect_layout
from keras_mixer.weights.layouts import map_checkpoint
from keras_mixer.weights.readers import read_checkpoint


def read_layout(path, lazy=False):
    """Returns `(layout, {key: ndarray})` of a foreign checkpoint file
    (`.npz` arrays unread with `lazy`, see `read_checkpoint`)."""
    _, state = read_checkpoint(path, lazy)
    return detect_layout(state, path), state


def load_foreign_weights(model, path):
    """Maps, checks and adapts every weight, then assigns them all.

    Nothing is assigned unless every weight of `model` is found with a shape
    that matches or can be adapted (see `adapt_checkpoint`); the readers have
    checked every dtype, and no `.npz` array is read before its keys are.
    """
    path = os.fspath(path)
    layout, state = read_layout(path, lazy=True)
    found = map_checkpoint(layout, state, model, path)
    expected = {variable.path: tuple(variable.shape) for variable in model.weights}
    adapted = adapt_checkpoint(model, found, expected, path)
    for variable in model.weights:
        if variable.path in adapted:
            variable.assign(adapted[variable.path].astype(variable.dtype))
    return model
