"""keras_mixer: all-MLP vision models (MLP-Mixer, ResMLP, RepMLPNet) for Keras 3.

Example:

>>> import keras_mixer
>>> model = keras_mixer.ResMLP12(input_shape=(64, 64, 3), classes=10)
>>> model.output_shape
(None, 10)
"""

from keras_mixer import analysis
from keras_mixer import export
from keras_mixer import layers
from keras_mixer import models
from keras_mixer import training  # registers what a trained model needs to load
from keras_mixer.export import export_saved_model
from keras_mixer.features import feature_extractor
from keras_mixer.features import feature_names
from keras_mixer.rewrites import fuse_for_inference
from keras_mixer.models import *  # noqa: F401,F403  (the keras.applications-style builders)
from keras_mixer.presets import from_preset
from keras_mixer.presets import save_preset
from keras_mixer.registry import family_info
from keras_mixer.registry import list_families
from keras_mixer.registry import list_models
from keras_mixer.registry import list_presets
from keras_mixer.registry import model_info
from keras_mixer.registry import preset_info
from keras_mixer.rewrites import reparameterize
from keras_mixer.version import __version__

__all__ = [
    "analysis", "export", "export_saved_model", "family_info", "feature_extractor", "feature_names",
    "from_preset",
    "fuse_for_inference", "layers", "list_families", "list_models", "list_presets", "model_info",
    "models", "preset_info", "reparameterize", "save_preset", "training", "__version__",
] + models.__all__
