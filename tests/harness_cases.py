"""The harness cases: a tiny configuration of every public layer and of every model family.

A new layer or family is one entry in `LAYER_CASES` or `MODEL_CASES`:
tests/test_harness.py fails for a public layer (`keras_mixer.layers.__all__`,
or a layer registered under "keras_mixer") or a registered family without one.
"""

from keras_mixer import layers
from keras_mixer.layers import traceable

from harness import LayerCase
from harness import ModelCase

TOKENS = (2, 16, 24)  # batch, S, C
MAPS = (2, 8, 12, 6)  # batch, H, W, C

LAYER_CASES = {
    "affine": LayerCase(
        layers.Affine, dict(alpha_init=0.5), TOKENS, trainable_weights=2,
        bad_arguments=(("alpha_init", float("nan")), ("use_beta", "no")),
    ),
    "layer_scale": LayerCase(layers.Affine, dict(alpha_init=1e-5, use_beta=False), TOKENS, 1),
    "drop_path": LayerCase(
        layers.DropPath, dict(rate=0.3, seed=1), TOKENS, trainable_weights=0,
        bad_arguments=(("rate", 1.0), ("rate", "0.1")),
    ),
    "patch_embedding": LayerCase(
        layers.PatchEmbedding, dict(patch_size=4, embed_dim=24), (2, 16, 8, 3), 2,
        output_shape=(2, 8, 24), bad_arguments=(("patch_size", -1), ("embed_dim", True)),
    ),
    "token_dense": LayerCase(
        layers.TokenDense, dict(units=5), TOKENS, 2, output_shape=(2, 5, 24),
        bad_arguments=(("units", 0), ("use_bias", 1)),
    ),
    "scaled_token_dense": LayerCase(
        layers.ScaledTokenDense, dict(units=5), TOKENS, 3, output_shape=(2, 5, 24),
        bad_arguments=(("units", -3),),
    ),
    "token_mixing_linear": LayerCase(
        layers.TokenMixing, {}, TOKENS, 2,
        bad_arguments=(("hidden_dim", 0), ("dropout_rate", "0.1")),
    ),
    "token_mixing_mlp": LayerCase(
        layers.TokenMixing, dict(hidden_dim=8, gelu_approximate=True), TOKENS, 4,
    ),
    "channel_mixing": LayerCase(
        layers.ChannelMixing, dict(mlp_ratio=2), TOKENS, 4,
        bad_arguments=(("hidden_dim", 2.5), ("mlp_ratio", -1)),
    ),
    "mixer_block": LayerCase(
        layers.MixerBlock, dict(token_mixing_dim=8, channel_mixing_dim=48), TOKENS, 12,
        bad_arguments=(
            ("token_mixing_dim", 0), ("channel_mixing_dim", True),
            ("layer_scale_init", float("inf")), ("drop_path_rate", 1.5), ("norm_epsilon", 0),
            ("gelu_approximate", None), ("norm", "batch_norm"),
        ),
    ),
    "resmlp_block": LayerCase(
        layers.MixerBlock, dict(norm="affine", layer_scale_init=0.1, drop_path_rate=0.1),
        TOKENS, 12,
    ),
    "token_mixing_glu": LayerCase(
        layers.TokenMixing, dict(hidden_dim=8, glu=True), TOKENS, 4,
        bad_arguments=(("glu", "yes"),),
    ),
    "channel_mixing_glu": LayerCase(layers.ChannelMixing, dict(mlp_ratio=2, glu=True), TOKENS, 4),
    "gmixer_block": LayerCase(
        layers.MixerBlock, dict(token_mixing_dim=8, channel_mixing_dim=48, glu=True), TOKENS, 12,
        bad_arguments=(("glu", "yes"),),
    ),
    "spatial_gating_unit": LayerCase(
        layers.SpatialGatingUnit, {}, TOKENS, 4, output_shape=(2, 16, 12),
        bad_arguments=(("norm_epsilon", 0),),
    ),
    "channel_mixing_sgu": LayerCase(
        layers.ChannelMixing, dict(mlp_ratio=2, spatial_gating=True), TOKENS, 8,
        bad_arguments=(("spatial_gating", 1),),
    ),
    "gmlp_block": LayerCase(
        layers.GMLPBlock, dict(mlp_ratio=3, drop_path_rate=0.1), TOKENS, 10,
        bad_arguments=(("mlp_ratio", 0), ("gate_norm_epsilon", -1)),
    ),
    "fused_mixer_block": LayerCase(
        layers.FusedMixerBlock, dict(token_mixing_dim=8, channel_mixing_dim=48), TOKENS, 10,
        bad_arguments=(("norm_epsilon", -1.0), ("channel_mixing_dim", None)),
    ),
    "fused_resmlp_block": LayerCase(
        layers.FusedMixerBlock, dict(channel_mixing_dim=48, norm="affine"), TOKENS, 7,
    ),
    # A 1x1 depthwise kernel is one scale per share-set, which the training-mode BN
    # after it normalises away: its gradient is zero, here as in the official code.
    "repmlp_block": LayerCase(
        layers.RepMLPBlock, dict(partition_size=4, num_sharesets=2), MAPS, 13,
        non_trainable_weights=6, frozen=("repconv1_kernel",),
        bad_arguments=(
            ("partition_size", 0), ("partition_size", (4, 2.0)), ("partition_size", (2, 2, 2)),
            ("num_sharesets", False), ("num_sharesets", 0), ("conv_kernel_sizes", (2,)),
            ("conv_kernel_sizes", 3), ("conv_kernel_sizes", (3, 3)), ("momentum", 2),
            ("deploy", "yes"), ("global_reduction", True),
        ),
    ),
    "repmlp_block_deploy": LayerCase(
        layers.RepMLPBlock, dict(partition_size=(4, 3), num_sharesets=3, deploy=True), MAPS, 6,
    ),
    "ffn_block": LayerCase(
        layers.FFNBlock, dict(expansion=2), MAPS, 6, non_trainable_weights=4,
        bad_arguments=(("expansion", True), ("expansion", 0), ("epsilon", float("nan"))),
    ),
    "batch_normalization": LayerCase(
        traceable.BatchNormalization, {}, MAPS, 2, non_trainable_weights=2,
    ),
    "rescaling": LayerCase(traceable.Rescaling, dict(scale=0.5, offset=-1.0), MAPS, 0),
    "normalization": LayerCase(
        traceable.Normalization, dict(mean=[1.0] * 6, variance=[4.0] * 6), MAPS, 0,
    ),
}

