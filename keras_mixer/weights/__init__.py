"""Weights: resolving the `weights=` argument of the model builders.

`weights` is None, an official tag (`"imagenet"`, `"imagenet_distilled"`,
`"imagenet22k"`, `"imagenet21k"`; see `registry.markdown_table()`), or the
path of a Keras `.weights.h5`, an official Mixer `.npz`, an official ResMLP
`.pth`, or a timm state dict (`.safetensors`, `.pth`, `.bin`).
"""

import os

from keras_mixer.weights.download import converted_weights
from keras_mixer.weights.foreign import load_foreign_weights
from keras_mixer.weights.foreign import read_layout
from keras_mixer.weights.keras_file import check_keras_weights
from keras_mixer.weights.keras_file import gelu_approximate_of
from keras_mixer.weights.keras_file import load_keras_weights
from keras_mixer.weights.keras_file import save_keras_weights
from keras_mixer.weights.pth import load_state_dict
from keras_mixer.weights.readers import detect_format
from keras_mixer.weights.repmlpnet_official import is_repmlpnet
from keras_mixer.weights.repmlpnet_official import load_repmlpnet_state_dict
from keras_mixer.weights.registry import REGISTRY
from keras_mixer.weights.registry import TAGS
from keras_mixer.weights.registry import find_entry
from keras_mixer.weights.registry import markdown_table

EXTENSIONS = (".weights.h5", ".npz", ".pth", ".pt", ".bin", ".safetensors")


def validate_weights_argument(weights, architecture=None):
    """Raises early if `weights` is neither None, a known tag nor a checkpoint file.

    `architecture` is `(family, patch_size, embed_dim, depth)`; with it a tag
    is also checked to exist for that architecture.
    """
    if weights is None:
        return
    if not isinstance(weights, (str, os.PathLike)):
        raise ValueError(
            f"weights={weights!r} is not supported; expected None, one of the "
            f"tags {TAGS}, or the path of a checkpoint file."
        )
    path = os.fspath(weights)
    if path in TAGS:
        if architecture is None:
            raise ValueError(
                f"weights={path!r}: official weights exist only for ResMLP and "
                f"MLP-Mixer; pass the path of a checkpoint file for this model."
            )
        find_entry(path, *architecture)
        return
    if not path.endswith(EXTENSIONS):
        raise ValueError(
            f"weights={path!r} is not supported; expected None, one of the tags "
            f"{TAGS}, or a checkpoint file ending in one of {EXTENSIONS}."
        )
    if not os.path.isfile(path):
        raise ValueError(f"weights={path!r}: no such file.")


def _is_keras_file(path):
    """Keras weights are recognised by name too, so a broken one gets the HDF5 error."""
    return path.endswith(".h5") or detect_format(path) == "keras"


def gelu_approximate_for(weights, architecture):
    """The GELU form the weights were trained with: True (tanh), False (exact) or None.

    Official Flax Mixer checkpoints (and files converted from them) use the
    tanh form; timm checkpoints use exact GELU; plain Keras files without a
    record give None (no preference).
    """
    validate_weights_argument(weights, architecture)
    if weights is None:
        return None
    path = os.fspath(weights)
    if path in TAGS:
        return find_entry(path, *architecture).gelu_approximate
    if _is_keras_file(path):
        return gelu_approximate_of(path)
    return read_layout(path, lazy=True)[0].gelu_approximate


def load_weights(model, weights, architecture=None):
    """Loads `weights` (None, a tag, or a checkpoint path) into `model`.

    A tag needs the model's `architecture` `(family, patch_size, embed_dim,
    depth)`; its checkpoint is downloaded and converted once, then cached.
    """
    if weights is None:
        return model
    path = os.fspath(weights)
    if path in TAGS:
        return load_keras_weights(model, converted_weights(find_entry(path, *architecture)))
    if _is_keras_file(path):
        return load_keras_weights(model, path)
    if is_repmlpnet(model):
        return load_repmlpnet_state_dict(model, load_state_dict(path))
    return load_foreign_weights(model, path)


__all__ = [
    "REGISTRY",
    "TAGS",
    "check_keras_weights",
    "find_entry",
    "gelu_approximate_for",
    "load_foreign_weights",
    "load_keras_weights",
    "load_state_dict",
    "load_weights",
    "markdown_table",
    "save_keras_weights",
    "validate_weights_argument",
]
