"""Token-mixing weights drawn on the patch grid.

ResMLP's token map A (S x S) tells, for each output patch, how much every
input patch contributes: row s of A reshaped to the `(rows, cols)` patch grid
is a picture of that "receptive field". In trained models the early layers'
rows are concentrated around patch s, like a convolution (ResMLP paper,
Fig. 4). For MLP-Mixer the hidden units of the token MLP (columns of the
first layer's `(S, D_S)` kernel) are drawn the same way (Mixer paper, Fig. 5).
"""

import numpy as np

from keras_mixer.analysis.blocks import as_array
from keras_mixer.analysis.blocks import is_resmlp_block
from keras_mixer.analysis.blocks import mixer_blocks
from keras_mixer.analysis.blocks import select_blocks
from keras_mixer.analysis.figures import new_figure
from keras_mixer.analysis.figures import save_figure
from keras_mixer.analysis.figures import show_matrix
from keras_mixer.introspection import patch_grid


def _check_indices(name, indices, size, what):
    indices = [int(index) for index in indices]
    if not indices or any(not 0 <= index < size for index in indices):
        raise ValueError(f"{name}={indices} is not supported; expected {what} in 0..{size - 1}.")
    return indices


def default_tokens(grid):
    """The centre patch and the centres of the four quarters of the grid."""
    rows, cols = grid
    places = [(rows // 2, cols // 2)] + [
        (row * rows // 4, col * cols // 4) for row in (1, 3) for col in (1, 3)
    ]
    return list(dict.fromkeys(row * cols + col for row, col in places))


def _block(model, layer, want_resmlp):
    blocks = mixer_blocks(model)
    _check_indices("layer", [layer], len(blocks), "a block index")
    block = blocks[layer]
    if is_resmlp_block(block) != want_resmlp:
        expected = "a ResMLP model (token map A)" if want_resmlp else "an MLP-Mixer model (token MLP)"
        raise ValueError(f"Model {model.name!r} is not {expected}.")
    return block


def token_map_rows(model, layer, tokens):
    """Rows `tokens` of block `layer`'s token map A, as `(len(tokens), rows, cols)`.

    `A = kernel.T` of the block's `token_mixing.linear` (a `TokenDense`
    kernel is stored `(S_in, S_out)`).

    Example:

    >>> import keras_mixer
    >>> model = keras_mixer.ResMLP(patch_size=8, embed_dim=16, depth=2, input_shape=(32, 32, 3))
    >>> from keras_mixer.analysis import token_map_rows
    >>> token_map_rows(model, 0, [0, 5]).shape
    (2, 4, 4)
    """
    block = _block(model, layer, want_resmlp=True)
    grid = patch_grid(model)
    matrix = as_array(block.token_mixing.linear.kernel).T
    tokens = _check_indices("tokens", tokens, len(matrix), "token indices")
    return matrix[tokens].reshape(len(tokens), *grid)


def token_mlp_units(model, layer, units):
    """Hidden units `units` of block `layer`'s token MLP on the grid: `(len(units), rows, cols)`.

    Unit j is column j of `token_mixing.fc1.kernel` (S, D_S): its weight on every input patch.

    Example:

    >>> import keras_mixer
    >>> model = keras_mixer.MLPMixer(patch_size=8, embed_dim=16, depth=2, token_mixing_dim=8,
    ...     channel_mixing_dim=32, input_shape=(32, 32, 3))
    >>> from keras_mixer.analysis import token_mlp_units
    >>> token_mlp_units(model, 1, range(3)).shape
    (3, 4, 4)
    """
    block = _block(model, layer, want_resmlp=False)
    grid = patch_grid(model)
    kernel = as_array(block.token_mixing.fc1.kernel)
    units = _check_indices("units", units, kernel.shape[1], "hidden unit indices")
    return kernel[:, units].T.reshape(len(units), *grid)


def _grid_figure(model, layers, columns, pictures, column_title):
    selected = select_blocks(model, layers)
    figure = new_figure(1.4 * len(columns) + 0.4, 1.4 * len(selected) + 0.6)
    axes = figure.subplots(len(selected), len(columns), squeeze=False)
    for row, (index, _) in enumerate(selected):
        images = pictures(index)
        for column, image in enumerate(images):
            show_matrix(axes[row, column], image, column_title(columns[column]) if row == 0 else None)
        axes[row, 0].set_ylabel(f"block {index}", fontsize=8)
    return figure


def token_map_figure(model, layers=None, tokens=None, path=None):
    """Rows of ResMLP's token map A on the patch grid: one row of panels per layer.

    Args:
        model: a keras_mixer ResMLP.
        layers: block indices; default up to 4 spread from first to last.
        tokens: output patches whose rows are drawn; default the grid's
            centre and the centres of its quarters (marked with a dot).
        path: where to write the PNG, or None.

    Returns:
        A `matplotlib.figure.Figure`; panel `[i][j]` shows A's row
        `tokens[j]` of block `layers[i]`, red positive, blue negative.

    Example:

    >>> import keras_mixer
    >>> model = keras_mixer.ResMLP(patch_size=8, embed_dim=16, depth=2, input_shape=(32, 32, 3))
    >>> from keras_mixer.analysis import token_map_figure
    >>> len(token_map_figure(model, tokens=[0, 5]).axes)
    4
    """
    grid = patch_grid(model)
    tokens = default_tokens(grid) if tokens is None else list(tokens)
    _block(model, 0, want_resmlp=True)
    figure = _grid_figure(
        model, layers, tokens, lambda index: token_map_rows(model, index, tokens),
        lambda token: f"patch {token} ({token // grid[1]},{token % grid[1]})",
    )
    for axes_row in np.reshape(figure.axes, (-1, len(tokens))):
        for axes, token in zip(axes_row, tokens):
            axes.plot(token % grid[1], token // grid[1], "k.", markersize=3)
    figure.suptitle(f"{model.name}: rows of the token map A on the {grid[0]}x{grid[1]} patch grid",
                    fontsize=9)
    return save_figure(figure, path)


def token_mlp_figure(model, layers=None, units=None, path=None):
    """MLP-Mixer's token-MLP hidden units on the patch grid: one row of panels per layer.

    Args:
        model: a keras_mixer MLP-Mixer.
        layers: block indices; default up to 4 spread from first to last.
        units: hidden units (columns of `fc1`); default the first 8.
        path: where to write the PNG, or None.

    Returns:
        A `matplotlib.figure.Figure`; panel `[i][j]` is unit `units[j]` of
        block `layers[i]`.

    Example:

    >>> import keras_mixer
    >>> model = keras_mixer.MLPMixer(patch_size=8, embed_dim=16, depth=2, token_mixing_dim=8,
    ...     channel_mixing_dim=32, input_shape=(32, 32, 3))
    >>> from keras_mixer.analysis import token_mlp_figure
    >>> len(token_mlp_figure(model, layers=[0], units=[0, 1, 2]).axes)
    3
    """
    _block(model, 0, want_resmlp=False)
    hidden = mixer_blocks(model)[0].token_mixing.hidden_dim
    units = list(range(min(8, hidden))) if units is None else list(units)
    figure = _grid_figure(
        model, layers, units, lambda index: token_mlp_units(model, index, units),
        lambda unit: f"unit {unit}",
    )
    grid = patch_grid(model)
    figure.suptitle(f"{model.name}: token-mixing hidden units on the {grid[0]}x{grid[1]} patch grid",
                    fontsize=9)
    return save_figure(figure, path)