MODEL_CASES = {
    "resmlp": ModelCase(
        "resmlp",
        dict(patch_size=4, embed_dim=16, depth=2, input_shape=(16, 24, 3), classes=5),
        trainable_weights=30, features_shape=(24, 16),
        bad_arguments=(
            ("layer_scale_init", float("nan")), ("mlp_ratio", 0), ("dropout_rate", "0.1"),
            ("drop_path_rate", 1.5), ("drop_path_rate", -0.1), ("classes", True),
            ("classes", 0), ("patch_size", -1), ("depth", 2.5), ("depth", True),
            ("include_top", "no"), ("include_preprocessing", 0), ("weights", "imagenet-21k"),
        ),
    ),
    "mixer": ModelCase(
        "mixer",
        dict(patch_size=4, embed_dim=16, depth=2, token_mixing_dim=8, channel_mixing_dim=32,
             gelu_approximate=True, input_shape=(24, 16, 3), classes=5),
        trainable_weights=30, features_shape=(24, 16),
        bad_arguments=(
            ("token_mixing_dim", 0), ("channel_mixing_dim", 2.5), ("gelu_approximate", "yes"),
            ("embed_dim", "16"), ("classifier_activation", "softmaxx"),
        ),
    ),
    "gmlp": ModelCase(
        "gmlp",
        dict(patch_size=4, embed_dim=16, depth=2, mlp_ratio=3.0, input_shape=(16, 24, 3), classes=5),
        trainable_weights=26, features_shape=(24, 16),
        bad_arguments=(("mlp_ratio", 0), ("depth", 0), ("remat", "yes")),
    ),
    "gmixer": ModelCase(
        "gmixer",
        dict(patch_size=4, embed_dim=16, depth=2, token_mixing_dim=8, channel_mixing_dim=32,
             input_shape=(24, 16, 3), classes=5),
        trainable_weights=30, features_shape=(24, 16),
        bad_arguments=(("token_mixing_dim", 0), ("classes", 0)),
    ),
    "repmlpnet": ModelCase(
        "repmlpnet",
        dict(channels=(8, 16), depths=(1, 2), sharesets=(2, 4), partition_sizes=(4, 2),
             input_shape=(32, 48, 3), classes=3),  # as in test_repmlpnet: JAX compiles once
        trainable_weights=79, features_shape=(4, 6, 16), count_arguments=dict(deploy=True),
        bad_arguments=(
            ("channels", 8), ("global_reduction", 0), ("deploy", 1),
            ("classes", 0),
        ),
    ),
}

# Every case under one name: "layer_<name>" or "model_<family>".
CASES = {
    **{f"layer_{name}": case for name, case in LAYER_CASES.items()},
    **{f"model_{name}": case for name, case in MODEL_CASES.items()},
}
