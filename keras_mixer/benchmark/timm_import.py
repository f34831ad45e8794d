"""Importing timm without torchvision, for the benchmark and the parity tests.

timm imports torchvision at import time (data transforms, dataset factory,
FrozenBatchNorm2d), but the model code we run (timm's `mlp_mixer`:
Linear, LayerNorm, GELU, Conv2d) never calls it, and
torchvision has no CPU wheel matching torch 2.13 here. `import_timm()` puts
a stub `torchvision` package in `sys.modules` only if the real one cannot be
imported: every name imported from it is an inert placeholder class, and
calling or instantiating one raises, so code that really needed torchvision
fails loudly instead of running on a fake. The stub is removed from
`sys.modules` again after timm is imported.
"""

import importlib
import importlib.abc
import importlib.machinery
import sys
import types


class _PlaceholderMeta(type):
    def __getattr__(cls, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return _placeholder(f"{cls.__name__}.{name}")


def _placeholder(name):
    def refuse(*args, **kwargs):
        raise RuntimeError(f"torchvision stub: {name} is not available in this test")

    return _PlaceholderMeta(name, (), {"__init__": refuse, "__call__": refuse})


class _StubModule(types.ModuleType):
    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return _placeholder(f"{self.__name__}.{name}")


class _StubFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname, path, target=None):
        if fullname == "torchvision" or fullname.startswith("torchvision."):
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        return None

    def create_module(self, spec):
        module = _StubModule(spec.name)
        module.__path__ = []
        module.__version__ = "0.0+stub"
        return module

    def exec_module(self, module):
        pass


def import_timm():
    """Returns the `timm` module; raises ImportError if timm or torch is not installed."""
    try:
        importlib.import_module("torchvision")
    except ImportError:
        finder = _StubFinder()
        sys.meta_path.insert(0, finder)
        try:
            return importlib.import_module("timm")
        finally:
            sys.meta_path.remove(finder)
            for name in [name for name in sys.modules if name.split(".")[0] == "torchvision"]:
                del sys.modules[name]
    return importlib.import_module("timm")
