"""Model builders: one generic builder per family and thin named variants.

Every module here that registers a family (`registry.register_family`) is
imported, and its generic builder and named variants are exported: a new
family is one new module, with no list to edit.
"""

import importlib
import pkgutil

from keras_mixer import registry
from keras_mixer.models.model import Model
from keras_mixer.spec import ModelSpec

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")


def get_model(name, **kwargs):
    """Builds a named variant, e.g. `get_model("resmlp12", classes=10)`.

    Example:

    >>> import keras_mixer
    >>> keras_mixer.models.get_model("resmlp12", input_shape=(32, 32, 3)).name
    'resmlp12'
    """
    return registry.model_info(name).build(**kwargs)


def _builders():
    builders = {registry.family_info(name).builder for name in registry.list_families()}
    builders |= {variant.builder for variant in map(registry.model_info, registry.list_models())
                 if variant.function}
    return {builder.__name__: builder for builder in builders}


globals().update(_builders())
__all__ = ["Model", "ModelSpec", "get_model"] + sorted(_builders())
