"""Inference form of a model: per-channel maps folded into the neighbouring linear maps.

In a ResMLP block the pre-norm `Affine` and the layer scale `gamma` of each
branch are per-channel maps. The channel branch folds exactly into its
Dense kernels (`diag(alpha) W1`, `W2 diag(gamma)`); in the token branch a
per-channel map commutes with the map over tokens, so
`gamma * (A (x alpha + beta) + b)` becomes one token map with a scale
`gamma * alpha` and a `(tokens, channels)` bias (`ScaledTokenDense`).
MLP-Mixer's LayerNorm scale and shift fold the same way into the next
maps. RepMLP blocks are re-parameterised to their single FC first. The
maths runs once, in float64 NumPy. gMixer's gated blocks and gMLP's blocks
have no per-channel map to fold past their gates and are kept as they are.
"""

import keras
import numpy as np

from keras_mixer.introspection import iter_layers
from keras_mixer.layers import FusedMixerBlock
from keras_mixer.layers import MixerBlock
from keras_mixer.layers import RepMLPBlock
from keras_mixer.rewrites.rebuild import check_model
from keras_mixer.rewrites.rebuild import rebuild
from keras_mixer.rewrites.reparameterization import reparameterize


def _float64(variable):
    return np.asarray(keras.ops.convert_to_numpy(variable), "float64")


def _affine(norm, channels):
    """`(scale, shift)` of a pre-norm's per-channel part (Affine or LayerNorm)."""
    scale = norm.alpha if hasattr(norm, "alpha") else norm.gamma
    return _float64(scale), (np.zeros(channels) if norm.beta is None else _float64(norm.beta))


def _gamma(layer_scale, channels):
    return np.ones(channels) if layer_scale is None else _float64(layer_scale.alpha)


def _linear(layer):
    kernel = _float64(layer.kernel)
    bias = np.zeros(kernel.shape[1]) if layer.bias is None else _float64(layer.bias)
    return kernel, bias


def fused_weights(block):
    """The weights of the `FusedMixerBlock` equal to a built `MixerBlock`, as a list.

    Order: each token map's kernel, scale and bias, then fc1 and fc2
    kernels and biases (the order of `FusedMixerBlock.weights`).
    """
    channels = block.channel_mixing.fc2.units
    alpha1, beta1 = _affine(block.norm1, channels)
    alpha2, beta2 = _affine(block.norm2, channels)
    gamma1 = _gamma(block.layer_scale1, channels)
    gamma2 = _gamma(block.layer_scale2, channels)
    token = block.token_mixing
    if token.hidden_dim is None:
        kernel, bias = _linear(token.linear)
        token_weights = [kernel, gamma1 * alpha1,
                         gamma1 * (np.outer(kernel.sum(0), beta1) + bias[:, None])]
    else:
        kernel1, bias1 = _linear(token.fc1)
        kernel2, bias2 = _linear(token.fc2)
        token_weights = [kernel1, alpha1, np.outer(kernel1.sum(0), beta1) + bias1[:, None],
                         kernel2, gamma1, np.outer(bias2, gamma1)]
    fc1_kernel, fc1_bias = _linear(block.channel_mixing.fc1)
    fc2_kernel, fc2_bias = _linear(block.channel_mixing.fc2)
    return token_weights + [
        alpha2[:, None] * fc1_kernel, beta2 @ fc1_kernel + fc1_bias,
        fc2_kernel * gamma2[None, :], fc2_bias * gamma2,
    ]


def _fusable(layer):
    """A MixerBlock whose MLPs are not gated (a GLU's halves do not fold)."""
    return isinstance(layer, MixerBlock) and not layer.glu


def _fused_clone(layer):
    if _fusable(layer):
        config = layer.get_config()
        return FusedMixerBlock(
            token_mixing_dim=config["token_mixing_dim"],
            channel_mixing_dim=layer.channel_mixing.fc1.units,
            norm=config["norm"],
            norm_epsilon=config["norm_epsilon"],
            gelu_approximate=config["gelu_approximate"],
            dtype=config["dtype"],
            name=config["name"],
        )
    return type(layer).from_config(layer.get_config())


def fuse_for_inference(model):
    """Returns the inference form of `model`, with the same outputs and fewer operations.

    Every ungated `MixerBlock` (ResMLP, MLP-Mixer) becomes a `FusedMixerBlock`: its
    per-channel maps (Affine, layer scale, LayerNorm scale and shift) are
    folded into the neighbouring linear maps. Every `RepMLPBlock` of a
    training-form RepMLPNet becomes its single-FC deploy form
    (`keras_mixer.reparameterize`). In inference mode the outputs equal the
    model's up to float rounding (~1e-6 relative in float32); there is no
    dropout or stochastic depth, so fine-tune the original, not this form.
    `model` is left unchanged (and returned as it is when it has neither
    block); the result saves, loads and exports like any model.

    Example:

    >>> import numpy as np, keras_mixer
    >>> model = keras_mixer.ResMLP(patch_size=8, embed_dim=16, depth=1,
    ...                            input_shape=(16, 16, 3), classes=10)
    >>> fused = keras_mixer.fuse_for_inference(model)
    >>> x = np.random.default_rng(0).integers(0, 256, (2, 16, 16, 3)).astype("float32")
    >>> bool(np.allclose(fused.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6))
    True
    """
    check_model(model, "fuse_for_inference")
    if any(isinstance(layer, RepMLPBlock) and not layer.deploy for layer in iter_layers(model)):
        model = reparameterize(model)
    if not any(_fusable(layer) for layer in iter_layers(model)):
        return model
    return rebuild(model, _fused_clone, _fused_weights, "fuse", form="fused")


def _fused_weights(source, target):
    if not _fusable(source):
        return False
    target.set_weights([
        np.asarray(value, weight.dtype) for value, weight in zip(fused_weights(source), target.weights)
    ])
    return True
