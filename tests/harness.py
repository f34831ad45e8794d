"""The contract every layer and every model family keeps, checked one way for all.

As KerasHub's `run_layer_test` / `run_backbone_test`: a `LayerCase` or a
`ModelCase` (tests/harness_cases.py) is a tiny configuration and what it
must give; `run_layer_test` and `run_model_test` check, for that
configuration, the output shape, the numbers of trainable and non-trainable
variables, that the class is registered, that `get_config`/`from_config`,
`.keras` and `.weights.h5` round trips give the same outputs, and mixed
precision (variables float32, outputs finite in the expected dtype). Layers
also take one training step that must change every variable; models also
check `include_top=False` with each pooling and that the `spec` survives.
`run_bad_argument_test` checks that a bad value raises a ValueError naming
it; `check_variant_params` counts a registered variant's parameters;
`outputs_on_other_backends` runs saved models under the two other backends
(tests/backend_worker.py, one subprocess per backend for every job).
"""

import dataclasses
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import keras_mixer
from keras_mixer import registry

from conftest import BACKENDS
from conftest import random_images
from conftest import randomize_weights
from conftest import to_numpy

# Layers are checked under both; whole models under the first (the JAX pass compiles every op
# of a model again for each compute dtype; tests/test_models.py trains in both).
MIXED_POLICIES = ("mixed_float16", "mixed_bfloat16")


@dataclasses.dataclass(frozen=True)
class LayerCase:
    """`cls(**kwargs)` on inputs of `input_shape`, and what it must give.

    `output_shape` defaults to `input_shape`; `trainable_weights` and
    `non_trainable_weights` count variables; `bad_arguments` are
    `(argument, value)` pairs that must raise a ValueError; `frozen` names
    variables a training step may leave unchanged (a zero gradient
    by design).
    """

    cls: type
    kwargs: dict
    input_shape: tuple
    trainable_weights: int
    output_shape: tuple = None
    non_trainable_weights: int = 0
    bad_arguments: tuple = ()
    frozen: tuple = ()

    def make(self, **overrides):
        return self.cls(**{**self.kwargs, **overrides})

    def inputs(self, seed=0):
        return np.random.default_rng(seed).normal(size=self.input_shape).astype("float32")

    def model(self):
        """The layer alone in a functional model, with random weights."""
        inputs = keras.Input(self.input_shape[1:])
        return randomize_weights(keras.Model(inputs, self.make()(inputs)), seed=1)


@dataclasses.dataclass(frozen=True)
class ModelCase:
    """A tiny model of registry family `family`: `builder(**kwargs)`, and what it must give.

    `kwargs` set the input shape and classes; `features_shape` is the output
    shape with `include_top=False` (batch excluded); `count_arguments` are
    the builder arguments of the form whose parameters the registry counts.
    """

    family: str
    kwargs: dict
    trainable_weights: int
    features_shape: tuple
    bad_arguments: tuple = ()
    count_arguments: dict = dataclasses.field(default_factory=dict)

    def make(self, **overrides):
        return registry.family_info(self.family).builder(**{**self.kwargs, **overrides})

    def inputs(self, seed=0):
        return random_images((2,) + tuple(self.kwargs["input_shape"]), seed=seed)

    def model(self, **overrides):
        return randomize_weights(self.make(**overrides), seed=1)


def bad_argument_params(cases):
    """`pytest.param(case_name, argument, value)` for every bad argument of `cases`."""
    return [
        pytest.param(name, argument, value, id=f"{name}-{argument}={value!r}")
        for name, case in sorted(cases.items())
        for argument, value in case.bad_arguments
    ]


def run_bad_argument_test(case, argument, value):
    """`case` with `argument=value` raises a ValueError naming both and what was expected."""
    with pytest.raises(ValueError) as error:
        case.make(**{argument: value})
    message = str(error.value)
    assert f"{argument}={value!r}" in message and "expected" in message, message


def _check_registered(obj):
    name = keras.saving.get_registered_name(type(obj))
    assert name == f"keras_mixer>{type(obj).__name__}", name
    assert keras.saving.get_registered_object(name) is type(obj)


def _outputs(model, inputs):
    return to_numpy(model(inputs, training=False))


def _check_round_trips(model, inputs, folder, rebuild):
    """Config, `.keras` and `.weights.h5` round trips of `model` give its outputs on `inputs`.

    `rebuild(path)` makes a model of the same architecture with the weights
    saved at `path`; returns the model loaded from `.keras`.
    """
    expected = _outputs(model, inputs)
    clone = type(model).from_config(model.get_config())
    clone.set_weights(model.get_weights())
    assert clone.get_config() == model.get_config()
    np.testing.assert_allclose(_outputs(clone, inputs), expected, rtol=1e-6, atol=1e-6)

    model.save(os.path.join(folder, "model.keras"))
    restored = keras.saving.load_model(os.path.join(folder, "model.keras"))
    np.testing.assert_array_equal(_outputs(restored, inputs), expected)

    model.save_weights(os.path.join(folder, "model.weights.h5"))
    np.testing.assert_array_equal(
        _outputs(rebuild(os.path.join(folder, "model.weights.h5")), inputs), expected
    )
    return restored


