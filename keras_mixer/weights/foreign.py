"""Loading foreign checkpoints (official `.npz` / `.pth`, timm) into a keras_mixer model.

One path for every converter (`keras_mixer.weights.converters`): the layout
is detected from its signature key, the model's family is read from its
spec, every key, dtype and shape is checked, token-mixing weights are
resampled to the model's patch grid and a head with another class count is
left as initialised (`adapt.py`), and every mismatch is reported in one
ValueError; nothing is assigned unless everything matches.
"""

import os

import numpy as np

from keras_mixer import registry
from keras_mixer.spec import spec_of
from keras_mixer.weights.adapt import adapt_checkpoint
from keras_mixer.weights.bounds import check_dtype
from keras_mixer.weights.converters import detect_layout
from keras_mixer.weights.layouts import to_keras
from keras_mixer.weights.readers import read_checkpoint

DATA_PARALLEL_PREFIX = "module."
EXTRA = "checkpoint:"  # marks checkpoint keys among variable paths in `found`


def _unprefixed(state):
    """`state` without the `module.` prefix that DistributedDataParallel gives every key."""
    if state and all(key.startswith(DATA_PARALLEL_PREFIX) for key in state):
        return {key[len(DATA_PARALLEL_PREFIX):]: value for key, value in state.items()}
    return state


def read_layout(path, lazy=False):
    """Returns `(layout, {key: ndarray})` of a foreign checkpoint file
    (`.npz` arrays unread with `lazy`, see `read_checkpoint`)."""
    _, state = read_checkpoint(path, lazy)
    state = _unprefixed(state)
    return detect_layout(state, path), state


def _stand_in(array):
    """A zero-cost array of `array`'s shape and dtype, for checks that must not read it."""
    return np.broadcast_to(np.zeros((), array.dtype), array.shape)


def _converted(transform, array, shape):
    """`array` in the Keras layout, or as stored if its rank or size does not fit the
    transform (the shape check then reports it)."""
    try:
        return to_keras(transform, array, shape)
    except ValueError:
        return array


def map_checkpoint(layout, state, model, path):
    """Returns `(found, errors)`: what `adapt_checkpoint` checks, and the keys missing.

    `found` maps each model variable path to `(label, array in Keras layout)`
    and each checkpoint key the model has no place for, prefixed with
    `EXTRA`, to `(key, array)`; a head is dropped silently when the model
    has none, and keys ending in one of the layout's `ignored` suffixes hold
    no weight. `state` maps keys to arrays or to unread arrays with `shape`,
    `ndim` and `dtype` (`npz_file.NpyMember`): keys and dtypes are checked
    first, and no array is read unless every key matches.
    """
    family = spec_of(model, "loading a checkpoint").family
    if family != layout.family:
        raise ValueError(
            f"Checkpoint {path!r} is a {registry.family_info(layout.family).title} checkpoint "
            f"({layout.description}); model {model.name!r} is a "
            f"{registry.family_info(family).title}. Nothing was loaded."
        )
    sources, errors = {}, []
    for variable in model.weights:
        key, transform = layout.source_of(variable.path)
        shape = tuple(variable.shape)
        if key is None or key not in state:
            errors.append(f"{key or variable.path}: expected shape {shape} "
                          f"(model weight {variable.path}), missing from the checkpoint")
            continue
        check_dtype(state[key].dtype, path, key)
        sources[variable.path] = (f"{key} (model weight {variable.path})", key, transform, shape)
    used = {key for _, key, _, _ in sources.values()}
    used |= {layout.source_of(name)[0] for name in ("head/kernel", "head/bias")}
    extra = sorted(key for key in set(state) - used if not key.endswith(layout.ignored))
    read = _stand_in if errors or extra else np.asarray
    found = {f"{EXTRA}{key}": (key, _stand_in(state[key])) for key in extra}
    for name, (label, key, transform, shape) in sources.items():
        found[name] = (label, _converted(transform, read(state[key]), shape))
    return found, errors


def _load(model, layout, state, path):
    found, errors = map_checkpoint(layout, state, model, path)
    expected = {variable.path: tuple(variable.shape) for variable in model.weights
                if variable.path in found}
    adapted = adapt_checkpoint(model, found, expected, path, errors)
    for variable in model.weights:
        if variable.path in adapted:
            variable.assign(adapted[variable.path].astype(variable.dtype))
    return model


def load_foreign_weights(model, path):
    """Maps, checks and adapts every weight of a checkpoint file, then assigns them all.

    Nothing is assigned unless every weight of `model` is found with a shape
    that matches or can be adapted (see `adapt_checkpoint`); the readers have
    checked every dtype, and no `.npz` array is read before its keys are.
    """
    path = os.fspath(path)
    layout, state = read_layout(path, lazy=True)
    return _load(model, layout, state, path)


def load_checkpoint_state(model, state, source="state dict"):
    """Loads a checkpoint already in memory (`{key: array}`) into `model`, as from a file.

    `source` names it in messages. Keys may carry DistributedDataParallel's
    `module.` prefix.

    Example:

    >>> import keras_mixer
    >>> from keras_mixer.weights.foreign import load_checkpoint_state
    >>> model = keras_mixer.RepMLPNet(channels=(8, 16), depths=(1, 1),
    ...     sharesets=(1, 4), partition_sizes=(4, 2), input_shape=(32, 32, 3))
    >>> load_checkpoint_state(model, {"stages.0.0.repmlp_block.fc3.weight": [[1.0]]})
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: Checkpoint 'state dict' does not match model 'repmlpnet' ...: conv_embedding.conv.weight: expected shape (4, 4, 3, 8) (model weight stem_conv/kernel), missing from the checkpoint; ...
    """
    state = _unprefixed({key: np.asarray(value) for key, value in state.items()})
    return _load(model, detect_layout(state, source), state, source)
