"""ONNX export, done from the torch backend (a subprocess when the model lives elsewhere)."""

import keras

from keras_mixer.arguments import optional_positive_int
from keras_mixer.export.backend_subprocess import run_under_backend
from keras_mixer.export.signatures import check_classifier
from keras_mixer.staging import staged


def write_onnx(model, path, batch_size=None):
    """Writes `model` as ONNX at `path` from the torch backend.

    Input `images` float32 `(batch, H, W, C)` 0-255 pixels (batch dynamic when
    `batch_size` is None); output `probabilities`.
    """
    import warnings

    import onnx
    import torch

    spec = keras.InputSpec(shape=(batch_size,) + tuple(model.input_shape[1:]), dtype="float32", name="images")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)  # Keras' shape checks, traced as constants
        model.export(path, format="onnx", input_signature=[spec], verbose=False)
    graph = onnx.load(path)
    (output,) = graph.graph.output
    if output.name != "probabilities":
        for node in graph.graph.node:
            node.output[:] = ["probabilities" if name == output.name else name for name in node.output]
        output.name = "probabilities"
        onnx.save(graph, path)


def check_onnx_batch_size(model, batch_size):
    """Raises a ValueError if `model` cannot be exported to ONNX with `batch_size`."""
    if batch_size is None:
        # Keras 3.15 traces LayerNormalization on torch with F.layer_norm, whose
        # normalized_shape becomes a traced value once the batch axis is dynamic.
        if any(isinstance(layer, keras.layers.LayerNormalization) for layer in model.layers):
            raise ValueError(
                f"Model {model.name!r} has LayerNormalization layers, which Keras' torch ONNX "
                f"exporter cannot trace with a dynamic batch axis; pass a fixed batch_size."
            )
    else:
        optional_positive_int("batch_size", batch_size)


def export_onnx(model, path, batch_size=None):
    """Exports `model` (any backend) to an ONNX file at `path`.

    `batch_size` None gives a dynamic batch axis (ResMLP); MLP-Mixer, whose
    LayerNorm Keras cannot trace that way, needs a fixed `batch_size`.

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
    check_onnx_batch_size(model, batch_size)
    with staged(path) as staging:
        if keras.config.backend() == "torch":
            write_onnx(model, staging, batch_size)
        else:
            run_under_backend("torch", "onnx", model, path=staging, batch_size=batch_size)
    return path
