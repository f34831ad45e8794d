"""Running an export step under another Keras backend, in a fresh Python process.

Keras 3.15 cannot write a SavedModel from the torch backend, and ONNX export
is only dependable from the torch backend. So the model is saved as a
`.keras` file (its config and weights; no pickle), loaded in a subprocess
under the backend that can do the job, and the step runs there. The layers
are the same `keras.ops` code on every backend, so the rebuilt model computes
the same function (the tests check the outputs to 1e-5).
"""

import json
import os
import subprocess
import sys
import tempfile

import keras

import keras_mixer

# The steps a subprocess may run: name -> (module, function).
STEPS = {
    "saved_model": ("keras_mixer.export.signatures", "write_serving_archive"),
    "onnx": ("keras_mixer.export.onnx", "write_onnx"),
    "tflite": ("keras_mixer.export.tflite", "export_tflite"),
}


def run_under_backend(backend, step, model, **arguments):
    """Saves `model`, then runs `STEPS[step](model, **arguments)` under `backend`.

    `arguments` must be JSON-serialisable. Raises a RuntimeError carrying the
    subprocess' last lines of output if the step fails.
    """
    with tempfile.TemporaryDirectory(prefix="keras_mixer-export-") as folder:
        model_path = os.path.join(folder, "model.keras")
        model.save(model_path)
        # The subprocess imports this same keras_mixer, wherever it was imported from.
        package_root = os.path.dirname(os.path.dirname(keras_mixer.__file__))
        python_path = os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))
        environment = dict(os.environ, KERAS_BACKEND=backend, PYTHONPATH=python_path)
        result = subprocess.run(
            [sys.executable, "-m", __name__, step, model_path, json.dumps(arguments)],
            env=environment,
            capture_output=True,
            text=True,
        )
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
        raise RuntimeError(f"The {step!r} export under the {backend} backend failed:\n{tail}")


def main(argv):
    import importlib

    step, model_path, arguments = argv
    module_name, function_name = STEPS[step]
    model = keras.saving.load_model(model_path, compile=False)  # keras_mixer's layers are registered
    getattr(importlib.import_module(module_name), function_name)(model, **json.loads(arguments))


if __name__ == "__main__":
    main(sys.argv[1:])
