"""SavedModel export for TF Serving, checked the way a server and its clients use it.

One small ResMLP is exported once per module (SavedModel export costs
seconds; from torch it runs in a TensorFlow subprocess) and shared by the tests.
"""

import base64
import io
import json
import os
import subprocess
import sys
import threading

import keras
import numpy as np
import pytest
from conftest import randomize_weights
from conftest import random_images
from conftest import relative_error
from PIL import Image

import keras_mixer
from keras_mixer.export import eval_policy_for
from keras_mixer.export import export_saved_model
from keras_mixer.export import next_version

tf = pytest.importorskip("tensorflow")

SIZE = 32
CLASSES = 5
TOP_K = 3
LABELS = ["zero", "one", "two", "three", "four"]
IMAGE_SIGNATURES = ("serving_default", "serving_uint8")
OUTPUTS = {"probabilities", "top_k_classes", "top_k_scores", "top_k_labels"}
TOLERANCE = 1e-5


def small_resmlp(**kwargs):
    model = keras_mixer.ResMLP(
        patch_size=4, embed_dim=16, depth=2, input_shape=(SIZE, SIZE, 3), classes=CLASSES, **kwargs
    )
    return randomize_weights(model, scale=0.2)


def keras_probabilities(model, images):
    return keras.ops.convert_to_numpy(model.predict(np.asarray(images, "float32"), verbose=0))


def encode(image, image_format="PNG"):
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(image, "uint8")).save(buffer, format=image_format)
    return buffer.getvalue()


def check_outputs(outputs, expected_probabilities):
    """`outputs` of a serving signature against the Keras model's probabilities."""
    probabilities = np.asarray(outputs["probabilities"])
    assert relative_error(probabilities, expected_probabilities) <= TOLERANCE
    expected_classes = np.argsort(-expected_probabilities, axis=-1)[:, :TOP_K]
    np.testing.assert_array_equal(np.asarray(outputs["top_k_classes"]), expected_classes)
    np.testing.assert_allclose(
        np.asarray(outputs["top_k_scores"]),
        np.take_along_axis(expected_probabilities, expected_classes, -1),
        atol=TOLERANCE,
    )
    if "top_k_labels" in outputs:
        labels = [
            [label.decode() if isinstance(label, bytes) else label for label in row]
            for row in np.asarray(outputs["top_k_labels"]).tolist()
        ]
        assert labels == [[LABELS[index] for index in row] for row in expected_classes]
    else:
        assert set(outputs) == OUTPUTS - {"top_k_labels"}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    keras.utils.set_random_seed(0)
    model = small_resmlp()
    base_dir = str(tmp_path_factory.mktemp("saved_models") / "resmlp")
    path = export_saved_model(model, base_dir, top_k=TOP_K, labels=LABELS)
    images = random_images((3, SIZE, SIZE, 3), seed=1)
    return {
        "model": model,
        "base_dir": base_dir,
        "path": path,
        "images": images,
        "probabilities": keras_probabilities(model, images),
    }


@pytest.fixture(scope="module")
def loaded(exported):
    return tf.saved_model.load(exported["path"])


def test_layout_is_tf_servings(exported):
    assert keras_mixer.export_saved_model is export_saved_model
    assert exported["path"] == os.path.join(exported["base_dir"], "1")
    assert sorted(os.listdir(exported["base_dir"])) == ["1"]
    assert os.path.isfile(os.path.join(exported["path"], "saved_model.pb"))
    assert os.path.isdir(os.path.join(exported["path"], "variables"))


def test_next_version_skips_non_numeric_entries(tmp_path):
    assert next_version(str(tmp_path / "missing")) == 1
    for name in ("1", "7", "latest", ".3-incomplete-x", "\u00b2"):
        (tmp_path / name).mkdir()
    assert next_version(str(tmp_path)) == 8


def test_existing_version_is_never_overwritten(exported):
    marker = os.path.join(exported["path"], "saved_model.pb")
    before = os.path.getmtime(marker)
    with pytest.raises(ValueError, match="already exists"):
        export_saved_model(exported["model"], exported["base_dir"], version=1)
    assert os.path.getmtime(marker) == before


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"labels": ["a", "b"]}, "2 labels were given for a model with 5 classes"),
        ({"labels": "abcde"}, "expected a list of 5 strings"),
        ({"top_k": 0}, "top_k=0"),
        ({"version": 0}, "version=0"),
        ({"crop_ratio": 1.5}, "crop_ratio=1.5"),
    ],
)
def test_bad_arguments_raise_before_writing(exported, tmp_path, arguments, message):
    with pytest.raises(ValueError, match=message):
        export_saved_model(exported["model"], str(tmp_path / "model"), **arguments)
    assert os.listdir(tmp_path) == []


