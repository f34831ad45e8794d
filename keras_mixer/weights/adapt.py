"""Checking a checkpoint against a model, weight by weight, before anything is assigned.

Shapes that match are taken as they are. Token-mixing weights whose token
axes differ are resampled to the model's patch grid (`resample.py`). A head
whose class count differs, or a head the checkpoint lacks altogether (a
backbone), is left as the model initialised it, with a log line. Anything
else is collected into one ValueError naming the key, the shape expected and
the shape found.
"""

import logging
import re

from keras_mixer.introspection import patch_grid
from keras_mixer.weights.layouts import describe
from keras_mixer.weights.resample import resample_token_weight

logger = logging.getLogger("keras_mixer")

# Keys in both spellings: variable paths (`block_0/token_mixing/fc1/kernel`)
# and `.weights.h5` dataset paths (`layers/mixer_block/token_mixing/fc1/vars/0`).
# gMLP's token map is the S x S `proj` of the gate inside its channel MLP.
TOKEN_KEY = re.compile(
    r"(?:token_mixing/(linear|fc1|fc2)|channel_mixing/gate/(proj))/(kernel|bias|vars/0|vars/1)$"
)
HEAD_KEY = re.compile(r"^(head|layers/head|layers/dense(_\d+)?)/(kernel|bias|vars/[01])$")
H5_WEIGHT_NAMES = {"vars/0": "kernel", "vars/1": "bias"}


def role(key):
    """("token", layer, weight), ("head",) or None for any other weight."""
    match = TOKEN_KEY.search(key)
    if match:
        weight = match.group(3)
        return "token", match.group(1) or match.group(2), H5_WEIGHT_NAMES.get(weight, weight)
    return ("head",) if HEAD_KEY.match(key) else None


def adapt_checkpoint(model, found, expected, path, errors=()):
    """Returns `{key: array}` to assign to `model`, or raises without assigning.

    Only models with token-mixing weights (a patch "stem") are asked for
    their patch grid, when one of those weights needs resampling.

    Args:
        model: the model, for its name and patch grid.
        found: `{key: (label, array)}` from the checkpoint, keys in the same
            spelling as `expected`; `label` names the weight in messages.
        expected: `{key: shape}` of the model's weights.
        path: the checkpoint, for messages.
        errors: mismatches found before (missing keys), reported first.
    """
    adapted, errors, head = {}, list(errors), []
    head_keys = [key for key in expected if role(key) == ("head",)]
    headless = bool(head_keys) and not any(key in found for key in head_keys)
    for key, shape in expected.items():
        if key not in found:
            if not (headless and key in head_keys):
                errors.append(f"{key}: expected shape {shape}, missing from the checkpoint")
            continue
        label, array = found[key]
        kind = role(key)
        if array.shape == tuple(shape):
            adapted[key] = array
        elif kind and kind[0] == "token":
            try:
                adapted[key] = resample_token_weight(array, kind[1], kind[2], shape, patch_grid(model))
            except ValueError as error:
                errors.append(f"{label}: expected shape {shape}, found {array.shape} ({error})")
        elif kind == ("head",) and array.shape[:-1] == tuple(shape)[:-1]:
            head.append(key)
        else:
            errors.append(f"{label}: expected shape {shape}, found {array.shape}")
    errors += [
        f"{label}: found shape {array.shape}, which model {model.name!r} has no place for"
        for key, (label, array) in found.items()
        if key not in expected and role(key) != ("head",)
    ]
    if errors:
        raise ValueError(
            f"Checkpoint {path!r} does not match model {model.name!r} (built for "
            f"input {model.input_shape[1:]} and output {model.output_shape[1:]}): "
            f"{describe(errors)}. Nothing was loaded."
        )
    if headless:
        logger.warning(
            "%s has no classifier head (a backbone); the body is loaded and the head of "
            "model %r keeps its fresh initialisation.", path, model.name,
        )
    if head:
        classes = [found[key][1].shape[-1] for key in head][0]
        logger.warning(
            "%s: the checkpoint's head has %d classes and model %r has %d; the "
            "body is loaded and the head keeps its fresh initialisation.",
            path, classes, model.name, model.output_shape[-1],
        )
        for key in expected:
            if role(key) == ("head",):
                adapted.pop(key, None)
    resampled = sorted({key for key in adapted if found[key][1].shape != adapted[key].shape})
    if resampled:
        logger.info(
            "%s: %d token-mixing weights resampled to the %dx%d patch grid.",
            path, len(resampled), *patch_grid(model),
        )
    return adapted
