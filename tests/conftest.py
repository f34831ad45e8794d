"""Shared helpers: small configs, random weights, the current backend."""

import os

import keras
import numpy as np
import pytest

BACKENDS = ("tensorflow", "jax", "torch")


def randomize_weights(model, seed=0, scale=0.05):
    """Gives every variable random values, so no test relies on an identity init.

    Scales (Affine alpha, LayerNorm and BatchNorm gamma) and BatchNorm variances
    are drawn around 1, everything else around 0, so activations stay in a
    range where float32 is accurate.
    """
    rng = np.random.default_rng(seed)
    for variable in model.weights:
        values = rng.normal(0.0, scale, variable.shape)
        if variable.name in ("alpha", "gamma", "moving_variance"):
            values += 1.0
        variable.assign(values.astype(variable.dtype))
    return model


def random_images(shape, seed=0):
    return np.random.default_rng(seed).integers(0, 256, shape).astype("float32")


def to_numpy(tensor):
    """Any backend's tensor (torch ones may require grad) as a NumPy array."""
    return np.asarray(keras.ops.convert_to_numpy(tensor))


def relative_error(actual, expected):
    actual = to_numpy(actual).astype("float64")
    expected = to_numpy(expected).astype("float64")
    return float(np.max(np.abs(actual - expected)) / (np.max(np.abs(expected)) + 1e-12))


@pytest.fixture(autouse=True)
def _fresh_keras_state():
    """Each test starts with the float32 policy and a fixed seed."""
    keras.config.set_dtype_policy("float32")
    keras.utils.set_random_seed(0)
    yield
    keras.config.set_dtype_policy("float32")
    keras.backend.clear_session()


@pytest.fixture
def backend():
    return keras.config.backend()


def pytest_report_header(config):
    return f"keras backend: {os.environ.get('KERAS_BACKEND', keras.config.backend())}"
