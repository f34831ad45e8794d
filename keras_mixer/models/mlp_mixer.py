"""MLP-Mixer (Tolstikhin et al. 2021): token-mixing and channel-mixing MLPs."""

import keras

from keras_mixer.layers import traceable
from keras_mixer.models.builder import build_isotropic_model
from keras_mixer.models.builder import make_variant
from keras_mixer.weights import gelu_approximate_for

PAPER = "Tolstikhin et al. 2021, MLP-Mixer, arXiv:2105.01601"
LAYER_NORM_EPSILON = 1e-6


def mixer_preprocessing():
    """Raw 0-255 pixels to [-1, 1], as the official checkpoints expect (float32)."""
    return traceable.Rescaling(1.0 / 127.5, offset=-1.0, dtype="float32", name="preprocessing")


def MLPMixer(
    patch_size=16,
    embed_dim=768,
    depth=12,
    token_mixing_dim=384,
    channel_mixing_dim=3072,
    gelu_approximate=None,
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
            them to [-1, 1]; if False the model takes scaled inputs.
        drop_path_rate: stochastic depth of the last block (linear from 0).
        dropout_rate: dropout inside the MLPs and before the head.
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
    if gelu_approximate is None:
        gelu_approximate = bool(
            gelu_approximate_for(weights, ("mixer", patch_size, embed_dim, depth))
        )
    return build_isotropic_model(
        family="mixer",
        patch_size=patch_size,
        embed_dim=embed_dim,
        depth=depth,
        block_kwargs={
            "token_mixing_dim": token_mixing_dim,
            "channel_mixing_dim": channel_mixing_dim,
            "norm": "layer_norm",
            "norm_epsilon": LAYER_NORM_EPSILON,
            "gelu_approximate": gelu_approximate,
            "kernel_initializer": "lecun_normal",
        },
        final_norm=keras.layers.LayerNormalization(epsilon=LAYER_NORM_EPSILON, name="norm"),
        preprocessing=mixer_preprocessing(),
        stem_initializer="lecun_normal",
        head_initializer="zeros",
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
    )


SIZES = {
    "S": {"embed_dim": 512, "depth": 8, "token_mixing_dim": 256, "channel_mixing_dim": 2048},
    "B": {"embed_dim": 768, "depth": 12, "token_mixing_dim": 384, "channel_mixing_dim": 3072},
    "L": {"embed_dim": 1024, "depth": 24, "token_mixing_dim": 512, "channel_mixing_dim": 4096},
    "H": {"embed_dim": 1280, "depth": 32, "token_mixing_dim": 640, "channel_mixing_dim": 5120},
}


def _mixer_variant(size, patch_size, params):
    return make_variant(
        MLPMixer,
        f"MLPMixer{size}{patch_size}",
        f"mixer_{size.lower()}{patch_size}",
        title=f"MLP-Mixer-{size}/{patch_size}",
        paper=PAPER,
        summary="All-MLP image classifier: token-mixing and channel-mixing MLPs.",
        params=params,
        example_size=patch_size * -(-64 // patch_size),  # 56 for /14
        patch_size=patch_size,
        **SIZES[size],
    )


MLPMixerS32 = _mixer_variant("S", 32, "19,104,624")
MLPMixerS16 = _mixer_variant("S", 16, "18,528,264")
MLPMixerB32 = _mixer_variant("B", 32, "60,293,428")
MLPMixerB16 = _mixer_variant("B", 16, "59,880,472")
MLPMixerL32 = _mixer_variant("L", 32, "206,939,264")
MLPMixerL16 = _mixer_variant("L", 16, "208,196,168")
MLPMixerH14 = _mixer_variant("H", 14, "432,350,952")
