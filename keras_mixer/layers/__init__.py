"""Keras layers of the all-MLP vision models, written with `keras.ops` only."""

from keras_mixer.layers.affine import Affine
from keras_mixer.layers.channel_mixing import ChannelMixing
from keras_mixer.layers.drop_path import DropPath
from keras_mixer.layers.fused_mixer_block import FusedMixerBlock
from keras_mixer.layers.gmlp_block import GMLPBlock
from keras_mixer.layers.mixer_block import MixerBlock
from keras_mixer.layers.patch_embedding import PatchEmbedding
from keras_mixer.layers.repmlp_block import RepMLPBlock
from keras_mixer.layers.repmlp_ffn import FFNBlock
from keras_mixer.layers.scaled_token_dense import ScaledTokenDense
from keras_mixer.layers.spatial_gating import SpatialGatingUnit
from keras_mixer.layers.token_dense import TokenDense
from keras_mixer.layers.token_mixing import TokenMixing
from keras_mixer.layers import traceable  # registers the traceable Keras layers

__all__ = [
    "Affine",
    "ChannelMixing",
    "DropPath",
    "FFNBlock",
    "FusedMixerBlock",
    "GMLPBlock",
    "MixerBlock",
    "PatchEmbedding",
    "RepMLPBlock",
    "ScaledTokenDense",
    "SpatialGatingUnit",
    "TokenDense",
    "TokenMixing",
]
