"""TFLite (LiteRT) flatbuffers, converted from a serving signature of a TensorFlow-built export."""

import os
import tempfile

import keras
import numpy as np

from keras_mixer.export.backend_subprocess import run_under_backend
from keras_mixer.staging import staged

TFLITE_SIGNATURES = ("serving_default", "serving_uint8")


def saved_model_to_tflite(saved_model_dir, path, signature="serving_default"):
    """Converts an image signature of a TensorFlow-built export to a `.tflite` file.

    The file has one signature, named as in the export, with the same names:
    input `images`, outputs `probabilities`, `top_k_classes`, `top_k_scores` (and
    `top_k_labels` if the export has labels); any batch size. Written
    atomically; an existing `path` is never overwritten.
    """
    import tensorflow as tf

    if signature not in TFLITE_SIGNATURES:
        raise ValueError(
            f"signature={signature!r} is not supported for TFLite; expected one of "
            f"{TFLITE_SIGNATURES} (string decoding has no TFLite kernel)."
        )
    if os.path.exists(path):
        raise ValueError(f"{path!r} already exists; exports are never overwritten.")
    converter = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir, signature_keys=[signature])
    flatbuffer = converter.convert()
    with staged(path) as staging:
        with open(staging, "wb") as handle:
            handle.write(flatbuffer)
    return path


def export_tflite(model, path, signature="serving_default", **saved_model_arguments):
    """Exports `model` (any backend) to a `.tflite` file through a temporary SavedModel.

    `saved_model_arguments` (`top_k`, `labels`, `crop_ratio`) are those of
    `export_saved_model`. The SavedModel is built by the TensorFlow backend
    (in a subprocess from JAX or torch: a JAX-built export holds an XLA call
    that TFLite cannot convert).

    Example:

    >>> import tempfile, keras_mixer
    >>> model = keras_mixer.ResMLP(patch_size=4, embed_dim=16, depth=1,
    ...                            input_shape=(16, 16, 3), classes=10)
    >>> keras_mixer.export.export_tflite(model, tempfile.mkdtemp() + "/resmlp.tflite")[-7:]
    '.tflite'
    """
    from keras_mixer.export.saved_model import export_saved_model

    if os.path.exists(path):
        raise ValueError(f"{path!r} already exists; exports are never overwritten.")
    if keras.config.backend() != "tensorflow":
        run_under_backend("tensorflow", "tflite", model, path=path, signature=signature, **saved_model_arguments)
        return path
    with tempfile.TemporaryDirectory(prefix="keras_mixer-tflite-") as folder:
        saved_model_dir = export_saved_model(model, os.path.join(folder, "model"), **saved_model_arguments)
        return saved_model_to_tflite(saved_model_dir, path, signature)
