"""timm gMLP state dicts (`gmlp_*`): a gated channel MLP whose gate mixes tokens (`gate.proj`, S x S)."""

from keras_mixer.weights.layouts import Layout
from keras_mixer.weights.layouts import torch_conv
from keras_mixer.weights.layouts import torch_layer_norm
from keras_mixer.weights.layouts import torch_linear

BLOCK = "blocks.{i}"

LAYOUT = Layout(
    "gmlp_timm",
    "timm gMLP state dict (gmlp_*)",
    "gmlp",
    "blocks.0.mlp_channels.gate.proj.weight",
    (
        *torch_conv("stem/proj", "stem.proj"),
        *torch_layer_norm("block_{i}/norm", f"{BLOCK}.norm"),
        *torch_linear("block_{i}/channel_mixing/fc1", f"{BLOCK}.mlp_channels.fc1"),
        *torch_layer_norm("block_{i}/channel_mixing/gate/norm", f"{BLOCK}.mlp_channels.gate.norm"),
        *torch_linear("block_{i}/channel_mixing/gate/proj", f"{BLOCK}.mlp_channels.gate.proj"),
        *torch_linear("block_{i}/channel_mixing/fc2", f"{BLOCK}.mlp_channels.fc2"),
        *torch_layer_norm("norm", "norm"),
        *torch_linear("head", "head"),
    ),
    grid=("block_0/channel_mixing/gate/proj/bias", "stem/proj/kernel"),
)
