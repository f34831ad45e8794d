"""Model builders: one generic builder per family and thin named variants."""

from keras_mixer.models.mlp_mixer import MLPMixer
from keras_mixer.models.mlp_mixer import MLPMixerB16
from keras_mixer.models.mlp_mixer import MLPMixerB32
from keras_mixer.models.mlp_mixer import MLPMixerH14
from keras_mixer.models.mlp_mixer import MLPMixerL16
from keras_mixer.models.mlp_mixer import MLPMixerL32
from keras_mixer.models.mlp_mixer import MLPMixerS16
from keras_mixer.models.mlp_mixer import MLPMixerS32
from keras_mixer.models.repmlpnet import RepMLPNet
from keras_mixer.models.repmlpnet import RepMLPNetB224
from keras_mixer.models.repmlpnet import RepMLPNetB256
from keras_mixer.models.repmlpnet import RepMLPNetD256
from keras_mixer.models.repmlpnet import RepMLPNetL256
from keras_mixer.models.repmlpnet import RepMLPNetT224
from keras_mixer.models.repmlpnet import RepMLPNetT256
from keras_mixer.models.resmlp import ResMLP
from keras_mixer.models.resmlp import ResMLP12
from keras_mixer.models.resmlp import ResMLP24
from keras_mixer.models.resmlp import ResMLP36
from keras_mixer.models.resmlp import ResMLPB24

VARIANTS = {
    "resmlp12": ResMLP12,
    "resmlp24": ResMLP24,
    "resmlp36": ResMLP36,
    "resmlpb24": ResMLPB24,
    "mixer_s32": MLPMixerS32,
    "mixer_s16": MLPMixerS16,
    "mixer_b32": MLPMixerB32,
    "mixer_b16": MLPMixerB16,
    "mixer_l32": MLPMixerL32,
    "mixer_l16": MLPMixerL16,
    "mixer_h14": MLPMixerH14,
    "repmlpnet_t224": RepMLPNetT224,
    "repmlpnet_b224": RepMLPNetB224,
    "repmlpnet_t256": RepMLPNetT256,
    "repmlpnet_b256": RepMLPNetB256,
    "repmlpnet_d256": RepMLPNetD256,
    "repmlpnet_l256": RepMLPNetL256,
}


def get_model(name, **kwargs):
    """Builds a named variant, e.g. `get_model("resmlp12", classes=10)`.

    Example:

    >>> import keras_mixer
    >>> keras_mixer.models.get_model("resmlp12", input_shape=(32, 32, 3)).name
    'resmlp12'
    """
    key = name.lower().replace("-", "_").replace("/", "")
    if key not in VARIANTS:
        raise ValueError(f"Unknown model {name!r}; expected one of {sorted(VARIANTS)}.")
    return VARIANTS[key](**kwargs)


__all__ = ["VARIANTS", "get_model", "MLPMixer", "RepMLPNet", "ResMLP"] + [
    function.__name__ for function in VARIANTS.values()
]
