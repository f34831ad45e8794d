"""Weights saved on this backend give the same outputs on the two others."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import keras_mixer

from conftest import BACKENDS
from conftest import random_images
from conftest import randomize_weights
from conftest import relative_error

SPECS = {
    "resmlp": {"builder": "ResMLP", "patch_size": 4, "embed_dim": 16, "depth": 2, "input_shape": [16, 16, 3], "classes": 5},
    "mixer": {
        "builder": "MLPMixer",
        "patch_size": 4,
        "embed_dim": 16,
        "depth": 2,
        "token_mixing_dim": 8,
        "channel_mixing_dim": 32,
        "gelu_approximate": True,
        "input_shape": [16, 24, 3],
        "classes": 5,
    },
}


@pytest.mark.slow
@pytest.mark.parametrize("family", sorted(SPECS))
def test_same_weights_same_outputs_on_every_backend(family, tmp_path):
    if keras.config.backend() != "tensorflow":
        pytest.skip("spans all three backends itself; it runs once, in the tensorflow pass")
    spec = dict(SPECS[family])
    builder = getattr(keras_mixer, spec.pop("builder"))
    model = randomize_weights(builder(**spec), seed=4)
    images = random_images((3,) + model.input_shape[1:], seed=5)
    expected = model.predict(images, verbose=0)
    model.save_weights(tmp_path / "model.weights.h5")
    np.save(tmp_path / "images.npy", images)
    (tmp_path / "spec.json").write_text(json.dumps(SPECS[family]))

    worker = os.path.join(os.path.dirname(__file__), "backend_worker.py")
    for other in sorted(set(BACKENDS) - {keras.config.backend()}):
        output = tmp_path / f"{other}.npy"
        subprocess.run(
            [sys.executable, worker, str(tmp_path / "spec.json"), str(tmp_path / "model.weights.h5"),
             str(tmp_path / "images.npy"), str(output)],
            env={**os.environ, "KERAS_BACKEND": other},
            check=True,
        )
        assert relative_error(np.load(output), expected) <= 1e-5, other
