"""The converter protocol: a `Layout` says where each keras_mixer weight lives in a checkpoint.

A converter is one module of `keras_mixer/weights/converters/` holding one
`LAYOUT`: the model family it loads, the key only its checkpoints have, the
GELU form they were trained with, and rules mapping every variable path of
a keras_mixer model (`block_{i}/token_mixing/fc1/kernel`,
`stage{s}_unit{u}_repmlp/fc3_kernel`, ...) to the checkpoint key holding it
and the transform that turns the stored array into the Keras layout.
PyTorch `Linear` weights are `(out, in)` and Keras kernels `(in, out)`;
PyTorch convolutions are OIHW, Keras HWIO; timm stores Affine parameters as
`(1, 1, C)`. The rule helpers below spell the usual layers.

Example:

>>> import numpy as np
>>> from keras_mixer.weights.layouts import Layout, to_keras, torch_linear
>>> layout = Layout("demo", "a demo layout", "resmlp", "blocks.0.fc.weight",
...     (*torch_linear("block_{i}/fc", "blocks.{i}.fc"), *torch_linear("embed{e}", "embeds.{e-1}")))
>>> layout.source_of("block_3/fc/kernel"), layout.source_of("embed2/bias")
(('blocks.3.fc.weight', 'linear'), ('embeds.1.bias', 'same'))
>>> to_keras("linear", np.zeros((5, 2))).shape
(2, 5)
"""

import dataclasses
import functools
import re

import numpy as np


def _pointwise(array, shape=None):
    """A 1x1 convolution `(out, in, 1, 1)` to a Dense kernel `(in, out)`."""
    return array.reshape(array.shape[:2]).T


def _grouped(array, shape):
    """A grouped 1x1 convolution `(S*hw out, hw in, 1, 1)` to `(S, hw in, hw out)`."""
    area = array.shape[1]
    return array.reshape(array.shape[:2]).reshape(-1, area, area).transpose(0, 2, 1)


TRANSFORMS = {
    # name: (ndim the stored array must have, function (array, model shape) to the Keras layout)
    "same": (None, lambda array, shape: array),
    "linear": (2, lambda array, shape: array.T),
    "conv": (4, lambda array, shape: array.transpose(2, 3, 1, 0)),
    "flat": (None, lambda array, shape: array.reshape(-1)),
    "pointwise": (4, _pointwise),
    "grouped": (4, _grouped),
    # a depthwise convolution (S, 1, k, k) to (k, k, S)
    "depthwise": (4, lambda array, shape: array.reshape(array.shape[0], *array.shape[2:])
                  .transpose(1, 2, 0)),
    # a flat per-set bias (S*hw,) to the model's (S, hw)
    "sets": (1, lambda array, shape: array.reshape(shape)),
}


def to_keras(transform, array, shape=None):
    """`array` (as stored) in the Keras layout, for a model weight of `shape` if known.

    Raises a ValueError when the array's rank or size does not fit the transform.
    """
    array = np.asarray(array)
    ndim = TRANSFORMS[transform][0]
    if ndim is not None and array.ndim != ndim:
        raise ValueError(f"transform {transform!r} expects rank {ndim}, found shape {array.shape}")
    return TRANSFORMS[transform][1](array, shape)


PLACEHOLDER = re.compile(r"\{(\w+)(-1)?\}")


@functools.cache
def _pattern(keras_path):
    """A regex for a rule's Keras path: each `{name}` matches a number."""
    parts = re.split(r"\{(\w+)\}", keras_path)
    return re.compile("".join(
        f"(?P<{part}>\\d+)" if index % 2 else re.escape(part) for index, part in enumerate(parts)
    ) + "$")


