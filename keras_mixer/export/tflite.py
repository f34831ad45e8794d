"""TFLite (LiteRT) flatbuffers, converted from the serving SavedModel."""

import os
import tempfile

from keras_mixer.export.staging import staged

TFLITE_SIGNATURES = ("serving_default", "serving_uint8")


def saved_model_to_tflite(saved_model_dir, path, signature="serving_default"):
    """Converts one image signature of an export to a `.tflite` file at `path`.

    The file keeps the signature's names: input `images`, outputs
    `probabilities`, `top_k_classes`, `top_k_scores` (and `top_k_labels` if the
    export has labels). Any batch size: resize the interpreter's input.
    Written atomically; an existing `path` is never overwritten.
    """
    import tensorflow as tf

    if signature not in TFLITE_SIGNATURES:
        raise ValueError(
            f"signature={signature!r} is not supported for TFLite; expected one of "
            f"{TFLITE_SIGNATURES} (string decoding has no TFLite kernel)."
        )
    converter = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir, signature_keys=[signature])
    flatbuffer = converter.convert()
    with staged(path) as staging:
        with open(staging, "wb") as handle:
            handle.write(flatbuffer)
    return path


def export_tflite(model, path, signature="serving_default", **saved_model_arguments):
    """Exports `model` (any backend) to a `.tflite` file through a temporary SavedModel.

    `saved_model_arguments` (`top_k`, `labels`, `crop_ratio`) are those of
    `export_saved_model`.

    Example:

    >>> import tempfile, keras_mixer
    >>> model = keras_mixer.ResMLP(patch_size=4, embed_dim=16, depth=1,
    ...                            input_shape=(16, 16, 3), classes=10)
    >>> keras_mixer.export.export_tflite(model, tempfile.mkdtemp() + "/resmlp.tflite")[-7:]
    '.tflite'
    """
    from keras_mixer.export.saved_model import export_saved_model

    with tempfile.TemporaryDirectory(prefix="keras_mixer-tflite-") as folder:
        saved_model_dir = export_saved_model(model, os.path.join(folder, "model"), **saved_model_arguments)
        return saved_model_to_tflite(saved_model_dir, path, signature)