def _check_mixed_precision(make, inputs, policies, output_dtype=None):
    """`make(policy)` has float32 variables and finite outputs in `output_dtype`
    (by default the policy's compute dtype) under each of `policies`."""
    for policy in policies:
        layer = make(policy)
        outputs = layer(inputs)
        expected = output_dtype or policy.split("_")[1]
        assert keras.backend.standardize_dtype(outputs.dtype) == expected, policy
        assert all(variable.dtype == "float32" for variable in layer.weights), policy
        assert np.all(np.isfinite(to_numpy(keras.ops.cast(outputs, "float32")))), policy


def _check_training_step(model, inputs, frozen):
    """One SGD step changes every variable: weights, and BatchNorm's moving statistics."""
    target = np.random.default_rng(2).normal(size=(len(inputs),) + model.output_shape[1:])
    before = [to_numpy(variable).copy() for variable in model.weights]
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    assert np.isfinite(model.train_on_batch(inputs, target.astype("float32")))
    for old, variable in zip(before, model.weights):
        if not frozen or not variable.path.endswith(frozen):
            assert not np.allclose(old, to_numpy(variable)), variable.path


def run_layer_test(case, folder):
    """Every check of the layer contract for `case`; `folder` takes the saved files."""
    layer = case.make()
    _check_registered(layer)
    inputs = case.inputs()
    outputs = layer(inputs)
    expected_shape = tuple(case.output_shape or case.input_shape)
    assert tuple(outputs.shape) == expected_shape
    assert tuple(layer.compute_output_shape(case.input_shape)) == expected_shape
    assert len(layer.trainable_weights) == case.trainable_weights
    assert len(layer.non_trainable_weights) == case.non_trainable_weights

    model = case.model()

    def rebuild(path):
        fresh = keras.Model.from_config(model.get_config())
        fresh.load_weights(path)
        return fresh

    restored = _check_round_trips(model, case.inputs(seed=1), folder, rebuild)
    assert restored.layers[-1].get_config() == model.layers[-1].get_config()
    _check_mixed_precision(lambda policy: case.make(dtype=policy), inputs, MIXED_POLICIES)
    if layer.weights:
        _check_training_step(model, inputs, case.frozen)


def run_model_test(case, folder):
    """Every check of the model contract for `case`; `folder` takes the saved files."""
    model = case.model()
    assert isinstance(model, keras_mixer.models.Model)
    _check_registered(model)
    assert model.spec.family == case.family and model.spec.form == "training"
    assert model.output_shape == (None, case.kwargs["classes"])
    assert len(model.trainable_weights) == case.trainable_weights

    inputs = case.inputs()
    restored = _check_round_trips(model, inputs, folder, lambda path: case.make(weights=path))
    assert restored.spec.get_config() == model.spec.get_config()

    def mixed(policy):
        keras.config.set_dtype_policy(policy)
        try:
            return case.make()
        finally:
            keras.config.set_dtype_policy("float32")

    _check_mixed_precision(mixed, inputs, MIXED_POLICIES[:1], output_dtype="float32")

    features = case.model(include_top=False)
    assert features.output_shape == (None,) + tuple(case.features_shape)
    table = _outputs(features, inputs)
    space = tuple(range(1, table.ndim - 1))
    for pooling, reduce in (("avg", np.mean), ("max", np.max)):
        pooled = case.make(include_top=False, pooling=pooling)
        assert pooled.output_shape == (None, case.features_shape[-1])
        pooled.set_weights(features.get_weights())
        np.testing.assert_allclose(
            _outputs(pooled, inputs), reduce(table, axis=space), rtol=1e-5, atol=1e-6
        )


def check_variant_params(name, case):
    """Registered variant `name` has the registry's parameter count (declared, not initialised)."""
    variant = registry.model_info(name)
    size = variant.image_size
    with keras.StatelessScope(initialize_variables=False):
        model = keras_mixer.models.get_model(
            name, input_shape=(size, size, 3), classes=variant.classes, **case.count_arguments
        )
    assert sum(int(np.prod(v.shape)) for v in model.trainable_weights) == variant.params
    assert model.name == name and model.spec.variant == name
    assert model.output_shape == (None, variant.classes)


def outputs_on_other_backends(jobs, folder):
    """`{backend: [outputs of each job]}` for the backends other than this one.

    A job is a dict for tests/backend_worker.py (`"model"` or `"family"`,
    `"arguments"`, `"weights"`; `"inputs"`); its outputs land in `folder`.
    """
    worker = os.path.join(os.path.dirname(__file__), "backend_worker.py")
    results = {}
    for backend in sorted(set(BACKENDS) - {keras.config.backend()}):
        backend_jobs = [
            {**job, "output": os.path.join(folder, f"{backend}_{index}.npy")}
            for index, job in enumerate(jobs)
        ]
        jobs_path = os.path.join(folder, f"{backend}_jobs.json")
        with open(jobs_path, "w") as handle:
            json.dump(backend_jobs, handle)
        subprocess.run(
            [sys.executable, worker, jobs_path],
            env={**os.environ, "KERAS_BACKEND": backend},
            check=True,
        )
        results[backend] = [np.load(job["output"]) for job in backend_jobs]
    return results
