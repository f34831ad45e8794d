"""Key maps from the official and timm checkpoint layouts to keras_mixer's weights.

Each layout is detected by a key only it has, and maps every variable path of
a keras_mixer model (`block_{i}/token_mixing/fc1/kernel`, ...) to the
checkpoint key holding it and the transform that turns the stored array into
the Keras layout: PyTorch `Linear` weights are `(out, in)` and Keras kernels
`(in, out)`; PyTorch convolutions are OIHW, Keras HWIO; timm stores Affine
parameters as `(1, 1, C)`.
"""

import dataclasses
import re

import numpy as np

from keras_mixer import registry
from keras_mixer.spec import spec_of

TRANSFORMS = {
    # name: (ndim the stored array must have, function to the Keras layout)
    "same": (None, lambda array: array),
    "linear": (2, lambda array: array.T),
    "conv": (4, lambda array: array.transpose(2, 3, 1, 0)),
    "flat": (None, lambda array: array.reshape(-1)),
}


@dataclasses.dataclass(frozen=True)
class Layout:
    """One checkpoint layout: how to recognise it and where each weight lives.

    A checkpoint is of this layout when it holds the `signature` key and, for
    a layout with `gated` = (fc1 key, fc2 key) of a gated MLP, when fc1 has
    twice the outputs fc2 reads (the GLU halves them; a plain MLP's are equal).
    `tokens` is the Keras weight whose first axis counts the tokens.
    """

    name: str
    description: str
    family: str
    signature: str
    rules: tuple
    gelu_approximate: bool = False
    gated: tuple = ()
    tokens: str = "block_0/token_mixing/fc2/bias"

    def matches(self, state):
        """Whether the checkpoint `state` (keys to arrays with `shape`) is of this layout."""
        if self.signature not in state:
            return False
        if not self.gated:
            return True
        fc1, fc2 = (state.get(key) for key in self.gated)
        return fc1 is not None and fc2 is not None and fc1.shape[0] == 2 * fc2.shape[-1]

    def source_of(self, path):
        """Returns `(checkpoint key, transform name)` for a Keras variable path."""
        block = re.match(r"block_(\d+)/(.*)$", path)
        pattern, index = (f"block_{{i}}/{block.group(2)}", block.group(1)) if block else (path, None)
        for keras_path, source, transform in self.rules:
            if keras_path == pattern:
                return source.format(i=index), transform
        return None, None


def _pair(keras_layer, source, names, source_names, transforms, separator="."):
    """Rules for the two weights of one layer (kernel/bias, gamma/beta, ...)."""
    return tuple(
        (f"{keras_layer}/{name}", f"{source}{separator}{source_name}", transform)
        for name, source_name, transform in zip(names, source_names, transforms)
    )


def _torch_linear(keras_layer, source, bias="same"):
    return _pair(keras_layer, source, ("kernel", "bias"), ("weight", "bias"), ("linear", bias))


def _torch_stem(source):
    return _pair("stem/proj", source, ("kernel", "bias"), ("weight", "bias"), ("conv", "same"))


def _torch_layer_norm(keras_layer, source):
    return _pair(keras_layer, source, ("gamma", "beta"), ("weight", "bias"), ("same", "same"))


def _affine(keras_layer, source):
    return _pair(keras_layer, source, ("alpha", "beta"), ("alpha", "beta"), ("flat", "flat"))


def _flax_dense(keras_layer, source, bias="same"):
    return _pair(keras_layer, source, ("kernel", "bias"), ("kernel", "bias"), ("same", bias), "/")


def _flax_norm(keras_layer, source):
    return _pair(keras_layer, source, ("gamma", "beta"), ("scale", "bias"), ("same", "same"), "/")


