"""Official ResMLP state dicts (facebookresearch/deit `.pth`)."""

from keras_mixer.weights.layouts import Layout
from keras_mixer.weights.layouts import affine
from keras_mixer.weights.layouts import torch_conv
from keras_mixer.weights.layouts import torch_linear

BLOCK = "blocks.{i}"


def resmlp_rules(stem, token, channels, scale1, scale2):
    """ResMLP's rules under the key names of one codebase (deit and timm differ only in names)."""
    return (
        *torch_conv("stem/proj", stem),
        *affine("block_{i}/norm1", f"{BLOCK}.norm1"),
        *torch_linear("block_{i}/token_mixing/linear", f"{BLOCK}.{token}"),
        *affine("block_{i}/norm2", f"{BLOCK}.norm2"),
        *torch_linear("block_{i}/channel_mixing/fc1", f"{BLOCK}.{channels}.fc1"),
        *torch_linear("block_{i}/channel_mixing/fc2", f"{BLOCK}.{channels}.fc2"),
        ("block_{i}/layer_scale1/alpha", f"{BLOCK}.{scale1}", "flat"),
        ("block_{i}/layer_scale2/alpha", f"{BLOCK}.{scale2}", "flat"),
        *affine("norm", "norm"),
        *torch_linear("head", "head"),
    )


GRID = ("block_0/token_mixing/linear/bias", "stem/proj/kernel")

LAYOUT = Layout(
    "resmlp_deit",
    "official ResMLP state dict (facebookresearch/deit)",
    "resmlp",
    "blocks.0.attn.weight",
    resmlp_rules("patch_embed.proj", "attn", "mlp", "gamma_1", "gamma_2"),
    grid=GRID,
)
