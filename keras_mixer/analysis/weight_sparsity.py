"""How sparse the mixing matrices are, layer by layer.

The ResMLP paper (Sec. 4.2, Fig. 5) finds that the token map A is much
sparser than the channel MLP's B and C. The measure here: the fraction of a
matrix's entries whose magnitude is below `threshold` times the matrix's
largest magnitude (0 for a dense matrix of equal entries, close to 1 when a
few entries dominate).
"""

import numpy as np

from keras_mixer.analysis.blocks import mixer_blocks
from keras_mixer.analysis.blocks import mixing_matrices
from keras_mixer.analysis.figures import new_figure
from keras_mixer.analysis.figures import save_figure

DEFAULT_THRESHOLD = 0.05


def _check_threshold(threshold):
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold={threshold!r} is not supported; expected 0 < threshold < 1.")


def near_zero_fraction(matrix, threshold=DEFAULT_THRESHOLD):
    """The fraction of entries with `|w| < threshold * max|w|`.

    Example:

    >>> import numpy as np
    >>> from keras_mixer.analysis.weight_sparsity import near_zero_fraction
    >>> near_zero_fraction(np.array([[1.0, 0.01], [0.0, -0.5]]))
    0.5
    """
    _check_threshold(threshold)
    magnitude = np.abs(np.asarray(matrix, dtype="float64"))
    return float(np.mean(magnitude < threshold * magnitude.max()))


def sparsity(model, threshold=DEFAULT_THRESHOLD):
    """`{matrix name: array of per-block near-zero fractions}` for every block.

    Names are "A", "B", "C" for ResMLP and "W1".."W4" for MLP-Mixer (see
    `mixing_matrices`); entry `i` of each array is block `i`.

    Example:

    >>> import keras_mixer
    >>> model = keras_mixer.ResMLP(patch_size=8, embed_dim=16, depth=2, input_shape=(32, 32, 3))
    >>> from keras_mixer.analysis import sparsity
    >>> {name: values.shape for name, values in sparsity(model).items()}
    {'A': (2,), 'B': (2,), 'C': (2,)}
    """
    _check_threshold(threshold)
    per_block = [mixing_matrices(block) for block in mixer_blocks(model)]
    return {
        name: np.array([near_zero_fraction(matrices[name], threshold) for matrices in per_block])
        for name in per_block[0]
    }


def sparsity_figure(model, threshold=DEFAULT_THRESHOLD, path=None):
    """Histograms of `|w| / max|w|` per matrix kind, and the near-zero fraction per block.

    Left: the distribution of relative magnitudes (log scale) of all blocks'
    A, B, C (or W1..W4), with the threshold as a dashed line. Right:
    `sparsity(model, threshold)` against the block index.

    Example:

    >>> import keras_mixer
    >>> model = keras_mixer.ResMLP(patch_size=8, embed_dim=16, depth=2, input_shape=(32, 32, 3))
    >>> from keras_mixer.analysis import sparsity_figure
    >>> len(sparsity_figure(model).axes)
    2
    """
    fractions = sparsity(model, threshold)
    per_block = [mixing_matrices(block) for block in mixer_blocks(model)]
    figure = new_figure(9, 3.4)
    histogram, curves = figure.subplots(1, 2)
    bins = np.linspace(-4, 0, 41)
    for name in fractions:
        relative = np.concatenate([
            np.abs(matrices[name]).ravel() / np.abs(matrices[name]).max() for matrices in per_block
        ])
        histogram.hist(np.log10(np.maximum(relative, 1e-4)), bins=bins, histtype="step",
                       density=True, label=name)
        curves.plot(np.arange(len(per_block)), fractions[name], "o-", label=name)
    histogram.axvline(np.log10(threshold), color="grey", linestyle="--")
    histogram.set_xlabel("log10(|w| / max |w|), all blocks")
    histogram.set_ylabel("density")
    histogram.legend(fontsize=8)
    curves.set_xlabel("block")
    curves.set_ylabel(f"fraction with |w| < {threshold:g} max |w|")
    curves.set_ylim(0, 1)
    curves.legend(fontsize=8)
    figure.suptitle(f"{model.name}: sparsity of the mixing matrices", fontsize=9)
    return save_figure(figure, path)
