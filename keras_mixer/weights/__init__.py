"""Weights: resolving the `weights=` argument of the model builders.

`weights` is None, a preset tag of the model's variant (`"imagenet"`, ...;
see `keras_mixer.list_presets()`), a preset name (`"resmlp12.imagenet"`), a
preset folder (`keras_mixer.save_preset`), or
the path of a Keras `.weights.h5`, an official Mixer `.npz`, an official
ResMLP or RepMLPNet `.pth`, or a timm state dict (`.safetensors`, `.pth`,
`.bin`). Which model a checkpoint goes into is read from the model's spec
(`keras_mixer.spec.ModelSpec`), never guessed from its layers; each foreign
layout is one converter module (`keras_mixer.weights.converters`).
"""

import os

from keras_mixer import registry
from keras_mixer.presets import check_preset_family
from keras_mixer.presets import is_preset_folder
from keras_mixer.presets import registered_preset_of
from keras_mixer.presets import read_preset_config
from keras_mixer.spec import spec_of

from keras_mixer.weights.download import converted_weights
from keras_mixer.weights.foreign import load_checkpoint_state
from keras_mixer.weights.foreign import load_foreign_weights
from keras_mixer.weights.foreign import read_layout
from keras_mixer.weights.keras_file import check_keras_weights
from keras_mixer.weights.keras_file import gelu_approximate_of
from keras_mixer.weights.keras_file import load_keras_weights
from keras_mixer.weights.keras_file import save_keras_weights
from keras_mixer.weights.pth import load_state_dict
from keras_mixer.weights.readers import detect_format

EXTENSIONS = (".weights.h5", ".npz", ".pth", ".pt", ".bin", ".safetensors")


def _preset(name, family, arguments):
    """The preset `name` (a tag, or `variant.tag`) for the model `arguments` build, or None."""
    if name in registry.list_presets():
        preset = registry.preset_info(name)
        variant = registry.find_variant(family, arguments) if family else None
        if variant is not preset.variant:
            raise ValueError(
                f"weights={name!r} is a checkpoint of {preset.variant.name}; this model is "
                f"{variant.name if variant else 'not that variant'}. Use "
                f"keras_mixer.{preset.variant.function}(weights={preset.tag!r}) or "
                f"keras_mixer.models.get_model({preset.variant.name!r}, weights={preset.tag!r})."
            )
        return preset
    if name in registry.tags():
        if family is None:
            raise ValueError(f"weights={name!r}: a tag needs a keras_mixer model built by a builder.")
        return registry.find_preset(name, family, arguments)
    return None


def validate_weights_argument(weights, family=None, arguments=None):
    """Raises early if `weights` is neither None, a preset of the model nor a checkpoint file.

    `family` and the builder's `arguments` (see `ModelSpec`) let a tag be
    checked against the presets of the variant they build.
    """
    if weights is None:
        return
    if not isinstance(weights, (str, os.PathLike)):
        raise ValueError(
            f"weights={weights!r} is not supported; expected None, one of the "
            f"tags {registry.tags()}, a preset name, or the path of a checkpoint file."
        )
    path = os.fspath(weights)
    if is_preset_folder(path) or _preset(path, family, arguments or {}) is not None:
        return
    if not path.endswith(EXTENSIONS):
        raise ValueError(
            f"weights={path!r} is not supported; expected None, one of the tags "
            f"{registry.tags()}, a preset name such as 'resmlp12.imagenet', or a checkpoint "
            f"file ending in one of {EXTENSIONS}."
        )
    if not os.path.isfile(path):
        raise ValueError(f"weights={path!r}: no such file.")


def _is_keras_file(path):
    """Keras weights are recognised by name too, so a broken one gets the HDF5 error."""
    return path.endswith(".h5") or detect_format(path) == "keras"


def gelu_approximate_for(weights, family, arguments):
    """The GELU form the weights were trained with: True (tanh), False (exact) or None.

    Official Flax Mixer checkpoints (and files converted from them) use the
    tanh form; timm checkpoints use exact GELU; plain Keras files without a
    record give None (no preference).
    """
    validate_weights_argument(weights, family, arguments)
    if weights is None:
        return None
    path = os.fspath(weights)
    if is_preset_folder(path):
        return gelu_approximate_of(check_preset_family(path, family))
    preset = _preset(path, family, arguments)
    if preset is not None:
        return preset.gelu_approximate
    if _is_keras_file(path):
        return gelu_approximate_of(path)
    return read_layout(path, lazy=True)[0].gelu_approximate


def preset_for(weights, family, arguments):
    """The registered `Preset` the weights come from, or None.

    `weights` names it (a preset name or tag), or is a preset folder saved
    from a model built with it.
    """
    validate_weights_argument(weights, family, arguments)
    if weights is None:
        return None
    path = os.fspath(weights)
    if is_preset_folder(path):
        check_preset_family(path, family)
        return registered_preset_of(path)
    return _preset(path, family, arguments)


def preprocessing_for(weights, family, arguments):
    """The input normalisation the weights bring where it differs from the family's, or None.

    A registered preset's own `Preprocessing` (MIIL's Mixer-B/16: `x / 255`),
    or the one a preset folder's model was built with; None for everything else.
    """
    preset = preset_for(weights, family, arguments)  # checks `weights` first
    if weights is not None and is_preset_folder(os.fspath(weights)):
        own = read_preset_config(os.fspath(weights))[1].get("preprocessing")
        return registry.Preprocessing.from_config(own) if own else None
    return None if preset is None else preset.preprocessing


def load_weights(model, weights):
    """Loads `weights` (None, a preset tag or name, or a checkpoint path) into `model`.

    A preset's checkpoint is downloaded and converted once, then cached.
    """
    if weights is None:
        return model
    path = os.fspath(weights)
    spec = spec_of(model, "loading weights")
    if is_preset_folder(path):
        return load_keras_weights(model, check_preset_family(path, spec.family))
    preset = _preset(path, spec.family, spec.arguments)
    if preset is not None:
        return load_keras_weights(model, converted_weights(preset))
    if _is_keras_file(path):
        return load_keras_weights(model, path)
    return load_foreign_weights(model, path)


__all__ = [
    "check_keras_weights",
    "gelu_approximate_for",
    "load_checkpoint_state",
    "load_foreign_weights",
    "load_keras_weights",
    "load_state_dict",
    "load_weights",
    "preprocessing_for",
    "preset_for",
    "save_keras_weights",
    "validate_weights_argument",
]
