"""The runnable examples in the public docstrings run and print what they say."""

import doctest

import pytest

import keras_mixer
from keras_mixer import analysis
from keras_mixer import data
from keras_mixer import export
from keras_mixer import layers
from keras_mixer import models

DOCUMENTED = [getattr(layers, name) for name in layers.__all__] + [
    keras_mixer,
    keras_mixer.ResMLP,
    keras_mixer.MLPMixer,
    keras_mixer.ResMLP12,
    keras_mixer.MLPMixerS16,
    models.get_model,
    data.load_digits,
] + [
    getattr(analysis, module)
    for module in ("blocks", "figures", "permutation", "pictures", "token_maps", "weight_sparsity")
]


def _examples(obj):
    finder = doctest.DocTestFinder(exclude_empty=True)
    return [test for test in finder.find(obj, name=getattr(obj, "__name__", str(obj)), globs={}) if test.examples]


@pytest.mark.parametrize("obj", DOCUMENTED, ids=lambda obj: obj.__name__)
def test_docstring_examples(obj):
    tests = _examples(obj)
    assert tests, f"{obj.__name__} has no runnable example"
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in tests:
        runner.run(test)
    assert runner.summarize(verbose=False).failed == 0


def test_every_public_builder_is_documented():
    for name in models.__all__:
        obj = getattr(keras_mixer, name)
        if callable(obj):
            assert obj.__doc__ and ">>>" in obj.__doc__, name


def test_export_example():
    test_docstring_examples(export.export_saved_model)
