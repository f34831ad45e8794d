"""Training at scale: the papers' recipes, tf.data pipelines, distribution, distillation.

Example:

>>> from keras_mixer import training
>>> training.get_recipe("deit").optimizer
'lamb'
"""

from keras_mixer.training.backup import ResumableBackup
from keras_mixer.training.callbacks import TrainingCurves
from keras_mixer.training.clipping import clip_across_replicas
from keras_mixer.training.data import load_image_data
from keras_mixer.training.data import make_pipeline
from keras_mixer.training.distillation import Distillation
from keras_mixer.training.distillation import HardDistillation
from keras_mixer.training.distribution import STRATEGIES
from keras_mixer.training.distribution import Distribution
from keras_mixer.training.distribution import get_distribution
from keras_mixer.training.multi_worker import patch_model_for_multi_worker
from keras_mixer.training.recipes import RECIPES
from keras_mixer.training.recipes import Recipe
from keras_mixer.training.recipes import get_recipe
from keras_mixer.training.run import build_model
from keras_mixer.training.run import compile_model
from keras_mixer.training.run import train
from keras_mixer.training.schedules import WarmupDecay

__all__ = [
    "Distillation",
    "Distribution",
    "HardDistillation",
    "RECIPES",
    "Recipe",
    "ResumableBackup",
    "STRATEGIES",
    "TrainingCurves",
    "WarmupDecay",
    "build_model",
    "clip_across_replicas",
    "compile_model",
    "get_distribution",
    "get_recipe",
    "load_image_data",
    "make_pipeline",
    "patch_model_for_multi_worker",
    "train",
]
