"""gMLP (Liu et al. 2021, "Pay Attention to MLPs"): MLP blocks gated by a map over tokens."""

import keras

from keras_mixer import registry
from keras_mixer.layers import GMLPBlock
from keras_mixer.models.builder import block_feature_layers
from keras_mixer.models.builder import build_isotropic_model
from keras_mixer.models.builder import preprocessing_layer
from keras_mixer.models.builder import spec_arguments

PAPER = "Liu et al. 2021, Pay Attention to MLPs, arXiv:2105.08050"
LAYER_NORM_EPSILON = 1e-6


def GMLP(
    patch_size=16,
    embed_dim=256,
    depth=30,
    mlp_ratio=6.0,
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
    remat=False,
    name="gmlp",
):
    """Instantiates a gMLP model with any hyper-parameters, as timm's `gmlp_*`.

    Each block is `Y = X + fc2(SGU(GELU(fc1(LayerNorm(X)))))` (`GMLPBlock`):
    fc1 widens C to `mlp_ratio * C`, the Spatial Gating Unit splits that in
    halves `Z1, Z2` and returns `Z1 * (W . LayerNorm(Z2) + b)` with W an S x S
    map over tokens (kernel ~ N(0, 1e-6), bias 1 at initialisation), and fc2
    maps the half back to C. LayerNorm epsilon 1e-6 in the blocks, 1e-5 in
    the gate, exact GELU; then LayerNorm, mean over tokens and the head (zero
    kernel at initialisation), as in timm.

    Args:
        patch_size: side of the square patches.
        embed_dim: channels C of every token.
        depth: number of blocks.
        mlp_ratio: hidden width of fc1 relative to C (before the gate halves it).
        include_top: whether to end with the classification head.
        weights: None (random initialisation), a preset tag (`"imagenet"` for
            gMLP-S/16; see docs/weights.md), or the path of a Keras
            `.weights.h5` or a timm `gmlp_*` state dict (`.safetensors`,
            `.pth`, `.bin`). At another input size the gates' token maps are
            resampled; with other `classes` the head stays freshly initialised.
        input_tensor: optional Keras tensor to use as the image input.
        input_shape: `(height, width, channels)`, each side a multiple of
            `patch_size`; default `(224, 224, 3)`.
        pooling: with `include_top=False`: None returns the token table
            `(batch, S, C)`, `"avg"` / `"max"` pool it to `(batch, C)`.
        classes: number of classes of the head.
        classifier_activation: activation of the head (`"softmax"`, None, ...).
        include_preprocessing: take raw 0-255 pixels (uint8 or float) and scale
            them to [-1, 1] (timm's mean and std 0.5 for gMLP); if False the
            model takes scaled inputs.
        drop_path_rate: stochastic depth rate of every block (the same in
            each, as in timm).
        dropout_rate: dropout inside the MLPs and before the head.
        remat: recompute each gMLP block in the backward pass instead of
            keeping its activations (docs/training.md, "Memory"); needs
            `drop_path_rate=0` and `dropout_rate=0`.
        name: model name.

    Returns:
        A `keras.Model`.

    Example:

    >>> import numpy as np, keras_mixer
    >>> model = keras_mixer.GMLP(patch_size=4, embed_dim=32, depth=2,
    ...                          input_shape=(32, 32, 3), classes=10)
    >>> model.predict(np.zeros((2, 32, 32, 3), "uint8"), verbose=0).shape
    (2, 10)
    """
    return build_isotropic_model(
        family="gmlp",
        arguments=spec_arguments(locals()),
        block=GMLPBlock,
        block_kwargs={
            "mlp_ratio": mlp_ratio,
            "norm_epsilon": LAYER_NORM_EPSILON,
            "kernel_initializer": "glorot_uniform",
            "bias_initializer": keras.initializers.RandomNormal(stddev=1e-6),
        },
        final_norm=keras.layers.LayerNormalization(epsilon=LAYER_NORM_EPSILON, name="norm"),
        preprocessing=preprocessing_layer(FAMILY.preprocessing),
        stem_initializer="lecun_normal",
        head_initializer="zeros",
        weights=weights,
        input_tensor=input_tensor,
        name=name,
    )


FAMILY = registry.register_family(registry.Family(
    name="gmlp",
    title="gMLP",
    paper=PAPER,
    summary="All-MLP image classifier whose MLPs are gated by a linear map over tokens.",
    builder=GMLP,
    architecture=("patch_size", "embed_dim", "depth", "mlp_ratio"),
    # timm's gmlp configs: mean and std 0.5, i.e. 0-255 to [-1, 1].
    preprocessing=registry.Preprocessing(mean=(127.5,) * 3, std=(127.5,) * 3),
    eval_transform=registry.EvalTransform(0.875, "bicubic", "timm gmlp configs"),
    recipe="deit",
    stochastic_depth="the same rate in every block (timm)",
    gelu_approximate=False,
    feature_layers=block_feature_layers,
))


def _variant(size, embed_dim, params, timm):
    return registry.register_variant(
        FAMILY, f"gmlp_{size.lower()}16", f"GMLP{size}16", params,
        dict(patch_size=16, embed_dim=embed_dim, depth=30, mlp_ratio=6.0),
        title=f"gMLP-{size}/16", timm=timm,
    )


GMLPTi16 = _variant("Ti", 128, 5_867_328, "gmlp_ti16_224")
GMLPS16 = _variant("S", 256, 19_422_656, "gmlp_s16_224")
GMLPB16 = _variant("B", 512, 73_075_392, "gmlp_b16_224")

# timm's own training (RandAugment "ra3" recipe), published on the Hugging Face hub.
registry.register_preset(
    "gmlp_s16", "imagenet",
    url="https://huggingface.co/timm/gmlp_s16_224.ra3_in1k/resolve/main/model.safetensors",
    source="timm (gmlp_s16_224.ra3_in1k, Hugging Face hub)", layout="gmlp_timm", classes=1000,
    training_data="ImageNet-1k", license="Apache-2.0", top1=79.64,
    top1_source="timm results-imagenet.csv",
)
