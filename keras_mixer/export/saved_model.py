"""Versioned SavedModels for TF Serving, with named signatures, written atomically."""

import os

import keras

from keras_mixer.export.backend_subprocess import run_under_backend
from keras_mixer.export.eval_policy import eval_policy_for
from keras_mixer.export.signatures import check_classifier
from keras_mixer.export.signatures import check_labels
from keras_mixer.export.signatures import check_top_k
from keras_mixer.export.signatures import write_serving_archive
from keras_mixer.fusion import fuse_for_inference
from keras_mixer.staging import staged


def next_version(base_dir):
    """The next free numeric version under `base_dir` (1 for a new folder)."""
    if not os.path.isdir(base_dir):
        return 1
    versions = [int(entry) for entry in os.listdir(base_dir) if entry.isdigit()]
    return max(versions, default=0) + 1


def _check_version(version):
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValueError(f"version={version!r} is not supported; expected a positive integer.")
    return version


def export_saved_model(
    model, base_dir, version=None, top_k=5, labels=None, crop_ratio=None, fuse=True
):
    """Writes `model` to `base_dir/<version>/` as a TF Serving SavedModel.

    Signatures, each for any batch size (details in `keras_mixer.export.signatures`):
    `serving_default` takes `images`, float32 0-255 pixels of the model's size;
    `serving_uint8` the same as uint8; `serving_bytes` takes `image_bytes`,
    encoded JPEG/PNG strings, decoded, resized and centre-cropped in the graph
    by the model family's evaluation policy (ResMLP crop ratio 0.9, MLP-Mixer
    0.875, or `crop_ratio`). All return `probabilities`, `top_k_classes`,
    `top_k_scores` and, given `labels` (one string per class), `top_k_labels`.

    `version` None takes the next free one. The export is written to a hidden
    folder beside the target and renamed into place, so a server watching
    `base_dir` never sees a half-written version, and a failed export leaves
    nothing behind. An existing version is never overwritten (ValueError).

    With `fuse` (the default) the export is `keras_mixer.fuse_for_inference(model)`:
    the same outputs (to ~1e-7) with per-channel maps folded into the linear
    maps and RepMLP blocks re-parameterised, so serving runs fewer operations.

    Works from every backend: TensorFlow and JAX through keras' ExportArchive;
    torch by rebuilding the model from its config and weights under the
    TensorFlow backend in a subprocess (Keras 3.15 cannot export from torch).

    Example:

    >>> import tempfile, keras_mixer
    >>> model = keras_mixer.ResMLP(patch_size=4, embed_dim=16, depth=1,
    ...                            input_shape=(16, 16, 3), classes=10)
    >>> path = keras_mixer.export.export_saved_model(model, tempfile.mkdtemp() + "/resmlp")
    >>> path.endswith("/resmlp/1")
    True

    Returns:
        The path of the written version folder.
    """
    classes = check_classifier(model)
    labels = check_labels(labels, classes)
    check_top_k(top_k)
    eval_policy_for(model, crop_ratio)
    if fuse:
        model = fuse_for_inference(model)
    version = next_version(base_dir) if version is None else _check_version(version)
    target = os.path.join(base_dir, str(version))
    arguments = {"labels": labels, "top_k": top_k, "crop_ratio": crop_ratio}
    with staged(target) as staging:
        if keras.config.backend() in ("tensorflow", "jax"):
            write_serving_archive(model, staging, **arguments)
        else:
            run_under_backend("tensorflow", "saved_model", model, path=staging, **arguments)
    return target
