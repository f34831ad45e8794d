"""timm MLP-Mixer state dicts (`mixer_*`, exact GELU)."""

from keras_mixer.weights.layouts import Layout
from keras_mixer.weights.layouts import torch_conv
from keras_mixer.weights.layouts import torch_layer_norm
from keras_mixer.weights.layouts import torch_linear

BLOCK = "blocks.{i}"

LAYOUT = Layout(
    "mixer_timm",
    "timm MLP-Mixer state dict (mixer_*)",
    "mixer",
    "blocks.0.mlp_tokens.fc1.weight",
    (
        *torch_conv("stem/proj", "stem.proj"),
        *torch_layer_norm("block_{i}/norm1", f"{BLOCK}.norm1"),
        *torch_linear("block_{i}/token_mixing/fc1", f"{BLOCK}.mlp_tokens.fc1"),
        *torch_linear("block_{i}/token_mixing/fc2", f"{BLOCK}.mlp_tokens.fc2"),
        *torch_layer_norm("block_{i}/norm2", f"{BLOCK}.norm2"),
        *torch_linear("block_{i}/channel_mixing/fc1", f"{BLOCK}.mlp_channels.fc1"),
        *torch_linear("block_{i}/channel_mixing/fc2", f"{BLOCK}.mlp_channels.fc2"),
        *torch_layer_norm("norm", "norm"),
        *torch_linear("head", "head"),
    ),
    grid=("block_0/token_mixing/fc2/bias", "stem/proj/kernel"),
)
