"""One builder for the isotropic all-MLP models, with keras.applications conventions."""

import inspect

import keras

from keras_mixer.layers import MixerBlock
from keras_mixer.layers import PatchEmbedding
from keras_mixer.weights import load_weights
from keras_mixer.weights import validate_weights_argument

POOLINGS = (None, "avg", "max")
DEFAULT_SIZE = 224


def _check_positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name}={value!r} is not supported; expected a positive integer.")


def resolve_input_shape(input_shape, input_tensor, patch_size, channels=None):
    """Returns `(height, width, channels)`, raising a ValueError for bad values.

    `input_shape` defaults to the shape of `input_tensor`, else to 224x224x3.
    Each side must be a known multiple of `patch_size`; `channels`, when
    given, is the channel count the caller requires.
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
        input_shape = (DEFAULT_SIZE, DEFAULT_SIZE, channels or 3)
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
                f"supported; expected a known integer multiple of the patch size "
                f"{patch_size}."
            )
        if size % patch_size:
            raise ValueError(
                f"input_shape={input_shape}: image {side} {size} is not a "
                f"multiple of the patch size {patch_size}; expected e.g. "
                f"{size - size % patch_size} or {size - size % patch_size + patch_size}."
            )
    _check_positive_int("channels (last entry of input_shape)", found_channels)
    if channels is not None and found_channels != channels:
        raise ValueError(
            f"input_shape={input_shape} has {found_channels} channels; this "
            f"model's preprocessing expects {channels} (RGB). Pass "
            f"include_preprocessing=False to use other channel counts."
        )
    return input_shape


def _input_layer(input_shape, input_tensor):
    if input_tensor is None:
        return keras.Input(shape=input_shape, name="images")
    if isinstance(input_tensor, keras.KerasTensor):
        return input_tensor
    return keras.Input(tensor=input_tensor, shape=input_shape, name="images")


def build_isotropic_model(
    *,
    family,
    patch_size,
    embed_dim,
    depth,
    block_kwargs,
    final_norm,
    preprocessing,
    stem_initializer,
    head_initializer,
    include_top,
    weights,
    input_tensor,
    input_shape,
    pooling,
    classes,
    classifier_activation,
    include_preprocessing,
    drop_path_rate,
    dropout_rate,
    name,
    preprocessing_channels=None,
):
    """Assembles preprocessing, patch stem, `depth` MixerBlocks, norm and head.

    Stochastic depth grows linearly from 0 in the first block to
    `drop_path_rate` in the last. Everything that can be checked before
    building (weights path, pooling, classes, image size) is checked first.
    `family` ("resmlp" or "mixer") with the sizes identifies official weights.
    """
    architecture = (family, patch_size, embed_dim, depth)
    validate_weights_argument(weights, architecture)
    if pooling not in POOLINGS:
        raise ValueError(f"pooling={pooling!r} is not supported; expected one of {POOLINGS}.")
    if include_top:
        _check_positive_int("classes", classes)
    _check_positive_int("depth", depth)
    _check_positive_int("embed_dim", embed_dim)
    _check_positive_int("patch_size", patch_size)
    for rate_name, rate in (("drop_path_rate", drop_path_rate), ("dropout_rate", dropout_rate)):
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"{rate_name}={rate!r} is not supported; expected 0 <= rate < 1.")
    input_shape = resolve_input_shape(
        input_shape,
        input_tensor,
        patch_size,
        preprocessing_channels if include_preprocessing else None,
    )

    inputs = _input_layer(input_shape, input_tensor)
    x = preprocessing(inputs) if include_preprocessing else inputs
    x = PatchEmbedding(
        patch_size, embed_dim, kernel_initializer=stem_initializer, name="stem"
    )(x)
    for index in range(depth):
        rate = drop_path_rate * index / max(depth - 1, 1)
        x = MixerBlock(
            drop_path_rate=rate,
            dropout_rate=dropout_rate,
            name=f"block_{index}",
            **block_kwargs,
        )(x)
    x = final_norm(x)
    if include_top:
        x = keras.layers.GlobalAveragePooling1D(name="avg_pool")(x)
        if dropout_rate:
            x = keras.layers.Dropout(dropout_rate, name="head_dropout")(x)
        x = keras.layers.Dense(classes, kernel_initializer=head_initializer, name="head")(x)
        outputs = keras.layers.Activation(
            classifier_activation, dtype="float32", name="predictions"
        )(x)
    else:
        if pooling == "avg":
            x = keras.layers.GlobalAveragePooling1D(name="avg_pool")(x)
        elif pooling == "max":
            x = keras.layers.GlobalMaxPooling1D(name="max_pool")(x)
        outputs = keras.layers.Activation("linear", dtype="float32", name="features")(x)

    source = inputs if input_tensor is None else keras.utils.get_source_inputs(inputs)
    model = keras.Model(source, outputs, name=name)
    return load_weights(model, weights, architecture)


_VARIANT_DOC = """Instantiates the {title} model ({paper}).

{summary}

Architecture: {architecture}. Parameters at 224x224 with 1000 classes:
{params}.

Takes every argument of `keras_mixer.{family}` except the architecture
ones above; the keras.applications arguments are listed there.

Example:

>>> import numpy as np, keras_mixer
>>> model = keras_mixer.{function}(input_shape=(64, 64, 3), classes=10)
>>> model.predict(np.zeros((2, 64, 64, 3), "uint8"), verbose=0).shape
(2, 10)

Returns:
    A `keras.Model`.
"""


def make_variant(family, function_name, model_name, *, title, paper, summary, params, **architecture):
    """Returns a thin named variant of a family builder with fixed architecture."""

    def variant(**kwargs):
        clashing = sorted(set(kwargs) & set(architecture))
        if clashing:
            raise TypeError(
                f"{function_name}() fixes {clashing}; use keras_mixer."
                f"{family.__name__}(...) to choose them."
            )
        kwargs.setdefault("name", model_name)
        return family(**architecture, **kwargs)

    signature = inspect.signature(family)
    variant.__signature__ = signature.replace(
        parameters=[
            parameter.replace(
                kind=inspect.Parameter.KEYWORD_ONLY,
                default=model_name if parameter.name == "name" else parameter.default,
            )
            for parameter in signature.parameters.values()
            if parameter.name not in architecture
        ]
    )
    variant.__name__ = variant.__qualname__ = function_name
    variant.__module__ = family.__module__
    variant.__doc__ = _VARIANT_DOC.format(
        title=title,
        paper=paper,
        summary=summary,
        architecture=", ".join(f"{key}={value}" for key, value in architecture.items()),
        params=params,
        family=family.__name__,
        function=function_name,
    )
    return variant
