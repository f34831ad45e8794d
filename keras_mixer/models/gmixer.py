"""gMixer (timm's `gmixer_*`, R. Wightman): MLP-Mixer with SiLU-gated (GLU) MLPs."""

import keras

from keras_mixer import registry
from keras_mixer.models.builder import block_feature_layers
from keras_mixer.models.builder import build_isotropic_model
from keras_mixer.models.builder import preprocessing_layer
from keras_mixer.models.builder import spec_arguments

PAPER = "timm's MLP-Mixer with GLU MLPs (Wightman, pytorch-image-models), after arXiv:2105.01601"
LAYER_NORM_EPSILON = 1e-6


def GMixer(
    patch_size=16,
    embed_dim=384,
    depth=12,
    token_mixing_dim=384,
    channel_mixing_dim=1536,
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
    name="gmixer",
):
    """Instantiates a gMixer model with any hyper-parameters, as timm's `gmixer_*`.

    A Mixer block (`MixerBlock`, LayerNorm epsilon 1e-6) whose token and
    channel MLPs are gated linear units with SiLU: fc1's output is split in
    halves `(a, g)` and `a * SiLU(g)` goes to fc2, which reads half of fc1's
    width (`token_mixing_dim / 2` tokens' worth, `channel_mixing_dim / 2`
    channels). timm's `mlp_ratio=(1.0, 4.0)` is `token_mixing_dim=C`,
    `channel_mixing_dim=4C`.

    Args:
        patch_size: side of the square patches.
        embed_dim: channels C of every token.
        depth: number of blocks.
        token_mixing_dim: fc1 width of the token MLP (even; halved by the gate).
        channel_mixing_dim: fc1 width of the channel MLP (even; halved by the gate).
        include_top: whether to end with the classification head.
        weights: None (random initialisation), a preset tag (`"imagenet"` for
            gMixer-24; see docs/weights.md), or the path of a Keras
            `.weights.h5` or a timm `gmixer_*` state dict (`.safetensors`,
            `.pth`, `.bin`). At another input size the token-mixing weights
            are resampled; with other `classes` the head stays freshly
            initialised.
        input_tensor: optional Keras tensor to use as the image input.
        input_shape: `(height, width, channels)`, each side a multiple of
            `patch_size`; default `(224, 224, 3)`.
        pooling: with `include_top=False`: None returns the token table
            `(batch, S, C)`, `"avg"` / `"max"` pool it to `(batch, C)`.
        classes: number of classes of the head.
        classifier_activation: activation of the head (`"softmax"`, None, ...).
        include_preprocessing: take raw 0-255 RGB pixels (uint8 or float) and
            normalise them with the ImageNet mean and std, as timm's gMixer
            checkpoints expect; if False the model takes normalised inputs.
        drop_path_rate: stochastic depth rate of every block (the same in
            each, as in timm).
        dropout_rate: dropout inside the MLPs and before the head.
        remat: gradient checkpointing of every block (docs/training.md,
            "Memory"); only with `drop_path_rate=0` and `dropout_rate=0`.
        name: model name.

    Returns:
        A `keras.Model`.

    Example:

    >>> import numpy as np, keras_mixer
    >>> model = keras_mixer.GMixer(patch_size=4, embed_dim=32, depth=2, token_mixing_dim=32,
    ...                            channel_mixing_dim=128, input_shape=(32, 32, 3), classes=10)
    >>> model.predict(np.zeros((2, 32, 32, 3), "uint8"), verbose=0).shape
    (2, 10)
    """
    return build_isotropic_model(
        family="gmixer",
        arguments=spec_arguments(locals()),
        block_kwargs={
            "token_mixing_dim": token_mixing_dim,
            "channel_mixing_dim": channel_mixing_dim,
            "norm": "layer_norm",
            "norm_epsilon": LAYER_NORM_EPSILON,
            "glu": True,
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
        preprocessing_channels=3,
    )


FAMILY = registry.register_family(registry.Family(
    name="gmixer",
    title="gMixer",
    paper=PAPER,
    summary="MLP-Mixer whose token and channel MLPs are SiLU-gated linear units.",
    builder=GMixer,
    architecture=("patch_size", "embed_dim", "depth", "token_mixing_dim", "channel_mixing_dim"),
    preprocessing=registry.IMAGENET_MEAN_STD,  # timm's gmixer configs
    eval_transform=registry.EvalTransform(0.875, "bicubic", "timm gmixer configs"),
    recipe="deit",
    stochastic_depth="the same rate in every block (timm)",
    gelu_approximate=False,
    feature_layers=block_feature_layers,
))


def _variant(depth, params):
    return registry.register_variant(
        FAMILY, f"gmixer{depth}", f"GMixer{depth}", params,
        dict(patch_size=16, embed_dim=384, depth=depth, token_mixing_dim=384,
             channel_mixing_dim=1536),
        title=f"gMixer-{depth}", timm=f"gmixer_{depth}_224",
    )


GMixer12 = _variant(12, 12_701_080)
GMixer24 = _variant(24, 24_721_096)

# timm's own training (RandAugment "ra3" recipe), published on the Hugging Face hub.
registry.register_preset(
    "gmixer24", "imagenet",
    url="https://huggingface.co/timm/gmixer_24_224.ra3_in1k/resolve/main/model.safetensors",
    source="timm (gmixer_24_224.ra3_in1k, Hugging Face hub)", layout="gmixer_timm", classes=1000,
    training_data="ImageNet-1k", license="Apache-2.0", top1=78.03,
    top1_source="timm results-imagenet.csv",
)
