"""Run by the tests in a fresh Python: loads an export with TensorFlow alone.

Usage: python serving_client_tf_only.py EXPORT_DIR INPUTS.json OUTPUT.json

`keras_mixer` is made unimportable first, so the export is seen exactly as a
TensorFlow server sees it. Every signature is described (input and output
names, dtypes, shapes) and run on the inputs INPUTS.json names,
`{signature: {input name: a .npy path, or a list of encoded image files}}`;
outputs go to OUTPUT.json.
"""

import importlib.abc
import json
import sys


class _Forbid(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "keras_mixer" or name.startswith("keras_mixer."):
            raise ImportError(f"{name} must not be needed to serve the export")
        return None


sys.meta_path.insert(0, _Forbid())

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402


def describe(spec):
    return {"dtype": spec.dtype.name, "shape": list(spec.shape.as_list())}


def load(source):
    if isinstance(source, str):
        return np.load(source, allow_pickle=False)
    return [open(path, "rb").read() for path in source]


def main(export_dir, inputs_path, output_path):
    loaded = tf.saved_model.load(export_dir)
    with open(inputs_path) as handle:
        inputs = json.load(handle)
    report = {"signatures": {}, "outputs": {}}
    for name, function in loaded.signatures.items():
        report["signatures"][name] = {
            "inputs": {key: describe(spec) for key, spec in function.structured_input_signature[1].items()},
            "outputs": {key: describe(spec) for key, spec in function.structured_outputs.items()},
        }
        arguments = {key: tf.constant(load(source)) for key, source in inputs[name].items()}
        outputs = function(**arguments)
        report["outputs"][name] = {
            key: [value.decode() if isinstance(value, bytes) else value for value in tensor.numpy().ravel().tolist()]
            for key, tensor in outputs.items()
        }
    report["keras_mixer_imported"] = any(module.startswith("keras_mixer") for module in sys.modules)
    with open(output_path, "w") as handle:
        json.dump(report, handle)


if __name__ == "__main__":
    main(*sys.argv[1:])
