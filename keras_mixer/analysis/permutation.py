"""The permutation property of MLP-Mixer and ResMLP (Mixer paper, Sec. 3.4).

Shuffle the patches of every image with one fixed permutation, and the
pixels inside every patch with another. A Mixer or ResMLP model whose stem
kernel and token maps are permuted the same way gives exactly the outputs
of the original model on the original images: the stem sees the same
pixels in a different order, the tokens stay permuted through every block
(channel mixing, Affine and LayerNorm act per token; token maps are
permuted on both sides) and the final average over tokens does not depend
on their order. A convolutional network has no such symmetry.
"""

import dataclasses

import keras
import numpy as np

from keras_mixer.analysis.blocks import as_array
from keras_mixer.analysis.blocks import is_resmlp_block
from keras_mixer.analysis.blocks import mixer_blocks
from keras_mixer.analysis.figures import new_figure
from keras_mixer.analysis.figures import save_figure
from keras_mixer.layers import Affine
from keras_mixer.layers import MixerBlock
from keras_mixer.layers import PatchEmbedding
from keras_mixer.introspection import patch_grid

# Layers that act on each token alone or on the pooled features.
_TOKENWISE = (
    keras.layers.InputLayer, keras.layers.Normalization, keras.layers.Rescaling,
    Affine, keras.layers.LayerNormalization, keras.layers.GlobalAveragePooling1D,
    keras.layers.GlobalMaxPooling1D, keras.layers.Dropout, keras.layers.Dense,
    keras.layers.Activation,
)


@dataclasses.dataclass(frozen=True)
class PatchPermutation:
    """A fixed shuffle of patches and of pixels inside patches.

    New patch `i` (row-major on the `grid`) is old patch `patch_order[i]`;
    new pixel `k` of every patch (row-major in the `patch_size` square) is
    old pixel `pixel_order[k]`.
    """

    grid: tuple
    patch_size: int
    patch_order: np.ndarray
    pixel_order: np.ndarray


def random_permutation(grid, patch_size, seed=0):
    """A random `PatchPermutation` of a `(rows, cols)` grid of `patch_size` patches.

    Example:

    >>> from keras_mixer.analysis import random_permutation
    >>> permutation = random_permutation((4, 4), 2, seed=0)
    >>> sorted(permutation.patch_order.tolist()) == list(range(16)), sorted(permutation.pixel_order.tolist())
    (True, [0, 1, 2, 3])
    """
    rows, cols = (int(side) for side in grid)
    if rows < 1 or cols < 1 or int(patch_size) < 1:
        raise ValueError(
            f"grid={grid}, patch_size={patch_size} are not supported; expected positive sizes."
        )
    rng = np.random.default_rng(seed)
    return PatchPermutation(
        (rows, cols), int(patch_size), rng.permutation(rows * cols), rng.permutation(patch_size**2)
    )


def permute_images(images, permutation):
    """Applies `permutation` to `(batch, H, W, channels)` images; returns a NumPy array.

    Example:

    >>> import numpy as np
    >>> from keras_mixer.analysis import PatchPermutation, permute_images
    >>> images = np.arange(16).reshape(1, 4, 4, 1)
    >>> swap = PatchPermutation((2, 2), 2, np.array([3, 1, 2, 0]), np.array([0, 1, 2, 3]))
    >>> permute_images(images, swap)[0, :, :, 0]
    array([[10, 11,  2,  3],
           [14, 15,  6,  7],
           [ 8,  9,  0,  1],
           [12, 13,  4,  5]])
    """
    images = np.asarray(keras.ops.convert_to_numpy(images))
    (rows, cols), size = permutation.grid, permutation.patch_size
    expected = (rows * size, cols * size)
    if images.ndim != 4 or images.shape[1:3] != expected:
        raise ValueError(
            f"images of shape {images.shape} are not supported; expected (batch, "
            f"{expected[0]}, {expected[1]}, channels) for this permutation."
        )
    batch, channels = images.shape[0], images.shape[3]
    patches = images.reshape(batch, rows, size, cols, size, channels).transpose(0, 1, 3, 2, 4, 5)
    patches = patches.reshape(batch, rows * cols, size * size, channels)
    patches = patches[:, permutation.patch_order][:, :, permutation.pixel_order]
    patches = patches.reshape(batch, rows, cols, size, size, channels).transpose(0, 1, 3, 2, 4, 5)
    return patches.reshape(images.shape)


