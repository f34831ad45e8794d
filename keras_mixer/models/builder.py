"""One builder for the isotropic all-MLP models, with keras.applications conventions."""

import inspect

import keras

from keras_mixer.arguments import activation
from keras_mixer.arguments import boolean
from keras_mixer.arguments import one_of
from keras_mixer.arguments import positive_int
from keras_mixer.arguments import probability
from keras_mixer import registry
from keras_mixer.layers import MixerBlock
from keras_mixer.layers import PatchEmbedding
from keras_mixer.layers import traceable
from keras_mixer.models.model import Model
from keras_mixer.models.model import ModelSpec
from keras_mixer.models.model import remat_scope
from keras_mixer.weights import load_weights
from keras_mixer.weights import preprocessing_for
from keras_mixer.weights import preset_for
from keras_mixer.weights import validate_weights_argument

POOLINGS = (None, "avg", "max")
DEFAULT_SIZE = 224
# Builder arguments that are not part of what a model is (see ModelSpec).
NOT_SPEC = ("weights", "input_tensor", "name")


def spec_arguments(arguments):
    """A builder's `locals()` at entry, less `NOT_SPEC`: the arguments a `ModelSpec` keeps."""
    return {key: value for key, value in arguments.items() if key not in NOT_SPEC}


def resolve_input_shape(
    input_shape, input_tensor, patch_size, channels=None, default_size=DEFAULT_SIZE,
    unit="patch size",
):
    """Returns `(height, width, channels)`, raising a ValueError for bad values.

    `input_shape` defaults to the shape of `input_tensor`, else to
    `default_size` squared with 3 channels. Each side must be a known multiple
    of `patch_size` (named `unit` in errors); `channels`, when given, is the
    channel count the caller requires.
    """
    if input_tensor is not None:
        tensor_shape = tuple(input_tensor.shape[1:])
        if input_shape is not None and tuple(input_shape) != tensor_shape:
            raise ValueError(
                f"input_shape={tuple(input_shape)} does not match the shape "
                f"{tensor_shape} of input_tensor; pass one or make them agree."
            )
        input_shape = tensor_shape
    if input_shape is None:
        input_shape = (default_size, default_size, channels or 3)
    input_shape = tuple(input_shape)
    if len(input_shape) != 3:
        raise ValueError(
            f"input_shape={input_shape} is not supported; expected (height, "
            f"width, channels), channels last."
        )
    height, width, found_channels = input_shape
    for side, size in (("height", height), ("width", width)):
        if isinstance(size, bool) or not isinstance(size, int) or size < patch_size:
            raise ValueError(
                f"input_shape={input_shape}: image {side} {size!r} is not "
                f"supported; expected a known integer multiple of the {unit} "
                f"{patch_size}."
            )
        if size % patch_size:
            raise ValueError(
                f"input_shape={input_shape}: image {side} {size} is not a "
                f"multiple of the {unit} {patch_size}; expected e.g. "
                f"{size - size % patch_size} or {size - size % patch_size + patch_size}."
            )
    positive_int("channels (last entry of input_shape)", found_channels)
    if channels is not None and found_channels != channels:
        raise ValueError(
            f"input_shape={input_shape} has {found_channels} channels; this "
            f"model's preprocessing expects {channels} (RGB). Pass "
            f"include_preprocessing=False to use other channel counts."
        )
    return input_shape


def preprocessing_layer(preprocessing):
    """The float32 "preprocessing" layer taking 0-255 pixels as a `registry.Preprocessing` says."""
    if len(set(preprocessing.mean)) == 1 and len(set(preprocessing.std)) == 1:
        mean, std = preprocessing.mean[0], preprocessing.std[0]
        return traceable.Rescaling(1.0 / std, offset=-mean / std, dtype="float32", name="preprocessing")
    return traceable.Normalization(
        mean=list(preprocessing.mean),
        variance=[std**2 for std in preprocessing.std],
        dtype="float32",
        name="preprocessing",
    )


def resolve_preprocessing(family, arguments, weights):
    """The `registry.Preprocessing` a `family` model applies, kept in `arguments["preprocessing"]`.

    An explicit `preprocessing` argument (`{"mean": ..., "std": ...}` in 0-255
    units, or a `registry.Preprocessing`) wins; else the one the `weights`
    bring (a preset with its own, see `preprocessing_for`); else the family's
    (kept as None).
    """
    chosen = arguments["preprocessing"]
    if isinstance(chosen, registry.Preprocessing):
        chosen = chosen.get_config()
    if chosen is None:
        own = preprocessing_for(weights, family, arguments)
        chosen = None if own is None else own.get_config()
    arguments["preprocessing"] = chosen
    if chosen is None:
        return registry.family_info(family).preprocessing
    return registry.Preprocessing.from_config(chosen)


