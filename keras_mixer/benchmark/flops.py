"""Analytic FLOPs per image, counted from each layer's configuration and shapes.

One FLOP is one multiply or one add, so a multiply-accumulate is 2 FLOPs.
Only the linear maps are counted (they are >99% of the work); norms, GELU,
residual adds, pooling and softmax are not:

- patch stem (a p x p, stride p Conv2D): `2 * S * p^2 * c_in * C`;
- Mixer/ResMLP block over S tokens and C channels: token mixing
  `2 * S * S * C` (ResMLP's linear map A) or `2 * 2 * S * D_S * C` (Mixer's
  MLP), plus channel mixing `2 * 2 * S * C * D_C`;
- Dense (head, global perceptron): `2 * inputs * units` per position;
- Conv2D: `2 * H_out * W_out * k_h * k_w * c_in * c_out / groups`;
- RepMLP block: its deploy FC, `2 * H * W * h * w * C` (the conv branches of
  the training form compute the same function and are not counted);
- RepMLPNet FFN: `2 * 2 * H * W * C * expansion * C`.

ResMLP-S12 at 224 x 224 is 6.02 GFLOP, Mixer-S/16 7.55, Mixer-B/16 25.2,
as in the papers (which give multiply-accumulates: 3.01, 3.78, 12.6 G).
A training step is counted as 3x the forward pass (forward, and the two
matrix products of the backward pass per linear map).
"""

import math

import keras

from keras_mixer.layers import FFNBlock
from keras_mixer.layers import MixerBlock
from keras_mixer.layers import PatchEmbedding
from keras_mixer.layers import RepMLPBlock

TRAINING_FACTOR = 3


def _positions(shape):
    """Number of vectors a per-channel map is applied to, per image."""
    return math.prod(shape[1:-1])


def mixer_block_flops(tokens, channels, channel_mixing_dim, token_mixing_dim=None):
    """Forward FLOPs of one Mixer (`token_mixing_dim` D_S) or ResMLP (None) block."""
    if token_mixing_dim is None:
        token = 2 * tokens * tokens * channels
    else:
        token = 4 * tokens * token_mixing_dim * channels
    return token + 4 * tokens * channels * channel_mixing_dim


def isotropic_flops(image_size, patch_size, embed_dim, depth, channel_mixing_dim,
                    token_mixing_dim=None, classes=1000, image_channels=3):
    """Forward FLOPs per image of a ResMLP or MLP-Mixer, from its configuration.

    Example (ResMLP-S12 and Mixer-B/16 at 224):

    >>> from keras_mixer.benchmark.flops import isotropic_flops
    >>> round(isotropic_flops(224, 16, 384, 12, 1536) / 1e9, 2)
    6.02
    >>> round(isotropic_flops(224, 16, 768, 12, 3072, token_mixing_dim=384) / 1e9, 1)
    25.2
    """
    tokens = (image_size // patch_size) ** 2
    stem = 2 * tokens * patch_size**2 * image_channels * embed_dim
    block = mixer_block_flops(tokens, embed_dim, channel_mixing_dim, token_mixing_dim)
    return stem + depth * block + 2 * embed_dim * classes


def _mixer_block(layer, input_shape):
    _, tokens, channels = input_shape
    config = layer.get_config()
    hidden = config["channel_mixing_dim"] or int(round(channels * config["mlp_ratio"]))
    return mixer_block_flops(tokens, channels, hidden, config["token_mixing_dim"])


def _conv(layer, input_shape, output_shape):
    config = layer.get_config()
    k_h, k_w = config["kernel_size"]
    groups = config.get("groups", 1)
    return 2 * _positions(output_shape) * k_h * k_w * input_shape[-1] * config["filters"] // groups


def _repmlp_block(layer, input_shape):
    h, w = layer.partition_size
    return 2 * _positions(input_shape) * h * w * input_shape[-1]


def _ffn(layer, input_shape):
    channels = input_shape[-1]
    return 4 * _positions(input_shape) * channels * channels * layer.expansion


def layer_flops(layer):
    """Forward FLOPs per image of one built layer of a functional model (0 if not counted)."""
    counted = (PatchEmbedding, MixerBlock, RepMLPBlock, FFNBlock, keras.layers.Conv2D,
               keras.layers.Dense)
    if not isinstance(layer, counted):
        return 0
    input_shape = tuple(layer.input.shape)
    if isinstance(layer, PatchEmbedding):
        output_shape = tuple(layer.output.shape)
        return 2 * output_shape[1] * layer.patch_size**2 * input_shape[-1] * output_shape[-1]
    if isinstance(layer, MixerBlock):
        return _mixer_block(layer, input_shape)
    if isinstance(layer, RepMLPBlock):
        return _repmlp_block(layer, input_shape)
    if isinstance(layer, FFNBlock):
        return _ffn(layer, input_shape)
    if isinstance(layer, keras.layers.Conv2D):
        return _conv(layer, input_shape, tuple(layer.output.shape))
    return 2 * _positions(input_shape) * input_shape[-1] * layer.units


def forward_flops(model):
    """Forward FLOPs per image of a functional model (see the module docstring).

    Example:

    >>> import keras_mixer
    >>> from keras_mixer.benchmark import forward_flops
    >>> model = keras_mixer.ResMLP(patch_size=8, embed_dim=16, depth=2,
    ...                            input_shape=(32, 32, 3), classes=10)
    >>> forward_flops(model)  # stem 98304 + 2 blocks x 73728 + head 320
    246080
    """
    if not isinstance(model, keras.Model) or not hasattr(model, "layers"):
        raise ValueError(f"forward_flops expects a built functional keras.Model, got {model!r}.")
    return sum(layer_flops(layer) for layer in model.layers)
