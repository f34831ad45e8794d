"""The one table of keras_mixer's models: families, variants and pretrained presets.

Every fact about a model lives here, declared by its family's builder module
(`keras_mixer/models/<family>.py`) next to the builder: the family's
preprocessing, evaluation transform and recipe; each variant's architecture,
exact parameter count and input size; each preset's checkpoint URL, classes,
published top-1, licence and training data. Weights tags, the export's
evaluation policy, training defaults, the benchmark's models, the CLI's
choices, the documentation tables and the tests all read it.

Names follow timm: a variant is `resmlp12`, a preset `variant.tag`
(`resmlp12.imagenet`, `mixer_b16.imagenet21k`).

Example:

>>> import keras_mixer
>>> keras_mixer.list_models("resmlp*")
['resmlp12', 'resmlp24', 'resmlp36', 'resmlp_digits', 'resmlpb24']
>>> keras_mixer.list_presets("mixer_l16*")
['mixer_l16.imagenet', 'mixer_l16.imagenet21k']
>>> info = keras_mixer.model_info("resmlp12")
>>> info.params, info.family.eval_transform.crop_ratio
(15350872, 0.9)
>>> keras_mixer.preset_info("mixer_b16.imagenet").training_data
'ImageNet-1k'
"""

import dataclasses
import fnmatch
import inspect
import math
import types