def _check_model(model):
    for layer in model.layers:
        if not isinstance(layer, (PatchEmbedding, MixerBlock) + _TOKENWISE):
            raise ValueError(
                f"Layer {layer.name!r} ({type(layer).__name__}) of model {model.name!r} is "
                f"not supported; expected a keras_mixer ResMLP or MLP-Mixer model."
            )
    if len(model.output.shape) != 2:
        raise ValueError(
            f"Model {model.name!r} outputs per-token features {tuple(model.output.shape)}; "
            f"expected pooled outputs (include_top=True or pooling='avg'/'max')."
        )


def permute_model(model, permutation):
    """A copy of `model` that gives `model`'s outputs on `permute_images(images, permutation)`.

    The stem kernel's pixels and every token map's input and output tokens
    are reordered; all other weights are copied. `model` is unchanged.

    Example:

    >>> import keras, numpy as np, keras_mixer
    >>> from keras_mixer.analysis import permute_images, permute_model, random_permutation
    >>> model = keras_mixer.ResMLP(patch_size=4, embed_dim=16, depth=2, input_shape=(16, 16, 3),
    ...     classes=10)
    >>> permutation = random_permutation((4, 4), 4)
    >>> images = np.random.default_rng(0).integers(0, 256, (2, 16, 16, 3)).astype("float32")
    >>> permuted = permute_model(model, permutation)
    >>> expected = keras.ops.convert_to_numpy(model(images))
    >>> found = keras.ops.convert_to_numpy(permuted(permute_images(images, permutation)))
    >>> bool(np.allclose(found, expected, atol=1e-6))
    True
    """
    _check_model(model)
    stem = model.get_layer("stem")
    if patch_grid(model) != permutation.grid or stem.patch_size != permutation.patch_size:
        raise ValueError(
            f"The permutation is for a {permutation.grid} grid of {permutation.patch_size}-pixel "
            f"patches; model {model.name!r} has a {patch_grid(model)} grid of "
            f"{stem.patch_size}-pixel patches."
        )
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    order, pixels = permutation.patch_order, permutation.pixel_order
    kernel = as_array(stem.proj.kernel)
    size = permutation.patch_size
    flat = kernel.reshape(size * size, *kernel.shape[2:])[pixels]
    copy.get_layer("stem").proj.kernel.assign(flat.reshape(kernel.shape).astype("float32"))
    for source, target in zip(mixer_blocks(model), mixer_blocks(copy)):
        mixing, copied = source.token_mixing, target.token_mixing
        if is_resmlp_block(source):
            updates = [
                (copied.linear.kernel, as_array(mixing.linear.kernel)[order][:, order]),
                (copied.linear.bias, as_array(mixing.linear.bias)[order]),
            ]
        else:
            updates = [
                (copied.fc1.kernel, as_array(mixing.fc1.kernel)[order]),
                (copied.fc2.kernel, as_array(mixing.fc2.kernel)[:, order]),
                (copied.fc2.bias, as_array(mixing.fc2.bias)[order]),
            ]
        for variable, value in updates:
            variable.assign(value.astype(variable.dtype))
    return copy


def permutation_figure(images, permutation, count=6, path=None):
    """Up to `count` images above their permuted versions.

    Example:

    >>> from keras_mixer.data import load_digits
    >>> from keras_mixer.analysis import permutation_figure, random_permutation
    >>> (x, _), _ = load_digits()
    >>> len(permutation_figure(x, random_permutation((4, 4), 2), count=3).axes)
    6
    """
    images = np.asarray(keras.ops.convert_to_numpy(images))[:count]
    permuted = permute_images(images, permutation)
    figure = new_figure(1.2 * len(images), 2.8)
    axes = figure.subplots(2, len(images), squeeze=False)
    for column, (original, shuffled) in enumerate(zip(images, permuted)):
        for row, image in enumerate((original, shuffled)):
            shown = np.clip(image, 0, 255).astype("uint8") if image.shape[-1] == 3 else image[..., 0]
            axes[row, column].imshow(shown, cmap="gray")
            axes[row, column].set_xticks([])
            axes[row, column].set_yticks([])
    axes[0, 0].set_ylabel("original", fontsize=8)
    axes[1, 0].set_ylabel("permuted", fontsize=8)
    figure.suptitle(
        f"patches of {permutation.patch_size}x{permutation.patch_size} pixels shuffled, "
        f"and pixels inside each patch", fontsize=9,
    )
    return save_figure(figure, path)
