"""Preset folders: a model's config, weights and metadata in KerasHub's layout.

`save_preset(model, folder)` writes

- `config.json`: `{"module", "class_name", "config"}`, the family builder and
  the arguments that build the model (its `ModelSpec`);
- `model.weights.h5`: the weights (Keras layout, GELU form recorded);
- `metadata.json`: keras_mixer and Keras versions, family, variant,
  parameter count.

`from_preset(folder)` builds the model again from them, and every builder
takes the folder as `weights=` (the body is adapted to another input size
or class count as for any checkpoint). A registered preset name
(`"resmlp12.imagenet"`) works too. Converted weights can so be published, on
Hugging Face for example, and loaded with no conversion step. A folder is
untrusted input: the JSON files are bounded in size and checked field by
field, only keras_mixer's own builders are called, with arguments they
check, and the model `config.json` describes is first built without
allocating its variables and refused if it has more than `MAX_BLOCKS` blocks
or more parameters than `model.weights.h5` holds: a 200-byte config cannot
ask for a 100 GB model.
"""

import inspect
import json
import math
import os

import keras

from keras_mixer import registry
from keras_mixer.spec import spec_of
from keras_mixer.staging import staged
from keras_mixer.version import __version__

CONFIG = "config.json"
WEIGHTS = "model.weights.h5"
METADATA = "metadata.json"
MAX_JSON_BYTES = 64 * 1024
MAX_BLOCKS = 1000  # building a model takes time per block; published models have at most 36
FORMAT_VERSION = 1


def save_preset(model, folder):
    """Writes `model` as a preset folder (a new folder, written whole or not at all).

    Example:

    >>> import os, tempfile, keras_mixer
    >>> model = keras_mixer.ResMLP(patch_size=8, embed_dim=16, depth=1,
    ...                            input_shape=(16, 16, 3), classes=3)
    >>> folder = os.path.join(tempfile.mkdtemp(), "tiny")
    >>> keras_mixer.save_preset(model, folder)
    >>> sorted(os.listdir(folder))
    ['config.json', 'metadata.json', 'model.weights.h5']
    >>> keras_mixer.from_preset(folder).spec.arguments["classes"]
    3
    """
    from keras_mixer.weights import save_keras_weights

    spec = spec_of(model, "save_preset")
    if spec.form != "training":
        raise ValueError(
            f"Model {model.name!r} is in its {spec.form} form, which no builder makes; save "
            f"the model before fuse_for_inference and fuse it after loading."
        )
    family = registry.family_info(spec.family)
    config = {"module": "keras_mixer", "class_name": family.builder.__name__,
              "config": {**spec.get_config()["arguments"], "name": model.name}}
    metadata = {
        "keras_mixer_version": __version__,
        "keras_version": keras.__version__,
        "format_version": FORMAT_VERSION,
        "family": spec.family,
        "variant": spec.variant,
        "preset": spec.preset,
        "parameter_count": int(model.count_params()),
    }
    with staged(folder) as partial:
        os.makedirs(partial)
        for name, content in ((CONFIG, config), (METADATA, metadata)):
            with open(os.path.join(partial, name), "w") as file:
                json.dump(content, file, indent=1)
        save_keras_weights(model, os.path.join(partial, WEIGHTS),
                           spec.arguments.get("gelu_approximate"))


def is_preset_folder(path):
    """Whether `path` is a folder holding a preset's `config.json`."""
    return os.path.isdir(path) and os.path.isfile(os.path.join(path, CONFIG))


def _read_json(folder, name):
    path = os.path.join(folder, name)
    if not os.path.isfile(path):
        raise ValueError(f"Preset folder {folder!r} has no {name}.")
    size = os.path.getsize(path)
    if size > MAX_JSON_BYTES:
        raise ValueError(f"{path!r} is {size:,} bytes; expected at most {MAX_JSON_BYTES:,}.")
    try:
        with open(path, "rb") as file:
            content = json.loads(file.read().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path!r} is not JSON: {error}.") from None
    if not isinstance(content, dict):
        raise ValueError(f"{path!r} holds {type(content).__name__}; expected a JSON object.")
    return content


def read_preset_config(folder):
    """`(family, builder arguments)` of a preset folder, every field checked."""
    config = _read_json(folder, CONFIG)
    families = {registry.family_info(name).builder.__name__: name
                for name in registry.list_families()}
    class_name = config.get("class_name")
    if config.get("module") != "keras_mixer" or class_name not in families:
        raise ValueError(
            f"{os.path.join(folder, CONFIG)!r} names {config.get('module')!r}."
            f"{class_name!r}; expected module 'keras_mixer' and one of {sorted(families)}."
        )
    arguments = config.get("config")
    if not isinstance(arguments, dict) or not all(isinstance(key, str) for key in arguments):
        raise ValueError(f"{os.path.join(folder, CONFIG)!r}: 'config' must be an object of arguments.")
    family = families[class_name]
    allowed = set(inspect.signature(registry.family_info(family).builder).parameters)
    allowed -= {"weights", "input_tensor"}
    unknown = sorted(set(arguments) - allowed)
    if unknown:
        raise ValueError(
            f"{os.path.join(folder, CONFIG)!r}: arguments {unknown} are not arguments of "
            f"keras_mixer.{class_name}."
        )
    if isinstance(arguments.get("input_shape"), list):
        arguments["input_shape"] = tuple(arguments["input_shape"])
    return family, arguments


