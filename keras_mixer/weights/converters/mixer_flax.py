"""Official MLP-Mixer checkpoints: Flax `.npz` of google-research/vision_transformer (tanh GELU)."""

from keras_mixer.weights.layouts import Layout
from keras_mixer.weights.layouts import flax_dense
from keras_mixer.weights.layouts import flax_norm

BLOCK = "MixerBlock_{i}"

LAYOUT = Layout(
    "mixer_flax",
    "official MLP-Mixer (Flax .npz, google-research/vision_transformer)",
    "mixer",
    "stem/kernel",
    (
        *flax_dense("stem/proj", "stem"),
        *flax_norm("block_{i}/norm1", f"{BLOCK}/LayerNorm_0"),
        *flax_dense("block_{i}/token_mixing/fc1", f"{BLOCK}/token_mixing/Dense_0"),
        *flax_dense("block_{i}/token_mixing/fc2", f"{BLOCK}/token_mixing/Dense_1"),
        *flax_norm("block_{i}/norm2", f"{BLOCK}/LayerNorm_1"),
        *flax_dense("block_{i}/channel_mixing/fc1", f"{BLOCK}/channel_mixing/Dense_0"),
        *flax_dense("block_{i}/channel_mixing/fc2", f"{BLOCK}/channel_mixing/Dense_1"),
        *flax_norm("norm", "pre_head_layer_norm"),
        *flax_dense("head", "head"),
    ),
    gelu_approximate=True,
    grid=("block_0/token_mixing/fc2/bias", "stem/proj/kernel"),
)