def input_layer(input_shape, input_tensor):
    if input_tensor is None:
        return keras.Input(shape=input_shape, name="images")
    if isinstance(input_tensor, keras.KerasTensor):
        return input_tensor
    return keras.Input(tensor=input_tensor, shape=input_shape, name="images")


def build_isotropic_model(
    *,
    family,
    arguments,
    block_kwargs,
    final_norm,
    preprocessing,
    stem_initializer,
    head_initializer,
    weights,
    input_tensor,
    name,
    preprocessing_channels=None,
    block=MixerBlock,
):
    """Assembles preprocessing, patch stem, `depth` blocks, norm and head.

    `block` is the block layer (`MixerBlock`, or `GMLPBlock` for gMLP), made
    with `block_kwargs`.

    `arguments` are the family builder's (see `spec_arguments`): the sizes
    `patch_size`, `embed_dim`, `depth` and the keras.applications ones.
    Every block has the same stochastic depth rate `drop_path_rate`, as the
    official ResMLP code and timm's Mixer do. Everything that can be checked
    before building (weights, pooling, classes, image size) is checked first.
    """
    depth = positive_int("depth", arguments["depth"])
    embed_dim = positive_int("embed_dim", arguments["embed_dim"])
    patch_size = positive_int("patch_size", arguments["patch_size"])
    include_preprocessing = arguments["include_preprocessing"]
    check_application_arguments(weights, family, arguments)
    probability("drop_path_rate", arguments["drop_path_rate"])
    probability("dropout_rate", arguments["dropout_rate"])
    arguments["input_shape"] = resolve_input_shape(
        arguments["input_shape"],
        input_tensor,
        patch_size,
        preprocessing_channels if include_preprocessing else None,
    )

    names = [f"block_{index}" for index in range(depth)]
    remat_layers = names if boolean("remat", arguments["remat"]) else ()
    if remat_layers and (arguments["drop_path_rate"] or arguments["dropout_rate"]):
        raise ValueError(
            f"remat=True with drop_path_rate={arguments['drop_path_rate']} and dropout_rate="
            f"{arguments['dropout_rate']} is not supported: a recomputed block would draw new "
            f"random masks, so its gradients would not be those of its forward pass; expected "
            f"both rates 0 with remat=True."
        )
    # Made (not built) before any weight exists: the blocks check block_kwargs.
    with remat_scope(remat_layers):
        blocks = [
            block(
                drop_path_rate=arguments["drop_path_rate"],
                dropout_rate=arguments["dropout_rate"],
                name=name,
                **block_kwargs,
            )
            for name in names
        ]
    inputs = input_layer(arguments["input_shape"], input_tensor)
    x = preprocessing(inputs) if include_preprocessing else inputs
    x = PatchEmbedding(
        patch_size, embed_dim, kernel_initializer=stem_initializer, name="stem"
    )(x)
    for layer in blocks:
        x = layer(x)
    x = final_norm(x)
    outputs = classification_output(
        x,
        include_top=arguments["include_top"],
        pooling=arguments["pooling"],
        classes=arguments["classes"],
        classifier_activation=arguments["classifier_activation"],
        dropout_rate=arguments["dropout_rate"],
        head_initializer=head_initializer,
    )
    return finish_model(inputs, input_tensor, outputs, name, weights, family, arguments, remat_layers)


def block_feature_layers(arguments):
    """`{"block_i": "block_i"}` for the `depth` blocks of an isotropic model: its `Family.feature_layers`."""
    return {f"block_{index}": f"block_{index}" for index in range(arguments["depth"])}


def check_application_arguments(weights, family, arguments):
    """Checks the keras.applications arguments every family shares.

    `arguments` (see `spec_arguments`) let a weights tag be checked against
    the presets of the variant they build.
    """
    boolean("include_top", arguments["include_top"])
    boolean("include_preprocessing", arguments["include_preprocessing"])
    one_of("pooling", arguments["pooling"], POOLINGS)
    if arguments["include_top"]:
        positive_int("classes", arguments["classes"])
        activation("classifier_activation", arguments["classifier_activation"])
    validate_weights_argument(weights, family, arguments)


