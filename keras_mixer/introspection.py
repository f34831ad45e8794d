"""Reading a model's structure: its layers, its Mixer blocks, its patch grid.

What a model *is* (family, variant) is its spec (`keras_mixer.spec`); this
module answers where things are inside one.
"""

from keras_mixer.layers import MixerBlock


def iter_layers(layer):
    """The layers of a functional or Sequential model, recursively, in a fixed order."""
    for child in getattr(layer, "layers", ()):
        yield child
        yield from iter_layers(child)


def mixer_blocks(model):
    """The `MixerBlock` layers of `model` in order, raising if there are none.

    Example:

    >>> import keras_mixer
    >>> from keras_mixer.introspection import mixer_blocks
    >>> model = keras_mixer.ResMLP(patch_size=8, embed_dim=16, depth=2, input_shape=(32, 32, 3))
    >>> [block.name for block in mixer_blocks(model)]
    ['block_0', 'block_1']
    """
    blocks = [layer for layer in model.layers if isinstance(layer, MixerBlock)]
    if not blocks:
        raise ValueError(
            f"Model {model.name!r} has no MixerBlock; expected a ResMLP or MLP-Mixer "
            f"model of keras_mixer (RepMLPNet has no token-mixing matrices)."
        )
    return blocks


def patch_grid(model):
    """The `(rows, cols)` patch grid of a keras_mixer model with a patch "stem".

    Example:

    >>> import keras_mixer
    >>> from keras_mixer.introspection import patch_grid
    >>> patch_grid(keras_mixer.ResMLP(patch_size=8, embed_dim=16, depth=1, input_shape=(32, 48, 3)))
    (4, 6)
    """
    stem = model.get_layer("stem")
    return stem.grid_size(stem.input.shape)
