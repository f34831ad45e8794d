"""Intermediate features for dense tasks: the outputs of chosen blocks, as a dict.

timm's `forward_intermediates` and KerasHub's `pyramid_outputs` in Keras
terms: a functional model sharing the original's layers and weights, whose
outputs are named by the family (`block_3` for ResMLP and MLP-Mixer, `stage2`
for RepMLPNet: see `Family.feature_layers`), optionally with token tables
reshaped to the patch grid so that a convolutional decoder can sit on them.
"""

import keras

from keras_mixer import registry
from keras_mixer.introspection import patch_grid
from keras_mixer.spec import spec_of


def feature_names(model):
    """The names `feature_extractor` accepts for `model`, shallowest first.

    Example:

    >>> import keras_mixer
    >>> model = keras_mixer.ResMLP(patch_size=8, embed_dim=16, depth=3, input_shape=(32, 32, 3))
    >>> keras_mixer.feature_names(model)
    ['block_0', 'block_1', 'block_2']
    """
    return list(_feature_layers(model))


def _feature_layers(model):
    spec = spec_of(model, "feature extraction")
    return registry.family_info(spec.family).feature_layers(spec.arguments)


def _chosen(names, available):
    if names is None:
        return list(available)
    if isinstance(names, (str, int)):
        names = [names]
    chosen = []
    for name in names:
        if isinstance(name, int) and not isinstance(name, bool) and -len(available) <= name < len(available):
            name = available[name]
        if name not in available:
            raise ValueError(
                f"feature {name!r} is not supported; expected one of {available} or an index "
                f"from {-len(available)} to {len(available) - 1}."
            )
        chosen.append(name)
    return chosen


def feature_extractor(model, names=None, grid=True):
    """A `keras.Model` from `model`'s input to the outputs of chosen blocks, as a dict.

    The new model shares `model`'s layers and weights, so training it (or a
    head on it) trains them. Works on every family and on models built with
    `include_top=False`.

    Args:
        model: a keras_mixer model (it carries the spec that names its blocks).
        names: feature names (`feature_names(model)`) or indices into them
            (negative from the deepest); None for all.
        grid: reshape token tables `(batch, S, C)` to the patch grid
            `(batch, H/p, W/p, C)`; maps of hierarchical families already are.

    Returns:
        A functional `keras.Model` whose output is `{name: tensor}`.

    Example:

    >>> import numpy as np, keras_mixer
    >>> model = keras_mixer.ResMLP(patch_size=8, embed_dim=16, depth=4,
    ...                            input_shape=(32, 48, 3), include_top=False)
    >>> extractor = keras_mixer.feature_extractor(model, [1, -1])
    >>> outputs = extractor.predict(np.zeros((2, 32, 48, 3), "uint8"), verbose=0)
    >>> {name: value.shape for name, value in outputs.items()}
    {'block_1': (2, 4, 6, 16), 'block_3': (2, 4, 6, 16)}
    """
    layers = _feature_layers(model)
    outputs = {}
    for name in _chosen(names, list(layers)):
        tensor = model.get_layer(layers[name]).output
        if grid and len(tensor.shape) == 3:
            rows, cols = patch_grid(model)
            tensor = keras.layers.Reshape((rows, cols, tensor.shape[-1]), name=f"{name}_grid")(tensor)
        outputs[name] = tensor
    return keras.Model(model.inputs, outputs, name=f"{model.name}_features")
