"""Inference rewrites: a trained model to a faster form with the same outputs.

`fuse_for_inference` folds every Mixer block's per-channel maps into its
linear maps (and re-parameterises RepMLPNet); `reparameterize` turns every
RepMLP block into its single-FC deploy form; both go through `rebuild`,
which clones the model with some layers rewritten and keeps its spec.
"""

from keras_mixer.rewrites.fusion import fuse_for_inference
from keras_mixer.rewrites.rebuild import rebuild
from keras_mixer.rewrites.reparameterization import reparameterize

__all__ = ["fuse_for_inference", "rebuild", "reparameterize"]
