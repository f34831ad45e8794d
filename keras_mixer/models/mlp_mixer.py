"""MLP-Mixer (Tolstikhin et al. 2021): token-mixing and channel-mixing MLPs."""

import keras

from keras_mixer import registry
from keras_mixer.models.builder import block_feature_layers
from keras_mixer.models.builder import build_isotropic_model
from keras_mixer.models.builder import preprocessing_layer
from keras_mixer.models.builder import resolve_preprocessing
from keras_mixer.models.builder import spec_arguments
from keras_mixer.weights import gelu_approximate_for

PAPER = "Tolstikhin et al. 2021, MLP-Mixer, arXiv:2105.01601"
LAYER_NORM_EPSILON = 1e-6


def MLPMixer(
    patch_size=16,
    embed_dim=768,
    depth=12,
    token_mixing_dim=384,
    channel_mixing_dim=3072,
    gelu_approximate=None,
    preprocessing=None,
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
    name="mlp_mixer",
):
    """Instantiates an MLP-Mixer model with any hyper-parameters.

    Each block is `U = X + MLP_tokens(LayerNorm(X)^T)^T` then
    `Y = U + MLP_channels(LayerNorm(U))`, LayerNorm epsilon 1e-6, no position
    embedding; the head kernel starts at zero and other kernels use LeCun
    normal initialisation, as in the official Flax code.

    Args:
        patch_size: side of the square patches.
        embed_dim: channels C of every token.
        depth: number of blocks.
        token_mixing_dim: hidden width D_S of the token-mixing MLP.
        channel_mixing_dim: hidden width D_C of the channel-mixing MLP.
        gelu_approximate: True for tanh-approximated GELU, as the official
            checkpoints were trained; False for exact GELU, as timm uses; None
            (default) takes the form of the `weights` checkpoint (tanh for the
            official `.npz` files and tags, exact otherwise).
        preprocessing: None (default) for the family's [-1, 1] scaling, or
            the preset's own when `weights` names one that has it (MIIL's
            Mixer-B/16: `x / 255`); or `{"mean": [...], "std": [...]}` in
            0-255 pixel units (see `include_preprocessing`).
        include_top: whether to end with the classification head.
        weights: None (random initialisation), an official tag
            (`"imagenet"`, `"imagenet21k"` for B/16 and L/16; see
            docs/weights.md), or the path of a Keras `.weights.h5`, an
            official Flax `.npz` or a timm `mixer_*` state dict
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
        include_preprocessing: take raw 0-255 pixels (uint8 or float) and scale
            them to [-1, 1] (or as `preprocessing` says); if False the model
            takes scaled inputs.
        drop_path_rate: stochastic depth rate of every block (the official
            code has none; timm uses the same rate in every block).
        dropout_rate: dropout inside the MLPs and before the head.
        remat: gradient checkpointing: each block's activations are
            recomputed in the backward pass instead of kept (docs/training.md,
            "Memory"); needs `drop_path_rate=0` and `dropout_rate=0`.
        name: model name.

    Returns:
        A `keras.Model`.

    Example:

    >>> import numpy as np, keras_mixer
    >>> model = keras_mixer.MLPMixer(patch_size=4, embed_dim=64, depth=2,
    ...                              token_mixing_dim=32, channel_mixing_dim=128,
    ...                              input_shape=(32, 32, 3), classes=10)
    >>> model.predict(np.zeros((2, 32, 32, 3), "uint8"), verbose=0).shape
    (2, 10)
    """
    arguments = spec_arguments(locals())
    if gelu_approximate is None:
        arguments["gelu_approximate"] = bool(gelu_approximate_for(weights, "mixer", arguments))
    return build_isotropic_model(
        family="mixer",
        arguments=arguments,
        block_kwargs={
            "token_mixing_dim": token_mixing_dim,
            "channel_mixing_dim": channel_mixing_dim,
            "norm": "layer_norm",
            "norm_epsilon": LAYER_NORM_EPSILON,
            "gelu_approximate": arguments["gelu_approximate"],
            "kernel_initializer": "lecun_normal",
        },
        final_norm=keras.layers.LayerNormalization(epsilon=LAYER_NORM_EPSILON, name="norm"),
        preprocessing=preprocessing_layer(resolve_preprocessing("mixer", arguments, weights)),
        stem_initializer="lecun_normal",
        head_initializer="zeros",
        weights=weights,
        input_tensor=input_tensor,
        name=name,
    )


FAMILY = registry.register_family(registry.Family(
    name="mixer",
    title="MLP-Mixer",
    paper=PAPER,
    summary="All-MLP image classifier: token-mixing and channel-mixing MLPs.",
    builder=MLPMixer,
    architecture=("patch_size", "embed_dim", "depth", "token_mixing_dim", "channel_mixing_dim"),
    # 0-255 to [-1, 1], as the official Flax input pipeline.
    preprocessing=registry.Preprocessing(mean=(127.5,) * 3, std=(127.5,) * 3),
    # As timm evaluates the official checkpoints (crop_pct 0.875, bicubic).
    eval_transform=registry.EvalTransform(0.875, "bicubic", "timm mixer configs"),
    recipe="mixer",
    stochastic_depth="none in the official Flax code; timm: the same rate in every block",
    gelu_approximate=None,
    feature_layers=block_feature_layers,
))

