"""Versioned SavedModels for TF Serving, with named signatures, written atomically."""

import os
import shutil
import tempfile

import keras


def next_version(base_dir):
    """The next free numeric version under `base_dir` (1 for a new folder)."""
    if not os.path.isdir(base_dir):
        return 1
    versions = [int(entry) for entry in os.listdir(base_dir) if entry.isdigit()]
    return max(versions, default=0) + 1


def _serving_function(model, top_k):
    def serve(images):
        probabilities = model(keras.ops.cast(images, "float32"), training=False)
        scores, classes = keras.ops.top_k(probabilities, k=top_k)
        return {
            "probabilities": probabilities,
            "top_k_classes": keras.ops.cast(classes, "int32"),
            "top_k_scores": scores,
        }

    return serve


def export_saved_model(model, base_dir, version=None, top_k=5):
    """Writes `model` to `base_dir/<version>/` as a TF Serving SavedModel.

    The `serving_default` signature takes `images`, a float32 batch of
    0-255 pixels of the model's input size (any batch size), and returns
    `probabilities`, `top_k_classes` and `top_k_scores`. The export is written
    to a temporary folder beside the target and renamed into place, so a
    server watching `base_dir` never sees a half-written version and a failed
    export leaves nothing behind. An existing version is never overwritten.

    Example:

    >>> import tempfile, keras_mixer
    >>> model = keras_mixer.ResMLP(patch_size=4, embed_dim=32, depth=1,
    ...                            input_shape=(16, 16, 3), classes=10)
    >>> path = keras_mixer.export.export_saved_model(
    ...     model, tempfile.mkdtemp() + "/resmlp")  # doctest: +ELLIPSIS
    Saved artifact at ...
    >>> path.endswith("/resmlp/1")
    True

    Returns:
        The path of the written version folder.
    """
    import tensorflow as tf

    if keras.config.backend() not in ("tensorflow", "jax"):
        raise ValueError(
            f"SavedModel export needs the tensorflow or jax backend, not "
            f"{keras.config.backend()!r}."
        )
    version = next_version(base_dir) if version is None else int(version)
    target = os.path.join(base_dir, str(version))
    if os.path.exists(target):
        raise ValueError(f"Version {version} already exists at {target!r}; it is never overwritten.")
    classes = model.output_shape[-1]
    top_k = min(int(top_k), classes)
    os.makedirs(base_dir, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=f".{version}-incomplete-", dir=base_dir)
    try:
        archive = keras.export.ExportArchive()
        archive.track(model)
        archive.add_endpoint(
            "serving_default",
            _serving_function(model, top_k),
            input_signature=[
                tf.TensorSpec((None,) + tuple(model.input_shape[1:]), tf.float32, name="images")
            ],
        )
        archive.write_out(staging)
        os.rename(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target
