"""timm for the tests: the library's torchvision-free import, skipping when timm is missing."""

import pytest

from keras_mixer.benchmark.timm_import import import_timm as _import_timm


def import_timm():
    """Returns the `timm` module, skipping the test if timm or torch is missing."""
    pytest.importorskip("torch")
    try:
        return _import_timm()
    except ImportError as error:
        pytest.skip(f"timm is not importable: {error}")
