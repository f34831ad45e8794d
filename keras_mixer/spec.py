"""What a keras_mixer model is: its family, variant and builder arguments (`ModelSpec`).

A `keras_mixer.models.Model` carries one in `spec`; code that needs to know
a model's family (weights loaders, the export's evaluation transform,
presets) reads it here instead of guessing from layer types or weight names.
"""

import dataclasses

from keras_mixer import registry


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """What a model is: `family`, `variant` (None for custom sizes) and `arguments`.

    `arguments` are the builder's arguments that shape the model (architecture,
    `classes`, `include_top`, `pooling`, `include_preprocessing`, `input_shape`,
    ...), JSON values only, so `family_info(family).builder(**arguments)`
    builds the same graph. `form` is "training", or "fused" after
    `keras_mixer.fuse_for_inference`; `preset` names the registered preset
    whose weights the builder loaded, if any (its evaluation transform, where
    it has its own, is the model's).

    Example:

    >>> from keras_mixer.spec import ModelSpec
    >>> spec = ModelSpec("mixer", "mixer_b16", {"classes": 10})
    >>> spec.eval_transform.crop_ratio, spec.preprocessing.mean[0]
    (0.875, 127.5)
    >>> ModelSpec.from_config(spec.get_config()) == spec
    True
    """

    family: str
    variant: str = None
    arguments: dict = dataclasses.field(default_factory=dict)
    form: str = "training"
    preset: str = None

    @property
    def preprocessing(self):
        """The model's `Preprocessing` (what 0-255 pixels become): its own, else its family's."""
        own = self.arguments.get("preprocessing")
        if own:
            return registry.Preprocessing.from_config(own)
        return registry.family_info(self.family).preprocessing

    @property
    def eval_transform(self):
        """The `EvalTransform` (resize, crop ratio, interpolation): the preset's own, else the family's."""
        own = registry.preset_info(self.preset).eval_transform if self.preset else None
        return own or registry.family_info(self.family).eval_transform

    def get_config(self):
        config = {"family": self.family, "variant": self.variant,
                  "arguments": _jsonable(self.arguments), "form": self.form}
        if self.preset:
            config["preset"] = self.preset
        return config

    @classmethod
    def from_config(cls, config):
        if not isinstance(config, dict) or not isinstance(config.get("family"), str):
            raise ValueError(f"spec={config!r} is not supported; expected a dict with a 'family'.")
        registry.family_info(config["family"])  # a known family, or a ValueError
        arguments = config.get("arguments") or {}
        if not isinstance(arguments, dict):
            raise ValueError(f"spec arguments={arguments!r} is not supported; expected a dict.")
        form = config.get("form", "training")
        if form not in ("training", "fused"):
            raise ValueError(f"spec form={form!r} is not supported; expected 'training' or 'fused'.")
        preset = config.get("preset")
        if preset is not None:
            registry.preset_info(preset)  # a known preset, or a ValueError listing them
        return cls(config["family"], config.get("variant"), arguments, form, preset)


def _jsonable(value):
    if callable(value):  # a classifier_activation given as a function
        import keras

        return keras.activations.serialize(value)
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, (tuple, list)):
        return [_jsonable(item) for item in value]
    return value


def spec_of(model, purpose):
    """The `ModelSpec` of a keras_mixer model (or of the one nested in `model`).

    Raises a ValueError saying what `purpose` needs when `model` is not one.
    """
    for layer in [model] + list(getattr(model, "layers", [])):
        if isinstance(getattr(layer, "spec", None), ModelSpec):
            return layer.spec
    raise ValueError(
        f"Model {getattr(model, 'name', model)!r} is not a keras_mixer model (it has no "
        f"spec), so {purpose} cannot tell its family; build it with a keras_mixer builder "
        f"or load it from a .keras file saved from one."
    )
