"""Official RepMLPNet checkpoints (PyTorch state_dict key layout) into keras_mixer models.

The state dict is a `{key: numpy array}` mapping, read by a safe loader.
Every key the model needs is looked up and every array is reshaped to its
Keras layout and shape-checked first; nothing is assigned unless all match.
Both the training form (fc3 + fc3_bn + repconv branches) and the deploy form
(fc3 with bias) are understood, matching the model's `deploy` setting.
"""

import numpy as np

from keras_mixer.layers import FFNBlock
from keras_mixer.layers import RepMLPBlock
from keras_mixer.weights.layouts import describe

IGNORED_SUFFIXES = (".num_batches_tracked",)


def _batch_norm(layer, prefix):
    return [
        (layer.gamma, f"{prefix}.weight", None),
        (layer.beta, f"{prefix}.bias", None),
        (layer.moving_mean, f"{prefix}.running_mean", None),
        (layer.moving_variance, f"{prefix}.running_var", None),
    ]


def _conv(array):
    """OIHW to HWIO."""
    return np.transpose(array, (2, 3, 1, 0))


def _pointwise(array):
    """A 1x1 conv `(out, in, 1, 1)` or Linear `(out, in)` to a Dense kernel `(in, out)`."""
    return np.reshape(array, array.shape[:2]).T


def _fc3(array):
    """Grouped 1x1 conv `(S*hw out, hw in, 1, 1)` to `(S, hw in, hw out)`."""
    area = array.shape[1]
    return np.transpose(np.reshape(array, (-1, area, area)), (0, 2, 1))


def _repconv(array):
    """Depthwise conv `(S, 1, k, k)` to `(k, k, S)`."""
    return np.transpose(array[:, 0], (1, 2, 0))


def _repmlp_block(block, prefix):
    entries = [
        (block.gp_fc1.kernel, f"{prefix}.gp.fc1.weight", _pointwise),
        (block.gp_fc1.bias, f"{prefix}.gp.fc1.bias", None),
        (block.gp_fc2.kernel, f"{prefix}.gp.fc2.weight", _pointwise),
        (block.gp_fc2.bias, f"{prefix}.gp.fc2.bias", None),
        (block.fc3_kernel, f"{prefix}.fc3.weight", _fc3),
    ]
    if block.deploy:
        sets = block.num_sharesets
        entries.append(
            (block.fc3_bias, f"{prefix}.fc3.bias", lambda array: np.reshape(array, (sets, -1)))
        )
        return entries
    entries += _batch_norm(block.fc3_bn, f"{prefix}.fc3_bn")
    for size in block.conv_kernel_sizes:
        entries.append((block.conv_kernels[size], f"{prefix}.repconv{size}.conv.weight", _repconv))
        entries += _batch_norm(block.conv_batch_norm(size), f"{prefix}.repconv{size}.bn")
    return entries


def _ffn(ffn, prefix):
    return [
        (ffn.fc1.kernel, f"{prefix}.ffn_fc1.conv.weight", _pointwise),
        *_batch_norm(ffn.bn1, f"{prefix}.ffn_fc1.bn"),
        (ffn.fc2.kernel, f"{prefix}.ffn_fc2.conv.weight", _pointwise),
        *_batch_norm(ffn.bn2, f"{prefix}.ffn_fc2.bn"),
    ]


def _layer_entries(layer):
    """The `(variable, official key, transform)` entries of one model layer."""
    name = layer.name
    if name in ("stem_conv",) or (name.startswith("embed") and name.endswith("_conv")):
        prefix = "conv_embedding" if name == "stem_conv" else f"embeds.{int(name[5:-5]) - 1}"
        return [(layer.kernel, f"{prefix}.conv.weight", _conv)]
    if name == "stem_bn" or (name.startswith("embed") and name.endswith("_bn")):
        prefix = "conv_embedding" if name == "stem_bn" else f"embeds.{int(name[5:-3]) - 1}"
        return _batch_norm(layer, f"{prefix}.bn")
    if name == "head_norm":
        return _batch_norm(layer, "head_norm")
    if name == "head":
        return [(layer.kernel, "head.weight", _pointwise), (layer.bias, "head.bias", None)]
    if name.startswith("stage"):
        stage, unit, part = name[len("stage"):].split("_", 2)
        prefix = f"stages.{stage}.{unit[len('unit'):]}"
        if isinstance(layer, RepMLPBlock):
            return _repmlp_block(layer, f"{prefix}.repmlp_block")
        if isinstance(layer, FFNBlock):
            return _ffn(layer, f"{prefix}.ffn_block")
        if part in ("prebn1", "prebn2"):
            return _batch_norm(layer, f"{prefix}.{part}")
    return []


def load_repmlpnet_state_dict(model, state_dict):
    """Loads an official RepMLPNet state dict (`{key: array}`) into a keras_mixer RepMLPNet.

    Keys may carry a `module.` prefix (DistributedDataParallel). Raises a
    `ValueError` naming the missing, unexpected and wrongly shaped keys,
    with nothing assigned, if the checkpoint does not match `model` (e.g.
    other variant, other class count, training vs deploy form).

    Example:

    >>> import keras_mixer
    >>> from keras_mixer.weights.repmlpnet_official import load_repmlpnet_state_dict
    >>> model = keras_mixer.RepMLPNet(channels=(8, 16), depths=(1, 1),
    ...     sharesets=(1, 4), partition_sizes=(4, 2), input_shape=(32, 32, 3))
    >>> load_repmlpnet_state_dict(model, {})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: State dict does not match model 'repmlpnet' ...
    """
    arrays = {key.removeprefix("module."): value for key, value in state_dict.items()}
    entries = [entry for layer in model.layers for entry in _layer_entries(layer)]
    problems, assignments = [], []
    for variable, key, transform in entries:
        if key not in arrays:
            problems.append(f"{key}: missing (needed for {variable.path} {tuple(variable.shape)})")
            continue
        array = np.asarray(arrays[key])
        value = transform(array) if transform else array
        if tuple(value.shape) != tuple(variable.shape):
            problems.append(
                f"{key}: shape {tuple(array.shape)} does not fit {variable.path} "
                f"{tuple(variable.shape)}"
            )
            continue
        assignments.append((variable, value))
    used = {key for _, key, _ in entries}
    problems += [
        f"{key}: unexpected"
        for key in arrays
        if key not in used
        and not key.endswith(IGNORED_SUFFIXES)
        and not (key.startswith("head.") and "head.weight" not in used)
    ]
    if problems or not entries:
        raise ValueError(
            f"State dict does not match model {model.name!r} (a keras_mixer RepMLPNet, "
            f"deploy={any(getattr(l, 'deploy', False) for l in model.layers)}): "
            f"{describe(problems, limit=6) or 'the model has no RepMLPNet layers'}. Nothing was loaded."
        )
    for variable, value in assignments:
        variable.assign(value.astype(variable.dtype))
    return model
