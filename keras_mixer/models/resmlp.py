"""ResMLP (Touvron et al. 2021): residual MLPs with Affine maps instead of norms."""

import keras

from keras_mixer.arguments import positive_int
from keras_mixer.layers import Affine
from keras_mixer.layers import traceable
from keras_mixer.models.builder import build_isotropic_model
from keras_mixer.models.builder import make_variant

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
PAPER = "Touvron et al. 2021, ResMLP, arXiv:2105.03404"


def default_layer_scale(depth):
    """The layer-scale initial value used for a given depth (CaiT's rule)."""
    if depth <= 18:
        return 0.1
    if depth <= 24:
        return 1e-5
    return 1e-6


def resmlp_preprocessing():
    """Raw 0-255 RGB pixels to ImageNet mean/std normalised values (float32)."""
    return traceable.Normalization(
        mean=[255.0 * m for m in IMAGENET_MEAN],
        variance=[(255.0 * s) ** 2 for s in IMAGENET_STD],
        dtype="float32",
        name="preprocessing",
    )


def ResMLP(
    patch_size=16,
    embed_dim=384,
    depth=12,
    mlp_ratio=4.0,
    layer_scale_init=None,
    include_top=True,
    weights=None,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    include_preprocessing=True,
    drop_path_rate=0.0,
    dropout_rate=0.0,
    name="resmlp",
):
    """Instantiates a ResMLP model with any hyper-parameters.

    Each block is `Z = X + g1 * A(Aff(X))` over tokens, then
    `Y = Z + g2 * MLP(Aff(Z))` over channels, with `Aff` a per-channel affine
    map (no normalisation statistics), `A` one S x S linear map and
    `g1`, `g2` per-channel layer scales. Linear layers are initialised with a
    truncated normal (std 0.02) and zero bias, as in the official code.

    Args:
        patch_size: side of the square patches (16, or 8 for B24).
        embed_dim: channels C of every token.
        depth: number of blocks.
        mlp_ratio: hidden width of the channel MLP relative to C.
        layer_scale_init: initial gamma; None picks it from the depth
            (0.1 up to 18 blocks, 1e-5 up to 24, 1e-6 beyond).
        include_top: whether to end with the classification head.
        weights: None (random initialisation), an official tag
            (`"imagenet"`, `"imagenet_distilled"`, `"imagenet22k"` for B24;
            see docs/weights.md), or the path of a Keras `.weights.h5`, an
            official deit `.pth` or a timm `resmlp_*` state dict
            (`.safetensors`, `.pth`, `.bin`). At another input size the
            token-mixing weights are resampled; with other `classes` the head
            stays freshly initialised.
        input_tensor: optional Keras tensor to use as the image input.
        input_shape: `(height, width, channels)`, each side a multiple of
            `patch_size`; default `(224, 224, 3)`.
        pooling: with `include_top=False`: None returns the token table
            `(batch, S, C)`, `"avg"` / `"max"` pool it to `(batch, C)`.
        classes: number of classes of the head.
        classifier_activation: activation of the head (`"softmax"`, None, ...).
        include_preprocessing: take raw 0-255 RGB pixels (uint8 or float) and
            normalise them with the ImageNet mean and std, as the checkpoints
            expect; if False the model takes normalised inputs.
        drop_path_rate: stochastic depth of the last block (linear from 0).
        dropout_rate: dropout inside the MLPs and before the head.
        name: model name.

    Returns:
        A `keras.Model`.

    Example:

    >>> import numpy as np, keras_mixer
    >>> model = keras_mixer.ResMLP(patch_size=4, embed_dim=64, depth=2,
    ...                            input_shape=(32, 32, 3), classes=10)
    >>> model.predict(np.zeros((2, 32, 32, 3), "uint8"), verbose=0).shape
    (2, 10)
    """
    linear_init = keras.initializers.TruncatedNormal(stddev=0.02)
    positive_int("depth", depth)  # before choosing the layer scale from it
    return build_isotropic_model(
        family="resmlp",
        patch_size=patch_size,
        embed_dim=embed_dim,
        depth=depth,
        block_kwargs={
            "token_mixing_dim": None,
            "mlp_ratio": mlp_ratio,
            "norm": "affine",
            "layer_scale_init": (
                default_layer_scale(depth) if layer_scale_init is None else layer_scale_init
            ),
            "gelu_approximate": False,
            "kernel_initializer": linear_init,
        },
        final_norm=Affine(name="norm"),
        preprocessing=resmlp_preprocessing(),
        stem_initializer=keras.initializers.VarianceScaling(1 / 3, "fan_in", "uniform"),
        head_initializer=linear_init,
        include_top=include_top,
        weights=weights,
        input_tensor=input_tensor,
        input_shape=input_shape,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
        include_preprocessing=include_preprocessing,
        drop_path_rate=drop_path_rate,
        dropout_rate=dropout_rate,
        name=name,
        preprocessing_channels=3,
    )


def _resmlp_variant(function_name, model_name, params, **architecture):
    return make_variant(
        ResMLP,
        function_name,
        model_name,
        title=function_name,
        paper=PAPER,
        summary="All-MLP image classifier with Affine maps in place of normalisation.",
        params=params,
        **architecture,
    )


ResMLP12 = _resmlp_variant(
    "ResMLP12", "resmlp12", "15,350,872", patch_size=16, embed_dim=384, depth=12,
    layer_scale_init=0.1,
)
ResMLP24 = _resmlp_variant(
    "ResMLP24", "resmlp24", "30,020,680", patch_size=16, embed_dim=384, depth=24,
    layer_scale_init=1e-5,
)
ResMLP36 = _resmlp_variant(
    "ResMLP36", "resmlp36", "44,690,488", patch_size=16, embed_dim=384, depth=36,
    layer_scale_init=1e-6,
)
ResMLPB24 = _resmlp_variant(
    "ResMLPB24", "resmlpb24", "129,138,280", patch_size=8, embed_dim=768, depth=24,
    layer_scale_init=1e-6,
)
