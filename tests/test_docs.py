"""The runnable examples in the docstrings run and print what they say.

Every module of the package is searched, so no example can rot unseen; the
public layers and builders must each have one. The named variants share one
generated example (models/builder.py); it runs for one small variant per
family (RepMLPNet's are all 38M parameters or more; its generic builder's
example runs), since the big ones take minutes to build.
"""

import doctest
import importlib
import pkgutil

import pytest

import keras_mixer
from keras_mixer import layers
from keras_mixer import models

MODULES = sorted(
    info.name
    for info in pkgutil.walk_packages(keras_mixer.__path__, prefix="keras_mixer.")
    if not info.name.endswith("__main__")
)
SAMPLED_VARIANTS = {"ResMLP12", "MLPMixerS32", "GMLPTi16", "GMixer12"}
SKIPPED_VARIANTS = {
    keras_mixer.model_info(name).function for name in keras_mixer.list_models()
} - SAMPLED_VARIANTS - {None}
MUST_HAVE_EXAMPLES = [getattr(layers, name) for name in layers.__all__] + [
    getattr(keras_mixer, name) for name in models.__all__ if callable(getattr(keras_mixer, name))
]


def _examples(module):
    finder = doctest.DocTestFinder(exclude_empty=True)
    return [
        test for test in finder.find(module)
        if test.examples and test.name.rsplit(".", 1)[-1] not in SKIPPED_VARIANTS
    ]


def _run(tests):
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in tests:
        runner.run(test)
    assert runner.summarize(verbose=False).failed == 0


@pytest.mark.parametrize("module", ["keras_mixer"] + MODULES)
def test_docstring_examples(module):
    tests = _examples(importlib.import_module(module))
    if not tests:
        pytest.skip(f"{module} has no examples")
    _run(tests)


@pytest.mark.parametrize("obj", MUST_HAVE_EXAMPLES, ids=lambda obj: obj.__name__)
def test_public_layers_and_builders_have_examples(obj):
    assert obj.__doc__ and ">>>" in obj.__doc__, f"{obj.__name__} has no runnable example"
