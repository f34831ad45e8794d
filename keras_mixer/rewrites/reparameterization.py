"""Structural re-parameterisation: RepMLP blocks to their single-FC deploy form.

Each BatchNorm is folded into the FC or conv before it, each conv is
rewritten as the FC it equals on an `h x w` partition, and everything is
summed into one FC with bias. The maths runs in float64 NumPy, once.
"""

import keras
import numpy as np

from keras_mixer.introspection import iter_layers
from keras_mixer.layers import RepMLPBlock
from keras_mixer.rewrites.rebuild import check_model
from keras_mixer.rewrites.rebuild import rebuild


def _float64(variable):
    return np.asarray(keras.ops.convert_to_numpy(variable), "float64")


def fold_batch_norm(batch_norm):
    """Returns `(scale, shift)` with `BN(y) = scale * y + shift` in inference mode."""
    gamma = _float64(batch_norm.gamma)
    beta = _float64(batch_norm.beta)
    mean = _float64(batch_norm.moving_mean)
    variance = _float64(batch_norm.moving_variance)
    scale = gamma / np.sqrt(variance + batch_norm.epsilon)
    return scale, beta - mean * scale


def conv_to_fc(kernel, height, width):
    """The FC kernel `(S, h*w in, h*w out)` equal to a depthwise conv `(k, k, S)`.

    A 'same'-padded cross-correlation on an `h x w` partition sends input
    pixel `(y + dy - k//2, x + dx - k//2)` to output pixel `(y, x)` with
    weight `kernel[dy, dx]`; each tap is a shift matrix (zero where it
    falls outside the partition), the Kronecker product of a row shift and
    a column shift, as convolving the identity matrix would give.
    """
    size = kernel.shape[0]
    fc = np.zeros((kernel.shape[-1], height * width, height * width))
    for dy in range(size):
        rows = np.eye(height, k=size // 2 - dy)
        for dx in range(size):
            shift = np.kron(rows, np.eye(width, k=size // 2 - dx))
            fc += kernel[dy, dx][:, None, None] * shift[None]
    return fc


def deploy_fc(block):
    """Returns the deploy `(fc3_kernel (S, hw, hw), fc3_bias (S, hw))` of a trained block."""
    if block.deploy:
        return _float64(block.fc3_kernel), _float64(block.fc3_bias)
    scale, shift = fold_batch_norm(block.fc3_bn)
    kernel = _float64(block.fc3_kernel) * scale[:, None, None]
    area = kernel.shape[-1]
    bias = np.repeat(shift[:, None], area, axis=1)
    for size in block.conv_kernel_sizes:
        scale, shift = fold_batch_norm(block.conv_batch_norm(size))
        conv = _float64(block.conv_kernels[size]) * scale
        kernel += conv_to_fc(conv, *block.partition_size)
        bias += shift[:, None]
    return kernel, bias


def _deploy_clone(layer):
    config = layer.get_config()
    if isinstance(layer, RepMLPBlock):
        config["deploy"] = True
    return type(layer).from_config(config)


def reparameterize(model):
    """Returns the deploy form of `model`: every RepMLPBlock as a single FC.

    `model` is a functional or Sequential Keras model (nested ones too) with
    `RepMLPBlock` layers; it is left unchanged. The returned model has the
    same layers and weights except that each block holds only its global
    perceptron and one FC with bias, and it gives the same outputs as
    `model` in inference mode (`training=False`). Save, load and export it
    like any model.

    Example:

    >>> import numpy as np, keras_mixer
    >>> model = keras_mixer.RepMLPNet(channels=(8, 16), depths=(1, 1),
    ...     sharesets=(1, 4), partition_sizes=(4, 2), input_shape=(32, 32, 3),
    ...     classes=10)
    >>> deployed = keras_mixer.reparameterize(model)
    >>> x = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3))
    >>> bool(np.allclose(deployed.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6))
    True
    """
    check_model(model, "reparameterize")
    blocks = [layer for layer in iter_layers(model) if isinstance(layer, RepMLPBlock)]
    if not blocks:
        raise ValueError(
            f"Model {model.name!r} has no RepMLPBlock reachable as a layer of a "
            f"functional or Sequential model; nothing to re-parameterise."
        )
    return rebuild(model, _deploy_clone, _deploy_weights, "re-parameterise", deploy=True)


def _deploy_weights(source, target):
    if not isinstance(source, RepMLPBlock):
        return False
    kernel, bias = deploy_fc(source)
    target.gp_fc1.set_weights(source.gp_fc1.get_weights())
    target.gp_fc2.set_weights(source.gp_fc2.get_weights())
    target.fc3_kernel.assign(np.asarray(kernel, target.fc3_kernel.dtype))
    target.fc3_bias.assign(np.asarray(bias, target.fc3_bias.dtype))
    return True
