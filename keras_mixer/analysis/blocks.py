"""The isotropic blocks of a model and their mixing matrices as NumPy arrays."""

import keras
import numpy as np

from keras_mixer.introspection import mixer_blocks


def as_array(variable):
    """A Keras variable's value as a float64 NumPy array, on any backend."""
    return np.asarray(keras.ops.convert_to_numpy(variable), dtype="float64")


def is_resmlp_block(block):
    return block.token_mixing.hidden_dim is None


def mixing_matrices(block):
    """`{name: matrix}` of one block, named as in the papers.

    ResMLP: "A" (S x S, `A[s, t]` weighs input token t for output token s),
    "B" and "C" (the channel MLP). MLP-Mixer: "W1", "W2" (token MLP) and
    "W3", "W4" (channel MLP). Matrices are oriented (out, in) as in the
    papers; sparsity does not depend on the orientation.
    """
    channel = block.channel_mixing
    if is_resmlp_block(block):
        token = {"A": as_array(block.token_mixing.linear.kernel).T}
        channel_names = ("B", "C")
    else:
        token = {
            "W1": as_array(block.token_mixing.fc1.kernel).T,
            "W2": as_array(block.token_mixing.fc2.kernel).T,
        }
        channel_names = ("W3", "W4")
    channel = dict(zip(channel_names, (as_array(channel.fc1.kernel).T, as_array(channel.fc2.kernel).T)))
    return {**token, **channel}


def select_blocks(model, layers, limit=4):
    """`(index, block)` pairs for `layers` (indices), or up to `limit` spread over the depth."""
    blocks = mixer_blocks(model)
    if layers is None:
        layers = sorted(set(np.linspace(0, len(blocks) - 1, min(limit, len(blocks))).round().astype(int)))
    layers = [int(index) for index in layers]
    for index in layers:
        if not 0 <= index < len(blocks):
            raise ValueError(
                f"layers={layers} is not supported; model {model.name!r} has blocks 0 to "
                f"{len(blocks) - 1}."
            )
    return [(index, blocks[index]) for index in layers]
