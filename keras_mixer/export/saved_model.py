"""Versioned SavedModels for TF Serving, with named signatures, written atomically."""

import keras

from keras_mixer.export.backend_subprocess import run_under_backend
from keras_mixer.export.eval_policy import eval_policy_for
from keras_mixer.export.signatures import check_classifier
from keras_mixer.export.signatures import check_labels
from keras_mixer.export.signatures import check_top_k
from keras_mixer.export.signatures import write_serving_archive
from keras_mixer.rewrites import fuse_for_inference
from keras_mixer.staging import staged_version


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

    `version` None takes the next free one at the end of the export (two
    processes exporting into one folder at once get different versions). The
    export is written to a hidden folder beside the target and renamed into
    place, so a server watching `base_dir` never sees a half-written version,
    a failed export leaves nothing behind, and a killed one leaves a hidden
    folder that the next export removes. An existing version is never
    overwritten (ValueError). A `base_dir` that cannot be written (empty, a
    file, inside a file, read-only) is a ValueError before any work.

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
    arguments = {"labels": labels, "top_k": top_k, "crop_ratio": crop_ratio}
    with staged_version(base_dir, version) as staging:
        if fuse:
            model = fuse_for_inference(model)
        if keras.config.backend() in ("tensorflow", "jax"):
            write_serving_archive(model, staging.path, **arguments)
        else:
            run_under_backend("tensorflow", "saved_model", model, path=staging.path, **arguments)
    return staging.target
