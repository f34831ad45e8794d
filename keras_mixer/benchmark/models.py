"""The models a benchmark can measure: a keras_mixer builder and timm's same model."""

import dataclasses


@dataclasses.dataclass(frozen=True)
class BenchmarkModel:
    """A keras_mixer builder with its arguments, and timm's model of the same architecture.

    `timm=None` means timm has no such model. With `timm_kwargs`, timm's
    model is instead a ResMLP of that architecture (timm's `MlpMixer` with
    its `ResBlock` and `Affine`); `timm` then only names the family.
    """

    builder: str
    kwargs: dict = dataclasses.field(default_factory=dict)
    timm: str = None
    timm_kwargs: dict = dataclasses.field(default_factory=dict)

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
    "ResMLP12": BenchmarkModel("ResMLP12", timm="resmlp_12_224"),
    "ResMLP24": BenchmarkModel("ResMLP24", timm="resmlp_24_224"),
    "MLPMixerS16": BenchmarkModel("MLPMixerS16", timm="mixer_s16_224"),
    "MLPMixerB16": BenchmarkModel("MLPMixerB16", timm="mixer_b16_224"),
    "RepMLPNetT224": BenchmarkModel("RepMLPNetT224"),
    # A few-kFLOP ResMLP for smoke runs and tests of the benchmark itself.
    "tiny": BenchmarkModel(
        "ResMLP",
        {"patch_size": 8, "embed_dim": 16, "depth": 1, "input_shape": (32, 32, 3),
         "classes": 10, "name": "resmlp_tiny"},
        timm="resmlp_12_224",
        timm_kwargs={"img_size": 32, "patch_size": 8, "num_blocks": 1, "embed_dim": 16,
                     "num_classes": 10, "mlp_ratio": 4},
    ),
}
DEFAULT_MODELS = ("ResMLP12", "ResMLP24", "MLPMixerS16", "MLPMixerB16", "RepMLPNetT224")


def get_model(name):
    """The `BenchmarkModel` called `name`, or a ValueError listing the known ones."""
    if name not in MODELS:
        raise ValueError(f"Unknown benchmark model {name!r}; expected one of {sorted(MODELS)}.")
    return MODELS[name]
