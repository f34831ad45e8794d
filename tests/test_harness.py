"""Every public layer and every registered family keeps the harness contract (tests/harness.py).

The cases are tests/harness_cases.py; tests/test_cross_backend.py runs them on
the other backends.
"""

import keras
import pytest

import keras_mixer
from keras_mixer import layers

from harness import ModelCase
from harness import bad_argument_params
from harness import check_variant_params
from harness import run_bad_argument_test
from harness import run_layer_test
from harness import run_model_test
from harness_cases import CASES
from harness_cases import LAYER_CASES
from harness_cases import MODEL_CASES


def _public_layers():
    """`keras_mixer.layers.__all__` and every layer class registered under "keras_mixer"."""
    registered = {
        cls for key, cls in keras.saving.get_custom_objects().items()
        if key.startswith("keras_mixer>") and isinstance(cls, type)
        and issubclass(cls, keras.layers.Layer) and not issubclass(cls, keras.Model)
    }
    return registered | {getattr(layers, name) for name in layers.__all__}


def test_every_public_layer_and_family_has_a_case():
    covered = {case.cls for case in LAYER_CASES.values()}
    missing = sorted(cls.__name__ for cls in _public_layers() - covered)
    missing += sorted(set(keras_mixer.list_families()) - {case.family for case in MODEL_CASES.values()})
    assert not missing, f"add a case to tests/harness_cases.py for {missing}"


@pytest.mark.parametrize("name", sorted(CASES))
def test_contract(name, tmp_path):
    case = CASES[name]
    run = run_model_test if isinstance(case, ModelCase) else run_layer_test
    run(case, str(tmp_path))


@pytest.mark.parametrize("name, argument, value", bad_argument_params(CASES))
def test_bad_argument_raises_a_value_error_naming_it(name, argument, value):
    run_bad_argument_test(CASES[name], argument, value)


# Declared without initial values, so even the largest variants count in about a second.
@pytest.mark.parametrize("name", keras_mixer.list_models())
def test_variant_parameter_count_is_the_registrys(name):
    check_variant_params(name, MODEL_CASES[keras_mixer.model_info(name).family.name])
