"""ResMLP (Touvron et al. 2021): residual MLPs with Affine maps instead of norms."""

import keras

from keras_mixer import registry
from keras_mixer.arguments import positive_int
from keras_mixer.layers import Affine
from keras_mixer.models.builder import block_feature_layers
from keras_mixer.models.builder import build_isotropic_model
from keras_mixer.models.builder import preprocessing_layer
from keras_mixer.models.builder import spec_arguments

PAPER = "Touvron et al. 2021, ResMLP, arXiv:2105.03404"


def default_layer_scale(depth):
    """The layer-scale initial value used for a given depth (CaiT's rule)."""
    if depth <= 18:
        return 0.1
    if depth <= 24:
        return 1e-5
    return 1e-6


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
    remat=False,
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
        drop_path_rate: stochastic depth rate of every block (the same in
            each, as in the official code).
        dropout_rate: dropout inside the MLPs and before the head.
        remat: recompute each block in the backward pass instead of keeping
            its activations (docs/training.md, "Memory"); needs both rates 0.
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
    arguments = spec_arguments(locals())
    depth = positive_int("depth", depth)  # before choosing the layer scale from it
    if layer_scale_init is None:
        arguments["layer_scale_init"] = default_layer_scale(depth)
    linear_init = keras.initializers.TruncatedNormal(stddev=0.02)
    return build_isotropic_model(
        family="resmlp",
        arguments=arguments,
        block_kwargs={
            "token_mixing_dim": None,
            "mlp_ratio": mlp_ratio,
            "norm": "affine",
            "layer_scale_init": arguments["layer_scale_init"],
            "gelu_approximate": FAMILY.gelu_approximate,
            "kernel_initializer": linear_init,
        },
        final_norm=Affine(name="norm"),
        preprocessing=preprocessing_layer(FAMILY.preprocessing),
        stem_initializer=keras.initializers.VarianceScaling(1 / 3, "fan_in", "uniform"),
        head_initializer=linear_init,
        weights=weights,
        input_tensor=input_tensor,
        name=name,
        preprocessing_channels=3,
    )


FAMILY = registry.register_family(registry.Family(
    name="resmlp",
    title="ResMLP",
    paper=PAPER,
    summary="All-MLP image classifier with Affine maps in place of normalisation.",
    builder=ResMLP,
    architecture=("patch_size", "embed_dim", "depth", "mlp_ratio", "layer_scale_init"),
    preprocessing=registry.IMAGENET_MEAN_STD,
    # facebookresearch/deit#113 and timm's resmlp configs: crop 0.9, bicubic.
    eval_transform=registry.EvalTransform(0.9, "bicubic", "deit#113, timm resmlp configs"),
    recipe="deit",
    stochastic_depth="the same rate in every block (deit's resmlp_models.py)",
    gelu_approximate=False,
    feature_layers=block_feature_layers,
))


def _variant(name, function, params, timm, **architecture):
    return registry.register_variant(FAMILY, name, function, params, architecture, timm=timm)


ResMLP12 = _variant("resmlp12", "ResMLP12", 15_350_872, "resmlp_12_224",
                    patch_size=16, embed_dim=384, depth=12, layer_scale_init=0.1)
ResMLP24 = _variant("resmlp24", "ResMLP24", 30_020_680, "resmlp_24_224",
                    patch_size=16, embed_dim=384, depth=24, layer_scale_init=1e-5)
ResMLP36 = _variant("resmlp36", "ResMLP36", 44_690_488, "resmlp_36_224",
                    patch_size=16, embed_dim=384, depth=36, layer_scale_init=1e-6)
ResMLPB24 = _variant("resmlpb24", "ResMLPB24", 129_138_280, "resmlp_big_24_224",
                     patch_size=8, embed_dim=768, depth=24, layer_scale_init=1e-6)
# The small ResMLP the CLI, the demo and the tutorials train on scikit-learn's 8x8 digits.
registry.register_variant(
    FAMILY, "resmlp_digits", None, 534_218, dict(patch_size=2, embed_dim=128, depth=4,
                                                 layer_scale_init=0.1),
    image_size=8, classes=10, recipe="digits", example_size=8,
)

DEIT = "https://dl.fbaipublicfiles.com/deit/"
TIMM_CARD = "timm model card (same file)"
DEIT_README = "deit README_resmlp.md"


def _preset(variant, tag, filename, top1, top1_source, training_data):
    registry.register_preset(
        variant, tag, url=DEIT + filename, source="facebookresearch/deit (official)",
        layout="resmlp_deit", classes=1000, training_data=training_data, license="Apache-2.0",
        top1=top1, top1_source=top1_source,
    )


_preset("resmlp12", "imagenet", "resmlp_12_no_dist.pth", 76.66, TIMM_CARD, "ImageNet-1k")
_preset("resmlp24", "imagenet", "resmlp_24_no_dist.pth", 79.38, TIMM_CARD, "ImageNet-1k")
_preset("resmlp36", "imagenet", "resmlp_36_no_dist.pth", 79.77, TIMM_CARD, "ImageNet-1k")
_preset("resmlpb24", "imagenet", "resmlpB_24_no_dist.pth", 81.03, TIMM_CARD, "ImageNet-1k")
_DISTILLED = "ImageNet-1k, distilled from a RegNetY-16GF"
_preset("resmlp12", "imagenet_distilled", "resmlp_12_dist.pth", 77.8, DEIT_README, _DISTILLED)
_preset("resmlp24", "imagenet_distilled", "resmlp_24_dist.pth", 80.8, DEIT_README, _DISTILLED)
_preset("resmlp36", "imagenet_distilled", "resmlp_36_dist.pth", 81.1, DEIT_README, _DISTILLED)
_preset("resmlpb24", "imagenet_distilled", "resmlpB_24_dist.pth", 83.6, DEIT_README, _DISTILLED)
_preset("resmlpb24", "imagenet22k", "resmlpB_24_22k.pth", 84.4, DEIT_README,
        "ImageNet-22k, fine-tuned on ImageNet-1k")
# Self-supervised (DINO) backbones: deit's files carry a 1,000-class head that was never
# trained on labels; it is not kept (see registry.Preset.backbone).
for _depth, _knn in ((12, 62.6), (24, 69.4)):
    registry.register_preset(
        f"resmlp{_depth}", "dino", url=f"{DEIT}resmlp_{_depth}_dino.pth",
        source="facebookresearch/deit (official)", layout="resmlp_deit", classes=1000,
        training_data="ImageNet-1k images without labels (DINO, self-supervised)",
        license="Apache-2.0", top1_source=f"backbone; k-NN top-1 {_knn} ({DEIT_README})",
        backbone=True,
    )