def _timm_mixer_rules():
    """timm's `MixerBlock` names: MLP-Mixer, and gMixer (the same keys, GLU shapes)."""
    return (
        *_torch_stem("stem.proj"),
        *_torch_layer_norm("block_{i}/norm1", "blocks.{i}.norm1"),
        *_torch_linear("block_{i}/token_mixing/fc1", "blocks.{i}.mlp_tokens.fc1"),
        *_torch_linear("block_{i}/token_mixing/fc2", "blocks.{i}.mlp_tokens.fc2"),
        *_torch_layer_norm("block_{i}/norm2", "blocks.{i}.norm2"),
        *_torch_linear("block_{i}/channel_mixing/fc1", "blocks.{i}.mlp_channels.fc1"),
        *_torch_linear("block_{i}/channel_mixing/fc2", "blocks.{i}.mlp_channels.fc2"),
        *_torch_layer_norm("norm", "norm"),
        *_torch_linear("head", "head"),
    )


def _resmlp_rules(stem, token, channels, scale1, scale2):
    block = "blocks.{i}"
    return (
        *_torch_stem(stem),
        *_affine("block_{i}/norm1", f"{block}.norm1"),
        *_torch_linear("block_{i}/token_mixing/linear", f"{block}.{token}"),
        *_affine("block_{i}/norm2", f"{block}.norm2"),
        *_torch_linear("block_{i}/channel_mixing/fc1", f"{block}.{channels}.fc1"),
        *_torch_linear("block_{i}/channel_mixing/fc2", f"{block}.{channels}.fc2"),
        ("block_{i}/layer_scale1/alpha", f"{block}.{scale1}", "flat"),
        ("block_{i}/layer_scale2/alpha", f"{block}.{scale2}", "flat"),
        *_affine("norm", "norm"),
        *_torch_linear("head", "head"),
    )


LAYOUTS = (
    Layout(
        "mixer_flax",
        "official MLP-Mixer (Flax .npz, google-research/vision_transformer)",
        "mixer",
        "stem/kernel",
        (
            *_flax_dense("stem/proj", "stem"),
            *_flax_norm("block_{i}/norm1", "MixerBlock_{i}/LayerNorm_0"),
            *_flax_dense("block_{i}/token_mixing/fc1", "MixerBlock_{i}/token_mixing/Dense_0"),
            *_flax_dense("block_{i}/token_mixing/fc2", "MixerBlock_{i}/token_mixing/Dense_1"),
            *_flax_norm("block_{i}/norm2", "MixerBlock_{i}/LayerNorm_1"),
            *_flax_dense("block_{i}/channel_mixing/fc1", "MixerBlock_{i}/channel_mixing/Dense_0"),
            *_flax_dense("block_{i}/channel_mixing/fc2", "MixerBlock_{i}/channel_mixing/Dense_1"),
            *_flax_norm("norm", "pre_head_layer_norm"),
            *_flax_dense("head", "head"),
        ),
        gelu_approximate=True,
    ),
    # Before mixer_timm: the same keys, told apart by the GLU's halved fc2 input.
    Layout(
        "gmixer_timm",
        "timm gMixer state dict (gmixer_*)",
        "gmixer",
        "blocks.0.mlp_tokens.fc1.weight",
        _timm_mixer_rules(),
        gated=("blocks.0.mlp_channels.fc1.weight", "blocks.0.mlp_channels.fc2.weight"),
    ),
    Layout(
        "mixer_timm",
        "timm MLP-Mixer state dict (mixer_*)",
        "mixer",
        "blocks.0.mlp_tokens.fc1.weight",
        _timm_mixer_rules(),
    ),
    Layout(
        "gmlp_timm",
        "timm gMLP state dict (gmlp_*)",
        "gmlp",
        "blocks.0.mlp_channels.gate.proj.weight",
        (
            *_torch_stem("stem.proj"),
            *_torch_layer_norm("block_{i}/norm", "blocks.{i}.norm"),
            *_torch_linear("block_{i}/channel_mixing/fc1", "blocks.{i}.mlp_channels.fc1"),
            *_torch_layer_norm("block_{i}/channel_mixing/gate/norm", "blocks.{i}.mlp_channels.gate.norm"),
            *_torch_linear("block_{i}/channel_mixing/gate/proj", "blocks.{i}.mlp_channels.gate.proj"),
            *_torch_linear("block_{i}/channel_mixing/fc2", "blocks.{i}.mlp_channels.fc2"),
            *_torch_layer_norm("norm", "norm"),
            *_torch_linear("head", "head"),
        ),
        tokens="block_0/channel_mixing/gate/proj/bias",
    ),
    Layout(
        "resmlp_deit",
        "official ResMLP state dict (facebookresearch/deit)",
        "resmlp",
        "blocks.0.attn.weight",
        _resmlp_rules("patch_embed.proj", "attn", "mlp", "gamma_1", "gamma_2"),
        tokens="block_0/token_mixing/linear/bias",
    ),
    Layout(
        "resmlp_timm",
        "timm ResMLP state dict (resmlp_*)",
        "resmlp",
        "blocks.0.linear_tokens.weight",
        _resmlp_rules("stem.proj", "linear_tokens", "mlp_channels", "ls1", "ls2"),
        tokens="block_0/token_mixing/linear/bias",
    ),
)


