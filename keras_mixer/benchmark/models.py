"""The models a benchmark can measure: a keras_mixer builder and timm's same model.

Every registered variant with a named builder can be measured, by that name
("ResMLP12", "MLPMixerB16", ...); timm's model is the one the registry names.
"""

import dataclasses

from keras_mixer import registry


@dataclasses.dataclass(frozen=True)
class BenchmarkModel:
    """A keras_mixer builder with its arguments, and timm's model of the same architecture.

    `timm=None` means timm has no such model. With `timm_kwargs`, timm's
    model is instead a ResMLP of that architecture (timm's `MlpMixer` with
    its `ResBlock` and `Affine`); `timm` then only names the family.
    """

    builder: str
    family: str
    kwargs: dict = dataclasses.field(default_factory=dict)
    timm: str = None
    timm_kwargs: dict = dataclasses.field(default_factory=dict)

    @property
    def preprocessing(self):
        """The family's `registry.Preprocessing`: timm's models take its normalised inputs."""
        return registry.family_info(self.family).preprocessing

    def build(self):
        import keras_mixer

        return getattr(keras_mixer, self.builder)(**self.kwargs)

    def build_timm(self, timm):
        """timm's model (random weights) from the imported `timm` module."""
        if not self.timm_kwargs:
            return timm.create_model(self.timm, pretrained=False)
        mixer = timm.models.mlp_mixer
        return mixer.MlpMixer(block_layer=mixer.ResBlock, norm_layer=mixer.Affine,
                              **self.timm_kwargs)


MODELS = {
    variant.function: BenchmarkModel(variant.function, variant.family.name, timm=variant.timm)
    for variant in map(registry.model_info, registry.list_models())
    if variant.function
}
# A few-kFLOP ResMLP for smoke runs and tests of the benchmark itself.
MODELS["tiny"] = BenchmarkModel(
    "ResMLP",
    "resmlp",
    {"patch_size": 8, "embed_dim": 16, "depth": 1, "input_shape": (32, 32, 3),
     "classes": 10, "name": "resmlp_tiny"},
    timm="resmlp_12_224",
    timm_kwargs={"img_size": 32, "patch_size": 8, "num_blocks": 1, "embed_dim": 16,
                 "num_classes": 10, "mlp_ratio": 4},
)
DEFAULT_MODELS = ("ResMLP12", "ResMLP24", "MLPMixerS16", "MLPMixerB16", "RepMLPNetT224")


def get_model(name):
    """The `BenchmarkModel` called `name`, or a ValueError listing the known ones."""
    if name not in MODELS:
        raise ValueError(f"Unknown benchmark model {name!r}; expected one of {sorted(MODELS)}.")
    return MODELS[name]
