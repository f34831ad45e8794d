"""Looking inside trained all-MLP models: pictures and numbers from their weights.

- `token_map_figure`: rows of ResMLP's token map A on the patch grid (early
  layers look like local convolutions).
- `token_mlp_figure`: MLP-Mixer's token-mixing hidden units on the patch grid.
- `sparsity`, `sparsity_figure`: how many weights of A, B, C are near zero.
- `random_permutation`, `permute_images`, `permute_model`,
  `permutation_figure`, `permutation_demo`: the permutation property of
  MLP-Mixer and ResMLP (they do not care about the order of patches or of
  pixels inside patches).
- `save_pictures`: all of the pictures of one model into a folder.

Every figure function returns a `matplotlib.figure.Figure` (no pyplot state)
and writes a PNG when given `path=`.
"""

from keras_mixer.analysis.blocks import mixer_blocks
from keras_mixer.analysis.blocks import mixing_matrices
from keras_mixer.analysis.figures import save_figure
from keras_mixer.analysis.permutation import PatchPermutation
from keras_mixer.analysis.permutation import permutation_figure
from keras_mixer.analysis.permutation import permute_images
from keras_mixer.analysis.permutation import permute_model
from keras_mixer.analysis.permutation import random_permutation
from keras_mixer.experiments.shuffled_digits import permutation_demo
from keras_mixer.analysis.pictures import save_pictures
from keras_mixer.analysis.weight_sparsity import sparsity
from keras_mixer.analysis.weight_sparsity import sparsity_figure
from keras_mixer.analysis.token_maps import token_map_figure
from keras_mixer.analysis.token_maps import token_map_rows
from keras_mixer.analysis.token_maps import token_mlp_figure
from keras_mixer.analysis.token_maps import token_mlp_units

__all__ = [
    "PatchPermutation",
    "mixer_blocks",
    "mixing_matrices",
    "permutation_demo",
    "permutation_figure",
    "permute_images",
    "permute_model",
    "random_permutation",
    "save_figure",
    "save_pictures",
    "sparsity",
    "sparsity_figure",
    "token_map_figure",
    "token_map_rows",
    "token_mlp_figure",
    "token_mlp_units",
]