@dataclasses.dataclass(frozen=True)
class Preprocessing:
    """How 0-255 RGB pixels become the model's inputs: `(x - mean) / std`, per channel.

    Example:

    >>> from keras_mixer.registry import Preprocessing
    >>> Preprocessing.from_config({"mean": [0, 0, 0], "std": [255, 255, 255]}).describe()
    '(x - 0) / 255'
    """

    mean: tuple
    std: tuple

    def get_config(self):
        """`{"mean": [...], "std": [...]}`, as a model's spec keeps it."""
        return {"mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_config(cls, config):
        """The `Preprocessing` of a `get_config()` dict, every value checked."""
        values = config if isinstance(config, dict) else {}
        mean, std = values.get("mean"), values.get("std")
        numbers = (int, float)
        if not (
            set(values) == {"mean", "std"}
            and all(isinstance(item, (list, tuple)) and len(item) == 3 for item in (mean, std))
            and all(isinstance(v, numbers) and not isinstance(v, bool) and math.isfinite(v)
                    for v in (*mean, *std))
            and all(v > 0 for v in std)
        ):
            raise ValueError(
                f"preprocessing={config!r} is not supported; expected None or "
                f"{{'mean': [m, m, m], 'std': [s, s, s]}} with finite numbers in 0-255 "
                f"pixel units and std > 0."
            )
        return cls(tuple(mean), tuple(std))

    def describe(self):
        if len(set(self.mean)) == 1 and len(set(self.std)) == 1:
            return f"(x - {self.mean[0]:g}) / {self.std[0]:g}"
        return "ImageNet mean/std"


# The ImageNet mean and std of torchvision and timm, in 0-255 pixel units.
IMAGENET_MEAN_STD = Preprocessing(mean=(123.675, 116.28, 103.53), std=(58.395, 57.12, 57.375))


@dataclasses.dataclass(frozen=True)
class EvalTransform:
    """Resize so a centre crop of the model's size covers `crop_ratio` of the image, then crop.

    `interpolation` is "bicubic" or "bilinear"; `source` says where the
    transform was read.
    """

    crop_ratio: float
    interpolation: str
    source: str = ""

    def describe(self, size=224):
        return (f"{self.interpolation} resize to {int(size / self.crop_ratio)}, "
                f"centre crop {size} (ratio {self.crop_ratio:g})")


@dataclasses.dataclass(frozen=True)
class Family:
    """A model family: its generic builder and what all its variants share.

    `architecture` names the builder arguments that make two models the same
    architecture (a variant fixes some and takes the builder's defaults for
    the rest); `recipe` is the training recipe of `keras_mixer.training`;
    `stochastic_depth` says how the official code spreads it over the blocks;
    `gelu_approximate` is the GELU form (False: exact erf, True: tanh, None:
    the form of the checkpoint loaded, see `Preset.arguments`);
    `feature_layers(arguments)` gives the `{feature name: layer name}` of the
    outputs `keras_mixer.feature_extractor` hands out, shallowest first;
    `depth_arguments` names the arguments that count the blocks (an int, or
    one int per stage), which bounds a model described by a file.
    """

    name: str
    title: str
    paper: str
    summary: str
    builder: object
    architecture: tuple
    preprocessing: Preprocessing
    eval_transform: EvalTransform
    recipe: str
    stochastic_depth: str
    gelu_approximate: bool = False
    params_note: str = ""
    feature_layers: object = None
    depth_arguments: tuple = ("depth",)


@dataclasses.dataclass(frozen=True)
class Variant:
    """A named architecture: `family.builder(**architecture)`.

    `params` is the exact parameter count at `image_size` with `classes`
    classes (in the inference form for RepMLPNet); `timm` names timm's model
    of the same architecture, `function` the named builder (None: reached
    through `get_model` only).
    """

    name: str
    family: Family
    function: str
    architecture: types.MappingProxyType
    params: int
    image_size: int = 224
    classes: int = 1000
    timm: str = None
    recipe: str = None
    title: str = None
    example_size: int = 64
    builder: object = None

    def build(self, **kwargs):
        """The variant's model; `kwargs` are the builder's other arguments."""
        return self.builder(**kwargs)


@dataclasses.dataclass(frozen=True)
class Preset:
    """A published checkpoint of a variant, named `variant.tag`.

    `layout` names the checkpoint layout (see `keras_mixer.weights`);
    `arguments` are builder arguments the checkpoint needs (Mixer's GELU
    form); `sha256` is given where the publisher gives one; `backbone`
    presets have no classifier worth keeping: their converted file holds the
    body only, and a model built with a head keeps a fresh one (or build it
    with `include_top=False`). `preprocessing` is the preset's own input
    normalisation where it differs from its family's; a model built with the
    preset's weights takes it. `eval_transform` likewise is the preset's own
    evaluation transform where its publisher evaluates it differently; a model
    built with the preset's weights records the preset in its spec and is
    exported with it.
    """

    variant: Variant
    tag: str
    url: str
    source: str
    layout: str
    classes: int
    training_data: str
    license: str
    top1: float = None
    top1_source: str = ""
    arguments: dict = dataclasses.field(default_factory=dict)
    sha256: str = None
    backbone: bool = False
    preprocessing: Preprocessing = None
    eval_transform: EvalTransform = None

    @property
    def gelu_approximate(self):
        """The GELU form the checkpoint was trained with (tanh: True), None if not stated."""
        return self.arguments.get("gelu_approximate")

    @property
    def name(self):
        return f"{self.variant.name}.{self.tag}"

    @property
    def image_size(self):
        return self.variant.image_size

    @property
    def filename(self):
        return f"{self.variant.name}_{self.tag}_" + self.url.rsplit("/", 1)[-1]


_FAMILIES = {}
_VARIANTS = {}
_PRESETS = {}


def register_family(family):
    """Adds a `Family` to the table and returns it."""
    if family.name in _FAMILIES:
        raise ValueError(f"Family {family.name!r} is registered twice.")
    _FAMILIES[family.name] = family
    return family


def register_variant(family, name, function, params, architecture, **facts):
    """Adds a `Variant` of `family` and returns its named builder.

    The named builder is `family.builder` with `architecture` fixed (see
    `keras_mixer.models.builder.make_variant`); `facts` are the other
    `Variant` fields.
    """
    from keras_mixer.models.builder import make_variant

    if name in _VARIANTS:
        raise ValueError(f"Variant {name!r} is registered twice.")
    variant = Variant(name, family, function, types.MappingProxyType(dict(architecture)),
                      params, **facts)
    builder = make_variant(variant)
    _VARIANTS[name] = dataclasses.replace(variant, builder=builder)
    return builder


def register_preset(variant, tag, **facts):
    """Adds the `Preset` `variant.tag` (`facts`: the other `Preset` fields) and returns it."""
    preset = Preset(_VARIANTS[variant], tag, **facts)
    if preset.name in _PRESETS:
        raise ValueError(f"Preset {preset.name!r} is registered twice.")
    _PRESETS[preset.name] = preset
    return preset


def _matching(names, pattern, family, family_of):
    if family is not None and family not in _FAMILIES:
        raise ValueError(f"family={family!r} is not supported; expected one of {sorted(_FAMILIES)}.")
    return sorted(
        name for name in names
        if fnmatch.fnmatch(name, pattern) and (family is None or family_of(name) == family)
    )


def list_families():
    """The family names, e.g. `['mixer', 'repmlpnet', 'resmlp']`."""
    return sorted(_FAMILIES)


def list_models(pattern="*", family=None):
    """Variant names matching a shell-style `pattern`, of one `family` if given."""
    return _matching(_VARIANTS, pattern, family, lambda name: _VARIANTS[name].family.name)


def list_presets(pattern="*", family=None):
    """Preset names (`variant.tag`) matching `pattern`, of one `family` if given."""
    return _matching(_PRESETS, pattern, family,
                     lambda name: _PRESETS[name].variant.family.name)


def canonical_name(name):
    """`name` lower-cased with `-` as `_` and `/` dropped: "Mixer-B/16" -> "mixer_b16"."""
    if not isinstance(name, str):
        raise ValueError(f"model name {name!r} is not supported; expected a string such as 'resmlp12'.")
    return name.lower().replace("-", "_").replace("/", "")


def family_info(name):
    """The `Family` called `name`."""
    if name not in _FAMILIES:
        raise ValueError(f"Unknown family {name!r}; expected one of {sorted(_FAMILIES)}.")
    return _FAMILIES[name]


def model_info(name):
    """The `Variant` called `name` ("resmlp12", "Mixer-B/16", ...)."""
    key = canonical_name(name)
    if key not in _VARIANTS:
        raise ValueError(f"Unknown model {name!r}; expected one of {list_models()}.")
    return _VARIANTS[key]


def preset_info(name):
    """The `Preset` called `name` ("resmlp12.imagenet", ...)."""
    if not isinstance(name, str) or name not in _PRESETS:
        raise ValueError(f"Unknown preset {name!r}; expected one of {list_presets()}.")
    return _PRESETS[name]


def tags():
    """Every preset tag, e.g. `('imagenet', 'imagenet21k', ...)`."""
    return tuple(sorted({preset.tag for preset in _PRESETS.values()}))


def find_variant(family, arguments):
    """The variant of `family` that the builder `arguments` build, or None.

    Compares every architecture argument of the family: those the variant
    fixes, and the builder's defaults for the others.
    """
    defaults = inspect.signature(_FAMILIES[family].builder).parameters
    for variant in _VARIANTS.values():
        if variant.family.name == family and all(
            _same(arguments.get(key), variant.architecture.get(key, defaults[key].default))
            for key in variant.family.architecture
        ):
            return variant
    return None


def _same(a, b):
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return tuple(a) == tuple(b)
    return a == b


def find_preset(tag, family, arguments):
    """The preset `tag` of the variant `arguments` build, or a ValueError listing what exists."""
    variant = find_variant(family, arguments)
    if variant is not None and f"{variant.name}.{tag}" in _PRESETS:
        return _PRESETS[f"{variant.name}.{tag}"]
    available = list_presets(family=family)
    what = f"variant {variant.name}" if variant else "these architecture arguments"
    raise ValueError(
        f"weights={tag!r}: no {_FAMILIES[family].title} checkpoint is published for {what}; "
        f"available: {', '.join(available) or 'none'}."
    )


def models_table():
    """The variants as a Markdown table (builder, parameters, input, evaluation, timm).

    Example:

    >>> print(models_table().splitlines()[0])
    | model | builder | parameters | input | preprocessing | evaluation | timm |
    """
    lines = ["| model | builder | parameters | input | preprocessing | evaluation | timm |",
             "|---|---|---|---|---|---|---|"]
    for name in list_models():
        variant = _VARIANTS[name]
        family = variant.family
        builder = f"`{variant.function}()`" if variant.function else f"`get_model({name!r})`"
        lines.append(
            f"| {name} | {builder} | {variant.params:,}{family.params_note} | {variant.image_size} | "
            f"{family.preprocessing.describe()} | "
            f"{family.eval_transform.describe(variant.image_size)} | {variant.timm or '-'} |"
        )
    return "\n".join(lines)


def families_table():
    """The families as a Markdown table (preprocessing, evaluation, stochastic depth, recipe).

    Example:

    >>> print(families_table().splitlines()[0])
    | family | preprocessing | evaluation transform (source) | GELU | stochastic depth | training recipe |
    """
    lines = ["| family | preprocessing | evaluation transform (source) | GELU | stochastic depth | training recipe |",
             "|---|---|---|---|---|---|"]
    gelus = {False: "exact", True: "tanh", None: "the checkpoint's (official: tanh, timm: exact)"}
    for family in map(family_info, list_families()):
        transform = family.eval_transform
        lines.append(
            f"| {family.title} | {family.preprocessing.describe()} | {transform.describe()} "
            f"({transform.source}) | {gelus[family.gelu_approximate]} | {family.stochastic_depth} | "
            f"`{family.recipe}` |"
        )
    return "\n".join(lines)


def presets_table():
    """The presets as a Markdown table (name, classes, data, top-1, licence, URL).

    "preprocessing" is the preset's own where it differs from its family's.

    Example:

    >>> print(presets_table().splitlines()[0])
    | preset | weights= | classes | trained on | top-1 (%) | top-1 from | preprocessing | licence | source | URL |
    """
    lines = [
        "| preset | weights= | classes | trained on | top-1 (%) | top-1 from | preprocessing | licence | source | URL |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name in list_presets():
        preset = _PRESETS[name]
        top1 = "-" if preset.top1 is None else f"{preset.top1:.2f}"
        own = "family's" if preset.preprocessing is None else preset.preprocessing.describe()
        lines.append(
            f"| {name} | `{preset.tag}` | {preset.classes:,} | {preset.training_data} | {top1} | "
            f"{preset.top1_source} | {own} | {preset.license} | {preset.source} | "
            f"[{preset.url.rsplit('/', 1)[-1]}]({preset.url}) |"
        )
    return "\n".join(lines)