def _block_count(family, arguments):
    """The blocks the arguments ask for (values that are not counts are left to the builder's checks)."""
    parameters = inspect.signature(family.builder).parameters
    blocks = 0
    for name in family.depth_arguments:
        value = arguments.get(name, parameters[name].default)
        for count in value if isinstance(value, (tuple, list)) else (value,):
            if isinstance(count, int) and count > 0:
                blocks += count
    return blocks


def _parameter_count_without_variables(family, arguments):
    """The parameter count of `family.builder(**arguments)`, built in a
    `keras.StatelessScope` that allocates no variable.

    Keras keeps the variables a stateless scope created to initialise them
    at the next scope's exit; these are dropped (from this thread's list, so
    only ours) whatever happens, or a refused model would be allocated later.
    Keras has no public way to drop them, so this reads its own list (the one
    `register_uninitialized_variable` fills; tests/test_registry.py fails if
    it moves).
    """
    from keras.src.backend.common import global_state

    pending = global_state.get_global_attribute("uninitialized_variables", [], set_to_default=True)
    before = len(pending)
    try:
        with keras.StatelessScope(initialize_variables=False):
            model = family.builder(**arguments)
        return sum(math.prod(weight.shape) for weight in model.weights)
    finally:
        del pending[before:]


def check_preset_size(folder, family, arguments):
    """Raises unless the model of a preset's config is no larger than its weights file.

    Nothing is allocated: the blocks are counted from the arguments, the
    parameters by a build without variables, the file's weights from its
    metadata.
    """
    info, config = registry.family_info(family), os.path.join(folder, CONFIG)
    blocks = _block_count(info, arguments)
    if blocks > MAX_BLOCKS:
        raise ValueError(
            f"{config!r} asks for {blocks:,} blocks ({', '.join(info.depth_arguments)}); "
            f"expected at most {MAX_BLOCKS:,}."
        )
    declared = _parameter_count_without_variables(info, arguments)
    weights = os.path.join(folder, WEIGHTS)
    if not os.path.isfile(weights):
        raise ValueError(f"Preset folder {folder!r} has no {WEIGHTS}.")
    from keras_mixer.weights.keras_file import stored_parameter_count

    stored = stored_parameter_count(weights)
    if declared > stored:
        raise ValueError(
            f"{config!r} describes a model of {declared:,} parameters, but {weights!r} holds "
            f"{stored:,}; expected a config whose model the weights file holds. Nothing was built."
        )


def registered_preset_of(folder):
    """The registered preset whose weights the folder's model was made from (metadata "preset"), or None.

    Its evaluation transform, where it has its own, stays the model's.
    """
    metadata = _read_json(folder, METADATA)
    name = metadata.get("preset")
    if name is None:
        return None
    if not isinstance(name, str) or name not in registry.list_presets():
        raise ValueError(
            f"{os.path.join(folder, METADATA)!r} names preset {name!r}; expected None or one of "
            f"keras_mixer.list_presets()."
        )
    preset = registry.preset_info(name)
    if metadata.get("variant") != preset.variant.name:
        raise ValueError(
            f"{os.path.join(folder, METADATA)!r} names preset {name!r} of {preset.variant.name} "
            f"for a model of variant {metadata.get('variant')!r}; expected the preset's variant."
        )
    return preset


def check_preset_family(folder, family):
    """Raises unless the preset in `folder` is of `family`."""
    found, _ = read_preset_config(folder)
    if found != family:
        raise ValueError(
            f"Preset {folder!r} is a {registry.family_info(found).title}; the model is a "
            f"{registry.family_info(family).title}. Nothing was loaded."
        )
    return os.path.join(folder, WEIGHTS)


def from_preset(preset, **kwargs):
    """The model of a preset folder or a registered preset name, with its weights.

    `kwargs` override the preset's builder arguments (`classes`,
    `input_shape`, `include_top`, ...): the body is adapted as for any
    checkpoint, and a new head is freshly initialised. A backbone preset
    gives the token table (`include_top=False`) unless told otherwise.

    Example:

    >>> import keras_mixer
    >>> keras_mixer.from_preset("resmlp12.imagenet", classes=10)  # doctest: +SKIP
    """
    if not isinstance(preset, (str, os.PathLike)):
        raise ValueError(f"preset={preset!r} is not supported; expected a preset name or folder.")
    if not os.path.isdir(preset):
        info = registry.preset_info(os.fspath(preset))
        kwargs = {"classes": info.classes, "include_top": not info.backbone, **info.arguments,
                  **kwargs}
        return info.variant.build(weights=info.tag, **kwargs)
    family, arguments = read_preset_config(os.fspath(preset))
    check_preset_size(os.fspath(preset), family, arguments)
    return registry.family_info(family).builder(**{**arguments, **kwargs}, weights=preset)
