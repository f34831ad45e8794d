"""Every harness case gives the same outputs on the two other backends as on this one.

Each layer case is saved as a `.keras` file of the layer alone; each family's
tiny model is saved as a `.weights.h5` file and rebuilt by its builder there.
One subprocess per backend runs them all (tests/backend_worker.py).
"""

import os

import keras
import numpy as np
import pytest

from conftest import relative_error
from harness import ModelCase
from harness import outputs_on_other_backends
from harness_cases import CASES


def _save(name, case, folder):
    """The job that predicts `case` elsewhere, and its outputs here."""
    model = case.model()
    inputs = case.inputs(seed=5)
    job = {"inputs": os.path.join(folder, f"{name}_inputs.npy")}
    np.save(job["inputs"], inputs)
    if isinstance(case, ModelCase):
        job.update(family=case.family, arguments=case.kwargs,
                   weights=os.path.join(folder, f"{name}.weights.h5"))
        model.save_weights(job["weights"])
    else:
        job["model"] = os.path.join(folder, f"{name}.keras")
        model.save(job["model"])
    return job, model.predict(inputs, verbose=0)


@pytest.mark.slow
def test_every_case_gives_the_same_outputs_on_every_backend(tmp_path):
    if keras.config.backend() != "tensorflow":
        pytest.skip("spans all three backends itself; it runs once, in the tensorflow pass")
    names = sorted(CASES)
    jobs, expected = zip(*(_save(name, CASES[name], str(tmp_path)) for name in names))
    for backend, outputs in outputs_on_other_backends(list(jobs), str(tmp_path)).items():
        for name, actual, reference in zip(names, outputs, expected):
            assert relative_error(actual, reference) <= 1e-5, (backend, name)
