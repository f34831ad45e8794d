"""ONNX export, done from the torch backend (a subprocess when the model lives elsewhere)."""

import keras

from keras_mixer.export.backend_subprocess import run_under_backend
from keras_mixer.export.signatures import check_classifier
from keras_mixer.export.staging import staged


def write_onnx(model, path):
    """Writes `model` as ONNX at `path` from the torch backend.

    Input `images` float32 `(batch, H, W, C)` 0-255 pixels with a dynamic
    batch axis; output `probabilities`.
    """
    import onnx

    spec = keras.InputSpec(shape=(None,) + tuple(model.input_shape[1:]), dtype="float32", name="images")
    model.export(path, format="onnx", input_signature=[spec], verbose=False)
    graph = onnx.load(path)
    (output,) = graph.graph.output
    if output.name != "probabilities":
        for node in graph.graph.node:
            node.output[:] = ["probabilities" if name == output.name else name for name in node.output]
        output.name = "probabilities"
        onnx.save(graph, path)


def export_onnx(model, path):
    """Exports `model` (any backend) to an ONNX file at `path`.

    Keras exports ONNX dependably from the torch backend (TorchScript
    exporter); from TensorFlow or JAX the model is rebuilt from its config
    and weights under torch in a subprocess. Written atomically; an existing
    `path` is never overwritten.

    Example:

    >>> import tempfile, keras_mixer
    >>> model = keras_mixer.ResMLP(patch_size=4, embed_dim=16, depth=1,
    ...                            input_shape=(16, 16, 3), classes=10)
    >>> keras_mixer.export.export_onnx(model, tempfile.mkdtemp() + "/resmlp.onnx")[-5:]
    '.onnx'
    """
    check_classifier(model)
    with staged(path) as staging:
        if keras.config.backend() == "torch":
            write_onnx(model, staging)
        else:
            run_under_backend("torch", "onnx", model, path=staging)
    return path
