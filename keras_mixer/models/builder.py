"""One builder for the isotropic all-MLP models, with keras.applications conventions."""

import inspect

import keras

from keras_mixer.arguments import activation
from keras_mixer.arguments import boolean
from keras_mixer.arguments import one_of
from keras_mixer.arguments import positive_int
from keras_mixer.arguments import probability
from keras_mixer.layers import MixerBlock
from keras_mixer.layers import PatchEmbedding
from keras_mixer.weights import load_weights
from keras_mixer.weights import validate_weights_argument

POOLINGS = (None, "avg", "max")
DEFAULT_SIZE = 224


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


def input_layer(input_shape, input_tensor):
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
    check_application_arguments(weights, pooling, include_top, classes, classifier_activation,
                                include_preprocessing, architecture)
    positive_int("depth", depth)
    positive_int("embed_dim", embed_dim)
    positive_int("patch_size", patch_size)
    probability("drop_path_rate", drop_path_rate)
    probability("dropout_rate", dropout_rate)
    input_shape = resolve_input_shape(
        input_shape,
        input_tensor,
        patch_size,
        preprocessing_channels if include_preprocessing else None,
    )

    # Made (not built) before any weight exists: the blocks check block_kwargs.
    blocks = [
        MixerBlock(
            drop_path_rate=drop_path_rate * index / max(depth - 1, 1),
            dropout_rate=dropout_rate,
            name=f"block_{index}",
            **block_kwargs,
        )
        for index in range(depth)
    ]
    inputs = input_layer(input_shape, input_tensor)
    x = preprocessing(inputs) if include_preprocessing else inputs
    x = PatchEmbedding(
        patch_size, embed_dim, kernel_initializer=stem_initializer, name="stem"
    )(x)
    for block in blocks:
        x = block(x)
    x = final_norm(x)
    outputs = classification_output(
        x,
        include_top=include_top,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
        dropout_rate=dropout_rate,
        head_initializer=head_initializer,
    )
    return finish_model(inputs, input_tensor, outputs, name, weights, architecture)


def check_application_arguments(weights, pooling, include_top, classes, classifier_activation,
                                include_preprocessing, architecture=None):
    """Checks the keras.applications arguments every family shares.

    `architecture` `(family, patch_size, embed_dim, depth)` lets official
    weight tags be checked; families without official tags pass None.
    """
    boolean("include_top", include_top)
    boolean("include_preprocessing", include_preprocessing)
    one_of("pooling", pooling, POOLINGS)
    if include_top:
        positive_int("classes", classes)
        activation("classifier_activation", classifier_activation)
    validate_weights_argument(weights, architecture)


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


def finish_model(inputs, input_tensor, outputs, name, weights, architecture=None):
    """Wraps the graph in a `keras.Model` and loads `weights` (see keras_mixer.weights)."""
    source = inputs if input_tensor is None else keras.utils.get_source_inputs(inputs)
    model = keras.Model(source, outputs, name=name)
    return load_weights(model, weights, architecture)


_VARIANT_DOC = """Instantiates the {title} model ({paper}).

{summary}

Architecture: {architecture}. Parameters at {size}x{size} with 1000 classes:
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


def make_variant(
    family, function_name, model_name, *, title, paper, summary, params, image_size=224,
    example_size=64, **architecture,
):
    """Returns a thin named variant of a family builder with fixed architecture.

    `params` is the parameter count at `image_size`; the docstring's example
    builds the variant at `example_size`.
    """

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
        size=image_size,
        example=example_size,
        family=family.__name__,
        function=function_name,
    )
    return variant