SIZES = {
    "S": {"embed_dim": 512, "depth": 8, "token_mixing_dim": 256, "channel_mixing_dim": 2048},
    "B": {"embed_dim": 768, "depth": 12, "token_mixing_dim": 384, "channel_mixing_dim": 3072},
    "L": {"embed_dim": 1024, "depth": 24, "token_mixing_dim": 512, "channel_mixing_dim": 4096},
    "H": {"embed_dim": 1280, "depth": 32, "token_mixing_dim": 640, "channel_mixing_dim": 5120},
}


def _variant(size, patch_size, params, timm=True):
    name = f"mixer_{size.lower()}{patch_size}"
    return registry.register_variant(
        FAMILY, name, f"MLPMixer{size}{patch_size}", params,
        dict(patch_size=patch_size, **SIZES[size]),
        title=f"MLP-Mixer-{size}/{patch_size}",
        timm=f"{name}_224" if timm else None,
        example_size=patch_size * -(-64 // patch_size),  # 70 for /14
    )


MLPMixerS32 = _variant("S", 32, 19_104_624)
MLPMixerS16 = _variant("S", 16, 18_528_264)
MLPMixerB32 = _variant("B", 32, 60_293_428)
MLPMixerB16 = _variant("B", 16, 59_880_472)
MLPMixerL32 = _variant("L", 32, 206_939_264)
MLPMixerL16 = _variant("L", 16, 208_196_168)
MLPMixerH14 = _variant("H", 14, 432_350_952, timm=False)

MIXER = "https://storage.googleapis.com/mixer_models/"
PAPER_1K = "MLP-Mixer paper, ImageNet-1k pre-training"


def _preset(variant, tag, path, classes, top1, top1_source, training_data):
    registry.register_preset(
        variant, tag, url=MIXER + path,
        source="google-research/vision_transformer (official)", layout="mixer_flax",
        classes=classes, training_data=training_data, license="Apache-2.0", top1=top1,
        top1_source=top1_source, arguments={"gelu_approximate": True},
    )


# The "imagenet1k" files are trained on ImageNet-1k only (the paper's 1k rows);
# the 21k -> 1k fine-tunes of the paper were never published.
_preset("mixer_b16", "imagenet", "imagenet1k/Mixer-B_16.npz", 1000, 76.44, PAPER_1K, "ImageNet-1k")
_preset("mixer_l16", "imagenet", "imagenet1k/Mixer-L_16.npz", 1000, 71.76, PAPER_1K, "ImageNet-1k")
_preset("mixer_b16", "imagenet21k", "imagenet21k/Mixer-B_16.npz", 21843, None,
        "21,843-class head, no ImageNet-1k top-1", "ImageNet-21k")
_preset("mixer_l16", "imagenet21k", "imagenet21k/Mixer-L_16.npz", 21843, None,
        "21,843-class head, no ImageNet-1k top-1", "ImageNet-21k")
# Trained from scratch on ImageNet-1k with the SAM optimizer (Chen et al. 2021,
# arXiv:2106.01548), in the same Flax layout; no top-1 is published with the files.
for _variant_name, _file in (("mixer_b16", "Mixer-B_16.npz"), ("mixer_b32", "Mixer-B_32.npz")):
    _preset(_variant_name, "sam", f"sam/{_file}", 1000, None,
            "not published with the file (SAM paper, arXiv:2106.01548)",
            "ImageNet-1k (SAM optimizer, Inception-style preprocessing)")

# Alibaba-MIIL's ImageNet-21K-P pre-training (arXiv:2104.10972), in timm's layout and
# exact GELU; its inputs are 0-255 pixels / 255 (timm cfg mean 0, std 1).
MIIL = "https://huggingface.co/timm/mixer_b16_224.{}/resolve/main/model.safetensors"
for _tag, _classes, _top1, _top1_source, _data in (
    ("miil_in21k", 11221, None, "11,221-class head, no ImageNet-1k top-1",
     "ImageNet-21K-P (winter 2021, 11,221 classes)"),
    ("miil_in21k_ft_in1k", 1000, 82.31, "timm results-imagenet.csv",
     "ImageNet-21K-P, fine-tuned on ImageNet-1k"),
):
    registry.register_preset(
        "mixer_b16", _tag, url=MIIL.format(_tag),
        source=f"Alibaba-MIIL via timm (mixer_b16_224.{_tag}, Hugging Face hub)",
        layout="mixer_timm", classes=_classes, training_data=_data, license="Apache-2.0",
        top1=_top1, top1_source=_top1_source, arguments={"gelu_approximate": False},
        preprocessing=registry.Preprocessing(mean=(0.0,) * 3, std=(255.0,) * 3),
        # timm's mixer_b16_224.miil cfgs: bilinear, crop_pct 0.875.
        eval_transform=registry.EvalTransform(0.875, "bilinear", "timm mixer_b16_224.miil configs"),
    )
