"""TFLite (LiteRT) flatbuffers, converted from a serving signature of a TensorFlow-built export.

Keras' TensorFlow `ops.add` turns the token-mixing bias (shape `(S, 1)`) into a
`BiasAdd` with `data_format="NCHW"` on a rank-3 tensor, which the TFLite
converter cannot legalise (it emits a rank-4 transpose). So the signature is
frozen, each such `BiasAdd` is rewritten as the equivalent `AddV2` with the
bias reshaped to a column, and the rewritten graph is converted. The result
is checked against the Keras model by the tests.
"""

import os
import tempfile

import keras
import numpy as np

from keras_mixer.export.backend_subprocess import run_under_backend
from keras_mixer.export.staging import staged

TFLITE_SIGNATURES = ("serving_default", "serving_uint8")


def _rewrite_nchw_bias_adds(graph_def):
    """Replaces every rank-3 NCHW `BiasAdd(x, b)` by `AddV2(x, reshape(b, (-1, 1)))`."""
    import tensorflow as tf

    added = []
    for node in graph_def.node:
        if node.op != "BiasAdd" or node.attr["data_format"].s != b"NCHW":
            continue
        shape = tf.compat.v1.NodeDef(name=f"{node.name}/column_shape", op="Const")
        shape.attr["dtype"].type = tf.int32.as_datatype_enum
        shape.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(np.array([-1, 1], "int32")))
        column = tf.compat.v1.NodeDef(name=f"{node.name}/column", op="Reshape", input=[node.input[1], shape.name])
        column.attr["T"].CopyFrom(node.attr["T"])
        column.attr["Tshape"].type = tf.int32.as_datatype_enum
        node.op = "AddV2"
        del node.attr["data_format"]
        node.input[1] = column.name
        added += [shape, column]
    graph_def.node.extend(added)
    return graph_def


def saved_model_to_tflite(saved_model_dir, path, signature="serving_default"):
    """Converts an image signature of a TensorFlow-built export to a `.tflite` file.

    The file has one signature, `serving_default`, with the same names: input
    `images`, outputs `probabilities`, `top_k_classes`, `top_k_scores` (and
    `top_k_labels` if the export has labels); any batch size. Written
    atomically; an existing `path` is never overwritten.
    """
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    if signature not in TFLITE_SIGNATURES:
        raise ValueError(
            f"signature={signature!r} is not supported for TFLite; expected one of "
            f"{TFLITE_SIGNATURES} (string decoding has no TFLite kernel)."
        )
    if os.path.exists(path):
        raise ValueError(f"{path!r} already exists; exports are never overwritten.")
    loaded = tf.saved_model.load(saved_model_dir)  # keeps the variables alive while freezing
    function = loaded.signatures[signature]
    frozen = convert_variables_to_constants_v2(function)
    graph_def = _rewrite_nchw_bias_adds(frozen.graph.as_graph_def())
    imported = tf.compat.v1.wrap_function(lambda: tf.compat.v1.import_graph_def(graph_def, name=""), [])
    # A signature's outputs are flattened in sorted-key order.
    outputs = {
        name: imported.graph.get_tensor_by_name(tensor.name)
        for name, tensor in zip(sorted(function.structured_outputs), frozen.outputs)
    }
    pruned = imported.prune([imported.graph.get_tensor_by_name(frozen.inputs[0].name)], outputs)
    (image_spec,) = function.structured_input_signature[1].values()
    serve = tf.function(lambda images: pruned(images), input_signature=[image_spec])
    converter = tf.lite.TFLiteConverter.from_concrete_functions([serve.get_concrete_function()], loaded)
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