def classification_output(
    x, *, include_top, pooling, classes, classifier_activation, dropout_rate=0.0,
    head_initializer="glorot_uniform",
):
    """Pooling and head over tokens `(batch, S, C)` or maps `(batch, H, W, C)`.

    With `include_top`: average pooling, optional dropout, the Dense `head`
    and the float32 `predictions` activation; else the float32 `features`,
    pooled by `pooling` (None keeps the tokens or maps).
    """
    spatial = len(x.shape) == 4
    average = keras.layers.GlobalAveragePooling2D if spatial else keras.layers.GlobalAveragePooling1D
    maximum = keras.layers.GlobalMaxPooling2D if spatial else keras.layers.GlobalMaxPooling1D
    if include_top:
        x = average(name="avg_pool")(x)
        if dropout_rate:
            x = keras.layers.Dropout(dropout_rate, name="head_dropout")(x)
        x = keras.layers.Dense(classes, kernel_initializer=head_initializer, name="head")(x)
        return keras.layers.Activation(classifier_activation, dtype="float32", name="predictions")(x)
    if pooling == "avg":
        x = average(name="avg_pool")(x)
    elif pooling == "max":
        x = maximum(name="max_pool")(x)
    return keras.layers.Activation("linear", dtype="float32", name="features")(x)


def finish_model(inputs, input_tensor, outputs, name, weights, family, arguments, remat_layers=()):
    """Wraps the graph in a `Model` with its spec and loads `weights` (see keras_mixer.weights).

    The spec names the registered variant whose architecture `arguments` match,
    if any, and the preset `weights` names; `remat_layers` are the layers made
    in a `remat_scope`.
    """
    source = inputs if input_tensor is None else keras.utils.get_source_inputs(inputs)
    variant = registry.find_variant(family, arguments)
    preset = preset_for(weights, family, arguments)
    spec = ModelSpec(family, variant.name if variant else None, arguments,
                     preset=preset.name if preset else None)
    model = Model(source, outputs, name=name, spec=spec, remat_layers=remat_layers)
    return load_weights(model, weights)


_VARIANT_DOC = """Instantiates the {title} model ({paper}).

{summary}

Architecture: {architecture}. Parameters at {size}x{size} with {classes} classes:
{params}.

Takes every argument of `keras_mixer.{family}` except the architecture
ones above; the keras.applications arguments are listed there.

Example:

>>> import numpy as np, keras_mixer
>>> model = keras_mixer.{function}(input_shape=({example}, {example}, 3), classes=10)
>>> model.predict(np.zeros((2, {example}, {example}, 3), "uint8"), verbose=0).shape
(2, 10)

Returns:
    A `keras.Model`.
"""


def make_variant(variant):
    """The thin named builder of a `registry.Variant`: its family's builder, architecture fixed.

    The docstring gives the parameter count and an example that builds the
    variant at 64x64 (at its own size for RepMLPNet, a multiple of 64 for /14).
    """
    family = variant.family
    architecture = dict(variant.architecture)
    function_name = variant.function or variant.name

    def builder(**kwargs):
        clashing = sorted(set(kwargs) & set(architecture))
        if clashing:
            raise TypeError(
                f"{function_name}() fixes {clashing}; use keras_mixer."
                f"{family.builder.__name__}(...) to choose them."
            )
        kwargs.setdefault("name", variant.name)
        return family.builder(**architecture, **kwargs)

    signature = inspect.signature(family.builder)
    builder.__signature__ = signature.replace(
        parameters=[
            parameter.replace(
                kind=inspect.Parameter.KEYWORD_ONLY,
                default=variant.name if parameter.name == "name" else parameter.default,
            )
            for parameter in signature.parameters.values()
            if parameter.name not in architecture
        ]
    )
    builder.__name__ = builder.__qualname__ = function_name
    builder.__module__ = family.builder.__module__
    builder.__doc__ = _VARIANT_DOC.format(
        title=variant.title or function_name,
        paper=family.paper,
        summary=family.summary,
        architecture=", ".join(f"{key}={value}" for key, value in architecture.items()),
        params=f"{variant.params:,}" + family.params_note,
        size=variant.image_size,
        classes=variant.classes,
        example=variant.example_size,
        family=family.builder.__name__,
        function=function_name,
    )
    return builder
