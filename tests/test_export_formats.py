"""`keras-mixer export` end to end, with its TFLite and ONNX files checked by their own runtimes."""

import os

import keras
import numpy as np
import pytest
from conftest import randomize_weights
from conftest import random_images
from conftest import relative_error

import keras_mixer
from keras_mixer.cli import main

# TFLite converts the TensorFlow SavedModel and ONNX traces the model under
# torch, so the backend a model comes from only changes how its SavedModel is
# written: that is tested on every backend in test_export_saved_model.py.
# These end-to-end runs cover the TensorFlow and torch passes.
pytestmark = pytest.mark.skipif(
    keras.config.backend() == "jax",
    reason="TFLite and ONNX conversion run under TensorFlow and torch; see the module comment",
)

SIZE = 32
LABELS = ["cat", "dog", "bird", "fish"]
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def cli_export(tmp_path_factory):
    """One `keras-mixer export` run writing a SavedModel, a .tflite and a .onnx file."""
    keras.utils.set_random_seed(0)
    folder = tmp_path_factory.mktemp("cli")
    model = keras_mixer.MLPMixer(
        patch_size=4, embed_dim=16, depth=2, token_mixing_dim=8, channel_mixing_dim=32,
        input_shape=(SIZE, SIZE, 3), classes=len(LABELS),
    )
    randomize_weights(model, scale=0.2)
    model_file = str(folder / "mixer.keras")
    model.save(model_file)
    (folder / "labels.txt").write_text("\n".join(LABELS) + "\n")
    base_dir = folder / "saved_models" / "mixer"
    (base_dir / "1").mkdir(parents=True)
    arguments = [
        "export", model_file, str(base_dir), "--labels", str(folder / "labels.txt"), "--top-k", "2",
        "--tflite", str(folder / "mixer.tflite"), "--onnx", str(folder / "mixer.onnx"), "--onnx-batch-size", "3",
    ]
    assert main(arguments) == 0
    images = random_images((3, SIZE, SIZE, 3), seed=4)
    return {
        "folder": folder,
        "base_dir": base_dir,
        "model_file": model_file,
        "images": images,
        "probabilities": keras.ops.convert_to_numpy(model.predict(images, verbose=0)),
    }


def test_cli_writes_the_next_version_with_labels(cli_export):
    tf = pytest.importorskip("tensorflow")
    assert sorted(os.listdir(cli_export["base_dir"])) == ["1", "2"]
    serving = tf.saved_model.load(str(cli_export["base_dir"] / "2")).signatures["serving_uint8"]
    outputs = serving(images=tf.constant(cli_export["images"].astype("uint8")))
    assert relative_error(outputs["probabilities"], cli_export["probabilities"]) <= TOLERANCE
    best = cli_export["probabilities"].argmax(-1)
    assert outputs["top_k_labels"].shape == (3, 2)
    assert [label.decode() for label in outputs["top_k_labels"].numpy()[:, 0]] == [LABELS[i] for i in best]


def test_tflite_matches_the_keras_model(cli_export):
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(cli_export["folder"] / "mixer.tflite"))
    assert interpreter.get_signature_list() == {
        "serving_default": {
            "inputs": ["images"],
            "outputs": ["probabilities", "top_k_classes", "top_k_labels", "top_k_scores"],
        }
    }
    runner = interpreter.get_signature_runner("serving_default")
    for batch in (1, 3):
        outputs = runner(images=cli_export["images"][:batch])
        expected = cli_export["probabilities"][:batch]
        assert relative_error(outputs["probabilities"], expected) <= TOLERANCE
        np.testing.assert_array_equal(outputs["top_k_classes"][:, 0], expected.argmax(-1))


def test_onnx_matches_the_keras_model(cli_export):
    import onnxruntime

    session = onnxruntime.InferenceSession(str(cli_export["folder"] / "mixer.onnx"))
    (image_input,) = session.get_inputs()
    assert (image_input.name, image_input.type, image_input.shape) == ("images", "tensor(float)", [3, SIZE, SIZE, 3])
    assert [output.name for output in session.get_outputs()] == ["probabilities"]
    (probabilities,) = session.run(None, {"images": cli_export["images"]})
    assert relative_error(probabilities, cli_export["probabilities"]) <= TOLERANCE


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["missing.keras", "out"], "Model file 'missing.keras' does not exist"),
        (["{model}", "out", "--labels", "missing.txt"], "labels file 'missing.txt' does not exist"),
        (["{model}", "out", "--labels", "{labels}"], "5 labels were given for a model with 4 classes"),
        (["{model}", "out", "--onnx", "{model}"], "already exists"),
        (["{model}", "out", "--onnx", "dynamic.onnx"], "cannot trace with a dynamic batch axis; pass a fixed batch_size"),
    ],
)
def test_cli_errors_are_one_line(cli_export, capsys, monkeypatch, arguments, message):
    monkeypatch.chdir(cli_export["folder"])
    (cli_export["folder"] / "short.txt").write_text("\n".join(LABELS[:3] + ["x", "y"]))
    labels = str(cli_export["folder"] / "short.txt")
    filled = [argument.format(model=cli_export["model_file"], labels=labels) for argument in arguments]
    assert main(["export"] + filled) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and message in error
    assert not (cli_export["folder"] / "out").exists()
    assert not list(cli_export["folder"].glob("*.onnx.*")) and not (cli_export["folder"] / "x.onnx").exists()