def test_failed_export_leaves_nothing(exported, tmp_path, monkeypatch):
    def half_write(model, path, **arguments):
        os.makedirs(os.path.join(path, "variables"))
        with open(os.path.join(path, "saved_model.pb"), "wb") as handle:
            handle.write(b"partial")
        raise OSError("disk full")

    import keras_mixer.export.saved_model as saved_model_module

    monkeypatch.setattr(saved_model_module, "write_serving_archive", half_write)
    monkeypatch.setattr(saved_model_module, "run_under_backend", lambda backend, step, model, **a: half_write(model, **a))
    base_dir = tmp_path / "model"
    with pytest.raises(OSError, match="disk full"):
        export_saved_model(exported["model"], str(base_dir))
    assert os.listdir(base_dir) == []  # the base folder is kept: another export may be using it
    (base_dir / "1").mkdir(parents=True)
    with pytest.raises(OSError, match="disk full"):
        export_saved_model(exported["model"], str(base_dir))
    assert sorted(os.listdir(base_dir)) == ["1"]


def test_model_without_preprocessing_is_refused(tmp_path):
    model = keras_mixer.ResMLP(
        patch_size=4, embed_dim=8, depth=1, input_shape=(16, 16, 3), classes=3, include_preprocessing=False
    )
    with pytest.raises(ValueError, match="include_preprocessing=True"):
        export_saved_model(model, str(tmp_path / "model"))
    features = keras_mixer.ResMLP(patch_size=4, embed_dim=8, depth=1, input_shape=(16, 16, 3), include_top=False)
    with pytest.raises(ValueError, match="image classifier"):
        export_saved_model(features, str(tmp_path / "model"))
    pooled = keras_mixer.ResMLP(
        patch_size=4, embed_dim=8, depth=1, input_shape=(16, 16, 3), include_top=False, pooling="avg"
    )
    with pytest.raises(ValueError, match=r"ends in 'features'.*features \(include_top=False\), not class probabilities"):
        export_saved_model(pooled, str(tmp_path / "model"))
    with pytest.raises(ValueError, match="include_top=False"):
        keras_mixer.export.export_onnx(pooled, str(tmp_path / "features.onnx"))
    assert os.listdir(tmp_path) == []


def test_eval_policy_follows_the_family():
    resmlp = keras_mixer.ResMLP(patch_size=4, embed_dim=8, depth=1, input_shape=(32, 32, 3))
    mixer = keras_mixer.MLPMixer(
        patch_size=4, embed_dim=8, depth=1, token_mixing_dim=4, channel_mixing_dim=8, input_shape=(32, 48, 3)
    )
    repmlpnet = keras_mixer.RepMLPNet(channels=(8, 16), depths=(1, 1), sharesets=(1, 4),
                                      partition_sizes=(4, 2), input_shape=(32, 32, 3))
    assert eval_policy_for(resmlp).crop_ratio == 0.9
    assert eval_policy_for(mixer).crop_ratio == 0.875
    # RepMLPNet's own transform (official test.py), not ResMLP's: it shares
    # ResMLP's normalisation, which is what used to be guessed from.
    assert eval_policy_for(repmlpnet) == keras_mixer.export.EvalPolicy(32, 32, 1.0, "bilinear")
    assert eval_policy_for(keras_mixer.reparameterize(repmlpnet)).crop_ratio == 1.0
    plain = keras.Model(resmlp.inputs, resmlp.outputs)  # the graph without its spec
    with pytest.raises(ValueError, match="is not a keras_mixer model"):
        eval_policy_for(plain)
    assert eval_policy_for(resmlp, crop_ratio=1.0).crop_ratio == 1.0
    assert eval_policy_for(resmlp).resize_shape(480, 640) == (35, 46)
    assert eval_policy_for(mixer).resize_shape(480, 640) == (36, 54)
    assert keras_mixer.export.EvalPolicy(224, 224, 0.875).resize_shape(300, 200) == (384, 256)