def detect_layout(state, path):
    """Returns the `Layout` whose signature key `state` holds, or raises."""
    for layout in LAYOUTS:
        if layout.matches(state):
            return layout
    sample = ", ".join(sorted(state)[:6])
    raise ValueError(
        f"Checkpoint {path!r} has none of the known layouts (official Flax "
        f"MLP-Mixer .npz, official deit ResMLP, timm mixer_*/resmlp_*/gmlp_*/gmixer_*); "
        f"its keys begin: {sample}."
    )


def map_checkpoint(layout, state, model, path):
    """Returns `{variable path: (label, array in Keras layout)}` for `model`.

    `state` maps keys to arrays or to unread arrays with `shape`, `ndim` and
    `dtype` (`npz_file.NpyMember`); keys are checked before any is read.
    Raises a ValueError naming every key the model needs and the checkpoint
    lacks, and every checkpoint key the model has no place for (a head is
    dropped silently when the model has none).
    """
    family = spec_of(model, "loading a checkpoint").family
    if family != layout.family:
        raise ValueError(
            f"Checkpoint {path!r} is a {registry.family_info(layout.family).title} checkpoint "
            f"({layout.description}); model {model.name!r} is a "
            f"{registry.family_info(family).title}. Nothing was loaded."
        )
    sources, errors, used = {}, [], set()
    for variable in model.weights:
        key, transform = layout.source_of(variable.path)
        if key is None or key not in state:
            errors.append(
                f"{key or variable.path}: expected shape {tuple(variable.shape)} "
                f"(model weight {variable.path}), missing from the checkpoint"
            )
            continue
        used.add(key)
        label = f"{key} (model weight {variable.path})"
        ndim = TRANSFORMS[transform][0]
        if ndim is not None and state[key].ndim != ndim:
            errors.append(f"{label}: expected shape {tuple(variable.shape)}, found {state[key].shape}")
            continue
        sources[variable.path] = (label, key, transform)
    head_keys = {layout.source_of(name)[0] for name in ("head/kernel", "head/bias")}
    for key in sorted(set(state) - used - head_keys):
        errors.append(f"{key}: found shape {np.shape(state[key])}, which model {model.name!r} has no place for")
    if errors:
        raise ValueError(
            f"Checkpoint {path!r} ({layout.description}) does not match model "
            f"{model.name!r}: {describe(errors)}. Nothing was loaded."
        )
    return {
        name: (label, TRANSFORMS[transform][1](np.asarray(state[key])))
        for name, (label, key, transform) in sources.items()
    }


def describe(mismatches, limit=5):
    """Joins the first `limit` mismatch descriptions and counts the rest."""
    shown = "; ".join(mismatches[:limit])
    more = len(mismatches) - limit
    return shown + (f"; and {more} more" if more > 0 else "")
