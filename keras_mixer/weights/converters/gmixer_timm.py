"""timm gMixer state dicts (`gmixer_*`): timm's Mixer keys, with gated (GLU) channel MLPs."""

from keras_mixer.weights.converters.mixer_timm import LAYOUT as MIXER
from keras_mixer.weights.layouts import Layout

LAYOUT = Layout(
    "gmixer_timm",
    "timm gMixer state dict (gmixer_*)",
    "gmixer",
    MIXER.signature,
    MIXER.rules,
    grid=MIXER.grid,
    # The same keys as a Mixer's: told apart by the GLU's halved fc2 input.
    gated=("blocks.0.mlp_channels.fc1.weight", "blocks.0.mlp_channels.fc2.weight"),
)