def test_tensorflow_only_process_runs_every_signature(exported, tmp_path):
    images = exported["images"]
    np.save(tmp_path / "float.npy", images)
    np.save(tmp_path / "uint8.npy", images.astype("uint8"))
    png_paths = []
    for index, image in enumerate(images.astype("uint8")):
        png_paths.append(str(tmp_path / f"{index}.png"))
        Image.fromarray(np.pad(image, ((1, 2), (1, 2), (0, 0)), mode="edge")).save(png_paths[-1])
    inputs = {
        "serving_default": {"images": str(tmp_path / "float.npy")},
        "serving_uint8": {"images": str(tmp_path / "uint8.npy")},
        "serving_bytes": {"image_bytes": png_paths},
        "predict_probabilities": {"images": str(tmp_path / "float.npy")},
    }
    (tmp_path / "inputs.json").write_text(json.dumps(inputs))
    script = os.path.join(os.path.dirname(__file__), "serving_client_tf_only.py")
    subprocess.run(
        [sys.executable, script, exported["path"], str(tmp_path / "inputs.json"), str(tmp_path / "out.json")],
        check=True,
        capture_output=True,
        cwd=str(tmp_path),
    )
    report = json.loads((tmp_path / "out.json").read_text())
    assert not report["keras_mixer_imported"]
    image_spec = {"dtype": "float32", "shape": [None, SIZE, SIZE, 3]}
    outputs_spec = {
        "probabilities": {"dtype": "float32", "shape": [None, CLASSES]},
        "top_k_classes": {"dtype": "int32", "shape": [None, TOP_K]},
        "top_k_scores": {"dtype": "float32", "shape": [None, TOP_K]},
        "top_k_labels": {"dtype": "string", "shape": [None, TOP_K]},
    }
    assert report["signatures"] == {
        "serving_default": {"inputs": {"images": image_spec}, "outputs": outputs_spec},
        "serving_uint8": {"inputs": {"images": dict(image_spec, dtype="uint8")}, "outputs": outputs_spec},
        "serving_bytes": {"inputs": {"image_bytes": {"dtype": "string", "shape": [None]}}, "outputs": outputs_spec},
        "predict_probabilities": {
            "inputs": {"images": image_spec},
            "outputs": {"probabilities": outputs_spec["probabilities"]},
        },
    }
    for name in report["outputs"]:
        outputs = {
            key: np.reshape(values, (len(images), -1)) for key, values in report["outputs"][name].items()
        }
        if name == "predict_probabilities":
            assert relative_error(outputs["probabilities"], exported["probabilities"]) <= TOLERANCE
        else:
            check_outputs(outputs, exported["probabilities"])


def test_bytes_signature_crops_by_the_eval_policy(exported, loaded):
    # ResMLP at 32 with crop ratio 0.9: shorter side -> floor(32 / 0.9) = 35,
    # so a 35 x 50 image is not resized, only centre-cropped to rows 1:33, columns 9:41.
    photos = random_images((2, 35, 50, 3), seed=2).astype("uint8")
    outputs = loaded.signatures["serving_bytes"](image_bytes=tf.constant([encode(photo) for photo in photos]))
    check_outputs(outputs, keras_probabilities(exported["model"], photos[:, 1:33, 9:41]))


@pytest.mark.parametrize("image_format, shape", [("PNG", (20, 70)), ("JPEG", (90, 60)), ("PNG", (300, 300))])
def test_bytes_signature_resizes_any_size(exported, loaded, image_format, shape):
    color = np.array([200, 30, 90], "uint8")
    photo = np.broadcast_to(color, shape + (3,))
    outputs = loaded.signatures["serving_bytes"](image_bytes=tf.constant([encode(photo, image_format)] * 2))
    expected = keras_probabilities(exported["model"], np.broadcast_to(color, (2, SIZE, SIZE, 3)))
    tolerance = TOLERANCE if image_format == "PNG" else 1e-2
    np.testing.assert_allclose(outputs["probabilities"].numpy(), expected, atol=tolerance)


@pytest.mark.parametrize("batch", [1, 3, 7])
def test_any_batch_size_in_both_image_signatures(exported, loaded, batch):
    images = random_images((batch, SIZE, SIZE, 3), seed=batch)
    expected = keras_probabilities(exported["model"], images)
    check_outputs(loaded.signatures["serving_default"](images=tf.constant(images)), expected)
    check_outputs(loaded.signatures["serving_uint8"](images=tf.constant(images.astype("uint8"))), expected)


def test_saved_model_cli_show_and_run(exported, tmp_path):
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    shown = subprocess.run(
        [cli, "show", "--dir", exported["path"], "--all"], check=True, capture_output=True, text=True
    ).stdout
    for name in ("serving_default", "serving_uint8", "serving_bytes", "top_k_labels", "image_bytes"):
        assert name in shown
    np.save(tmp_path / "images.npy", exported["images"].astype("uint8"))
    subprocess.run(
        [
            cli, "run", "--dir", exported["path"], "--tag_set", "serve", "--signature_def", "serving_uint8",
            "--inputs", f"images={tmp_path / 'images.npy'}", "--outdir", str(tmp_path / "out"),
        ],
        check=True,
        capture_output=True,
    )
    # The string output is written as a pickled object array: never unpickled here.
    assert (tmp_path / "out" / "top_k_labels.npy").is_file()
    numeric = OUTPUTS - {"top_k_labels"}
    check_outputs({name: np.load(tmp_path / "out" / f"{name}.npy") for name in numeric}, exported["probabilities"])


