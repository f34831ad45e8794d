"""Float64 NumPy re-implementation of both families, written from the papers.

It reads the weights out of a built keras_mixer model and recomputes the
forward pass independently of Keras, so the tests can check the layers'
maths and not only their shapes.
"""

import math

import numpy as np
from scipy.special import erf

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406]) * 255.0
IMAGENET_STD = np.array([0.229, 0.224, 0.225]) * 255.0


def gelu(x, approximate):
    if approximate:
        return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


def layer_norm(x, scale, bias, epsilon=1e-6):
    mean = x.mean(-1, keepdims=True)
    variance = x.var(-1, keepdims=True)
    return (x - mean) / np.sqrt(variance + epsilon) * scale + bias


def _np(variable):
    return np.asarray(variable.numpy() if hasattr(variable, "numpy") else variable, "float64")


def patchify(images, kernel, bias):
    """Non-overlapping patches flattened (row, col, channel) times the HWIO kernel."""
    batch, height, width, channels = images.shape
    patch = kernel.shape[0]
    rows, cols = height // patch, width // patch
    patches = images.reshape(batch, rows, patch, cols, patch, channels)
    patches = patches.transpose(0, 1, 3, 2, 4, 5).reshape(batch, rows * cols, -1)
    return patches @ kernel.reshape(-1, kernel.shape[-1]) + bias


def _affine(layer, x):
    weights = [_np(w) for w in layer.weights]
    return x * weights[0] + (weights[1] if len(weights) > 1 else 0.0)


def _norm(layer, x):
    if type(layer).__name__ == "Affine":
        return _affine(layer, x)
    return layer_norm(x, _np(layer.gamma), _np(layer.beta), layer.epsilon)


def _token_mixing(layer, x):
    if layer.hidden_dim is None:
        kernel, bias = _np(layer.linear.kernel), _np(layer.linear.bias)
        return np.einsum("bsc,st->btc", x, kernel) + bias[None, :, None]
    hidden = np.einsum("bsc,sd->bdc", x, _np(layer.fc1.kernel)) + _np(layer.fc1.bias)[None, :, None]
    hidden = gelu(hidden, layer.gelu_approximate)
    return np.einsum("bdc,ds->bsc", hidden, _np(layer.fc2.kernel)) + _np(layer.fc2.bias)[None, :, None]


def _channel_mixing(layer, x):
    hidden = gelu(x @ _np(layer.fc1.kernel) + _np(layer.fc1.bias), layer.gelu_approximate)
    return hidden @ _np(layer.fc2.kernel) + _np(layer.fc2.bias)


def _scale(layer, x):
    return x if layer is None else _affine(layer, x)


def reference_forward(model, images):
    """Logits-or-probabilities of `model` on raw 0-255 `images`, in float64."""
    x = np.asarray(images, "float64")
    names = {layer.name for layer in model.layers}
    if "preprocessing" in names:
        if type(model.get_layer("preprocessing")).__name__ == "Rescaling":
            x = x / 127.5 - 1.0
        else:
            x = (x - IMAGENET_MEAN) / IMAGENET_STD
    stem = model.get_layer("stem")
    x = patchify(x, _np(stem.proj.kernel), _np(stem.proj.bias))
    for layer in model.layers:
        if type(layer).__name__ != "MixerBlock":
            continue
        x = x + _scale(layer.layer_scale1, _token_mixing(layer.token_mixing, _norm(layer.norm1, x)))
        x = x + _scale(layer.layer_scale2, _channel_mixing(layer.channel_mixing, _norm(layer.norm2, x)))
    x = _norm(model.get_layer("norm"), x)
    if "head" not in names:
        return x
    logits = x.mean(1) @ _np(model.get_layer("head").kernel) + _np(model.get_layer("head").bias)
    logits = logits - logits.max(-1, keepdims=True)
    return np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
