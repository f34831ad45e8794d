"""The checkpoint converters: one module per (family, source layout), found automatically.

Every module of this package holds one `LAYOUT` (`keras_mixer.weights.layouts.Layout`)
named after the module; a new checkpoint layout is one new module here,
with no list to edit. Loading, checking, adaptation and error reports are
shared (`keras_mixer.weights.foreign`).

Example:

>>> from keras_mixer.weights.converters import LAYOUTS, detect_layout
>>> sorted(layout.name for layout in LAYOUTS)[:3]
['gmixer_timm', 'gmlp_timm', 'mixer_flax']
>>> detect_layout({"blocks.0.linear_tokens.weight": None}, "w.pth").family
'resmlp'
"""

import importlib
import pkgutil
import sys

from keras_mixer.weights.layouts import Layout


def discover(package):
    """The `LAYOUT` of every module of `package`, checked: one per module, named after
    it, each with its own signature key (or the same key and a gated MLP's shapes).
    Gated layouts come first: a plain layout with their keys would take their files."""
    layouts, signatures = [], {}
    for module in pkgutil.iter_modules(package.__path__):
        layout = getattr(importlib.import_module(f"{package.__name__}.{module.name}"), "LAYOUT", None)
        if not isinstance(layout, Layout) or layout.name != module.name:
            raise ValueError(
                f"Converter module {package.__name__}.{module.name} has LAYOUT={layout!r}; "
                f"expected a keras_mixer.weights.layouts.Layout named {module.name!r}."
            )
        if (layout.signature, layout.gated) in signatures:
            raise ValueError(
                f"Converters {signatures[layout.signature, layout.gated]!r} and {layout.name!r} have "
                f"the same signature key {layout.signature!r}; expected a key only one layout has."
            )
        signatures[layout.signature, layout.gated] = layout.name
        layouts.append(layout)
    return tuple(sorted(layouts, key=lambda layout: not layout.gated))


LAYOUTS = discover(sys.modules[__name__])


def detect_layout(state, path):
    """Returns the `Layout` that `state` matches (`Layout.matches`), or raises naming the known ones."""
    for layout in LAYOUTS:
        if layout.matches(state):
            return layout
    sample = ", ".join(sorted(state)[:6])
    known = "; ".join(layout.description for layout in LAYOUTS)
    raise ValueError(
        f"Checkpoint {path!r} has none of the known layouts ({known}); its keys begin: {sample}."
    )
