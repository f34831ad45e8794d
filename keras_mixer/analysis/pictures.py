"""Every picture of one model into a folder: what `keras-mixer inspect` writes."""

import dataclasses
import os

import keras
import numpy as np

from keras_mixer.analysis.blocks import is_resmlp_block
from keras_mixer.analysis.blocks import mixer_blocks
from keras_mixer.analysis.permutation import permutation_figure
from keras_mixer.analysis.permutation import permute_images
from keras_mixer.analysis.permutation import permute_model
from keras_mixer.analysis.permutation import random_permutation
from keras_mixer.analysis.weight_sparsity import sparsity
from keras_mixer.analysis.weight_sparsity import sparsity_figure
from keras_mixer.analysis.token_maps import token_map_figure
from keras_mixer.analysis.token_maps import token_mlp_figure
from keras_mixer.introspection import patch_grid


@dataclasses.dataclass
class Pictures:
    """What `save_pictures` wrote and measured.

    `paths`: `{picture name: PNG path}`; `sparsity`: `sparsity(model)`;
    `permutation_difference`: the largest difference between the model's
    outputs and its permuted copy's outputs on permuted images (0 up to
    float rounding).
    """

    paths: dict
    sparsity: dict
    permutation_difference: float


def sample_images(input_shape, count=4, seed=0):
    """`count` digits enlarged to `input_shape` when it is square and a multiple of 8, else noise."""
    height, width, channels = input_shape
    if height == width and height % 8 == 0:
        from keras_mixer.data import load_digits

        (images, _), _ = load_digits(image_size=height, channels=channels, seed=seed)
        return images[:count].astype("float32")
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (count, height, width, channels)).astype("float32")


def save_pictures(model, out_dir, seed=0, log=print):
    """Writes the token-mixing, sparsity and permutation pictures of `model` to `out_dir`.

    Args:
        model: a keras_mixer ResMLP or MLP-Mixer classifier.
        out_dir: the folder (created) for `token_map.png` (ResMLP) or
            `token_mlp.png` (MLP-Mixer), `sparsity.png` and `permutation.png`.
        seed: seeds the permutation.
        log: called with one progress line per picture (None: silent).

    Returns:
        `Pictures`.

    Example:

    >>> import tempfile, keras_mixer
    >>> from keras_mixer.analysis import save_pictures
    >>> model = keras_mixer.ResMLP(patch_size=8, embed_dim=16, depth=2, input_shape=(32, 32, 3))
    >>> sorted(save_pictures(model, tempfile.mkdtemp(), log=None).paths)
    ['permutation', 'sparsity', 'token_map']
    """
    log = log or (lambda line: None)
    resmlp = is_resmlp_block(mixer_blocks(model)[0])
    name, draw = ("token_map", token_map_figure) if resmlp else ("token_mlp", token_mlp_figure)
    paths = {name: os.path.join(out_dir, f"{name}.png")}
    draw(model, path=paths[name])
    log(f"wrote {paths[name]}")

    paths["sparsity"] = os.path.join(out_dir, "sparsity.png")
    fractions = sparsity(model)
    sparsity_figure(model, path=paths["sparsity"])
    log(f"wrote {paths['sparsity']}")

    stem = model.get_layer("stem")
    permutation = random_permutation(patch_grid(model), stem.patch_size, seed=seed)
    images = sample_images(tuple(model.input.shape[1:]), seed=seed)
    permuted = permute_images(images, permutation)
    expected = keras.ops.convert_to_numpy(model(images, training=False))
    found = keras.ops.convert_to_numpy(permute_model(model, permutation)(permuted, training=False))
    difference = float(np.max(np.abs(found - expected)))
    paths["permutation"] = os.path.join(out_dir, "permutation.png")
    permutation_figure(images, permutation, path=paths["permutation"])
    log(f"wrote {paths['permutation']} (permuted model on permuted images: largest output "
        f"difference {difference:.1e})")
    return Pictures(paths, fractions, difference)