@dataclasses.dataclass(frozen=True)
class Layout:
    """One checkpoint layout: how to recognise it and where each weight lives.

    Args:
        name: the converter module's name (`"mixer_timm"`).
        description: what the checkpoints are, for messages.
        family: the registry family the checkpoints load into.
        signature: a key only this layout's checkpoints have.
        rules: `(keras path, checkpoint key, transform)` triples; `{name}` in a
            Keras path matches a number, which `{name}` (or `{name-1}`) in the
            key repeats; `transform` names an entry of `TRANSFORMS`.
        gelu_approximate: the GELU form the checkpoints were trained with.
        ignored: suffixes of checkpoint keys that hold no weight
            (`.num_batches_tracked`).
        grid: `(token-count weight, patch kernel)` Keras paths from which the
            checkpoint's input size is read (`keras-mixer convert`), or None
            when its weights do not depend on the input size.
        gated: for a layout whose keys are another's (timm's gMixer and
            Mixer), the `(fc1 key, fc2 key)` of a gated MLP: its checkpoints
            are the ones whose fc1 has twice the outputs fc2 reads (the GLU
            halves them; a plain MLP's are equal).
    """

    name: str
    description: str
    family: str
    signature: str
    rules: tuple
    gelu_approximate: bool = False
    ignored: tuple = ()
    grid: tuple = None
    gated: tuple = ()

    def matches(self, state):
        """Whether the checkpoint `state` (keys to arrays with `shape`) is of this layout."""
        if self.signature not in state:
            return False
        if not self.gated:
            return True
        fc1, fc2 = (state.get(key) for key in self.gated)
        return fc1 is not None and fc2 is not None and fc1.shape[0] == 2 * fc2.shape[-1]

    def source_of(self, path):
        """Returns `(checkpoint key, transform name)` for a Keras variable path, or `(None, None)`."""
        for keras_path, source, transform in self.rules:
            match = _pattern(keras_path).match(path)
            if match:
                return PLACEHOLDER.sub(
                    lambda field: str(int(match.group(field.group(1))) - bool(field.group(2))), source
                ), transform
        return None, None


def _pair(keras_layer, source, names, source_names, transforms, separator="."):
    """Rules for the weights of one layer (kernel/bias, gamma/beta, ...)."""
    return tuple(
        (f"{keras_layer}/{name}", f"{source}{separator}{source_name}", transform)
        for name, source_name, transform in zip(names, source_names, transforms)
    )


def torch_linear(keras_layer, source, kernel="linear"):
    """Rules for a PyTorch `Linear` (or 1x1 `Conv2d`, `kernel="pointwise"`) with a bias."""
    return _pair(keras_layer, source, ("kernel", "bias"), ("weight", "bias"), (kernel, "same"))


def torch_conv(keras_layer, source, bias=True):
    """Rules for a PyTorch `Conv2d` (OIHW to HWIO), with or without a bias."""
    rules = _pair(keras_layer, source, ("kernel", "bias"), ("weight", "bias"), ("conv", "same"))
    return rules if bias else rules[:1]


def torch_layer_norm(keras_layer, source):
    """Rules for a PyTorch `LayerNorm`."""
    return _pair(keras_layer, source, ("gamma", "beta"), ("weight", "bias"), ("same", "same"))


def torch_batch_norm(keras_layer, source):
    """Rules for a PyTorch `BatchNorm2d` (its `num_batches_tracked` is no weight)."""
    return _pair(keras_layer, source, ("gamma", "beta", "moving_mean", "moving_variance"),
                 ("weight", "bias", "running_mean", "running_var"), ("same",) * 4)


def affine(keras_layer, source):
    """Rules for ResMLP's Affine, flattened from timm's `(1, 1, C)`."""
    return _pair(keras_layer, source, ("alpha", "beta"), ("alpha", "beta"), ("flat", "flat"))


def flax_dense(keras_layer, source):
    """Rules for a Flax `Dense` ('/'-joined names, kernels already `(in, out)`)."""
    return _pair(keras_layer, source, ("kernel", "bias"), ("kernel", "bias"), ("same", "same"), "/")


def flax_norm(keras_layer, source):
    """Rules for a Flax `LayerNorm`."""
    return _pair(keras_layer, source, ("gamma", "beta"), ("scale", "bias"), ("same", "same"), "/")


def describe(mismatches, limit=5):
    """Joins the first `limit` mismatch descriptions and counts the rest."""
    shown = "; ".join(mismatches[:limit])
    more = len(mismatches) - limit
    return shown + (f"; and {more} more" if more > 0 else "")
