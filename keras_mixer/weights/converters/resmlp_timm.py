"""timm ResMLP state dicts (`resmlp_*`): the official model under timm's key names."""

from keras_mixer.weights.converters.resmlp_deit import GRID
from keras_mixer.weights.converters.resmlp_deit import resmlp_rules
from keras_mixer.weights.layouts import Layout

LAYOUT = Layout(
    "resmlp_timm",
    "timm ResMLP state dict (resmlp_*)",
    "resmlp",
    "blocks.0.linear_tokens.weight",
    resmlp_rules("stem.proj", "linear_tokens", "mlp_channels", "ls1", "ls2"),
    grid=GRID,
)