def test_grpc_predict_request(exported, loaded):
    predict_pb2 = pytest.importorskip("tensorflow_serving.apis.predict_pb2")
    images = exported["images"]
    requests = {
        "serving_uint8": {"images": tf.make_tensor_proto(images.astype("uint8"))},
        "serving_bytes": {
            "image_bytes": tf.make_tensor_proto(
                [encode(np.pad(image, ((1, 2), (1, 2), (0, 0)), mode="edge")) for image in images.astype("uint8")]
            )
        },
    }
    for signature, tensors in requests.items():
        request = predict_pb2.PredictRequest()
        request.model_spec.name = "resmlp"
        request.model_spec.signature_name = signature
        for name, proto in tensors.items():
            request.inputs[name].CopyFrom(proto)
        wire = predict_pb2.PredictRequest.FromString(request.SerializeToString())
        function = loaded.signatures[wire.model_spec.signature_name]
        outputs = function(**{name: tf.constant(tf.make_ndarray(proto)) for name, proto in wire.inputs.items()})
        response = predict_pb2.PredictResponse()
        for name, tensor in outputs.items():
            response.outputs[name].CopyFrom(tf.make_tensor_proto(tensor))
        check_outputs({name: tf.make_ndarray(proto) for name, proto in response.outputs.items()}, exported["probabilities"])


def rest_to_inputs(body, function):
    """TF Serving's REST "predict" rules: row ("instances") or columnar ("inputs")
    format, a bare value per instance when the signature has one input, and
    {"b64": ...} objects for binary strings."""

    def decode(value):
        if isinstance(value, dict) and set(value) == {"b64"}:
            return base64.b64decode(value["b64"])
        if isinstance(value, list):
            return [decode(item) for item in value]
        return value

    request = json.loads(body)
    specs = function.structured_input_signature[1]
    if "instances" in request:
        rows = [decode(row) for row in request["instances"]]
        if len(specs) == 1 and not (isinstance(rows[0], dict) and set(rows[0]) == set(specs)):
            columns = {next(iter(specs)): rows}
        else:
            columns = {name: [row[name] for row in rows] for name in specs}
    else:
        columns = {name: decode(value) for name, value in request["inputs"].items()}
    return {name: tf.constant(values, dtype=specs[name].dtype) for name, values in columns.items()}


def test_rest_json_bodies(exported, loaded):
    images = exported["images"].astype("uint8")
    padded = [np.pad(image, ((1, 2), (1, 2), (0, 0)), mode="edge") for image in images]
    bodies = {
        "serving_bytes": json.dumps(
            {"signature_name": "serving_bytes", "instances": [{"b64": base64.b64encode(encode(image)).decode()} for image in padded]}
        ),
        "serving_default": json.dumps({"instances": [{"images": image.tolist()} for image in images]}),
        "serving_uint8": json.dumps({"signature_name": "serving_uint8", "inputs": {"images": images.tolist()}}),
    }
    for signature, body in bodies.items():
        function = loaded.signatures[json.loads(body).get("signature_name", "serving_default")]
        assert function is loaded.signatures[signature]
        outputs = function(**rest_to_inputs(body, function))
        response = json.dumps({"predictions": [
            {name: (tensor.numpy()[row].astype(str) if tensor.dtype == tf.string else tensor.numpy()[row]).tolist()
             for name, tensor in outputs.items()}
            for row in range(len(images))
        ]})
        predictions = json.loads(response)["predictions"]
        check_outputs({name: [row[name] for row in predictions] for name in OUTPUTS}, exported["probabilities"])


def test_onnx_with_a_dynamic_batch_axis(exported, tmp_path):
    import onnxruntime

    path = keras_mixer.export.export_onnx(exported["model"], str(tmp_path / "resmlp.onnx"))
    session = onnxruntime.InferenceSession(path)
    assert session.get_inputs()[0].shape == ["batch", SIZE, SIZE, 3]
    for batch in (1, 3):
        (probabilities,) = session.run(None, {"images": exported["images"][:batch]})
        assert relative_error(probabilities, exported["probabilities"][:batch]) <= TOLERANCE
    with pytest.raises(ValueError, match="already exists"):
        keras_mixer.export.export_onnx(exported["model"], path)


def test_concurrent_calls_give_identical_results(exported, loaded):
    function = loaded.signatures["serving_default"]
    batches = [random_images((1 + index % 4, SIZE, SIZE, 3), seed=10 + index) for index in range(8)]
    expected = [function(images=tf.constant(batch))["probabilities"].numpy() for batch in batches]
    results = {}

    def worker(thread):
        for repeat in range(4):
            index = (thread + repeat) % len(batches)
            results[(thread, repeat)] = (index, function(images=tf.constant(batches[index]))["probabilities"].numpy())

    threads = [threading.Thread(target=worker, args=(thread,)) for thread in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 32
    for index, probabilities in results.values():
        np.testing.assert_array_equal(probabilities, expected[index])
