"""Loading at another resolution: token-mixing weights resampled over the patch grid."""

import numpy as np
import pytest

import keras_mixer
from keras_mixer.weights.resample import grid_matrix
from keras_mixer.weights.resample import resample_token_weight
from keras_mixer.weights.resample import resize_matrix
from test_parity import flax_mixer_params
from test_weights import small_mixer
from test_weights import small_resmlp

PATCH, DIM = 8, 32


@pytest.mark.parametrize("size_in, size_out", [(4, 4), (4, 8), (8, 4), (4, 6), (6, 4), (3, 7)])
def test_resize_matrix_rows_are_averages(size_in, size_out):
    matrix = resize_matrix(size_in, size_out)
    assert matrix.shape == (size_out, size_in)
    assert np.all(matrix >= 0)
    np.testing.assert_allclose(matrix.sum(axis=1), 1.0)
    if size_in == size_out:
        np.testing.assert_allclose(matrix, np.eye(size_in))
    if size_out < size_in:
        if size_in % size_out == 0:  # an area average of whole cells
            factor = size_in // size_out
            np.testing.assert_allclose(matrix, np.kron(np.eye(size_out), np.full((1, factor), 1 / factor)))
        return
    ramp = np.arange(size_in, dtype=float)
    # Enlarging, a linear function of the position is reproduced away from the borders.
    centres = (np.arange(size_out) + 0.5) * size_in / size_out - 0.5
    inner = (centres >= 0) & (centres <= size_in - 1)
    np.testing.assert_allclose((matrix @ ramp)[inner], centres[inner], atol=1e-12)


def _positions(grid):
    rows, cols = grid
    r, c = np.meshgrid((np.arange(rows) + 0.5) / rows, (np.arange(cols) + 0.5) / cols, indexing="ij")
    return np.stack([r.ravel(), c.ravel()], axis=1)


def _smooth_map(grid, width=0.35):
    """A token map that is a smooth kernel over image coordinates, as a density."""
    positions = _positions(grid)
    distance = np.linalg.norm(positions[:, None] - positions[None], axis=-1)
    return np.exp(-((distance / width) ** 2)) / len(positions)  # (S_in, S_out)


@pytest.mark.parametrize("grid_out", [(8, 8), (6, 6), (4, 4), (3, 3), (4, 8), (6, 3)])
def test_resampled_linear_map_is_the_same_map_on_the_new_grid(grid_out):
    grid_in = (6, 6)
    resampled = resample_token_weight(
        _smooth_map(grid_in), "linear", "kernel", (np.prod(grid_out),) * 2, grid_out
    )
    expected = _smooth_map(grid_out)
    # Applied to a smooth input field, it responds as the same map sampled on
    # the new grid (to within the 6x6 grid's discretisation).
    rows, cols = _positions(grid_out).T
    field = 1.0 + np.sin(3 * rows) * np.cos(2 * cols)
    error = np.max(np.abs(field @ resampled - field @ expected)) / np.max(np.abs(field @ expected))
    assert error <= 0.1
    constant = np.full((36, 36), 1 / 36)
    np.testing.assert_allclose(
        resample_token_weight(constant, "linear", "kernel", resampled.shape, grid_out),
        1 / np.prod(grid_out),
    )


@pytest.mark.parametrize("size", [(64, 64), (16, 16), (48, 24)])
def test_mixer_checkpoint_loads_at_other_sizes_with_resampled_token_weights(tmp_path, size):
    params = flax_mixer_params(np.random.default_rng(0), 16)  # a 4x4 grid, 32x32 images
    path = str(tmp_path / "mixer.npz")
    np.savez(path, **params)
    model = small_mixer(input_shape=(*size, 3), weights=path)
    grid = (size[0] // PATCH, size[1] // PATCH)
    matrix = grid_matrix((4, 4), grid)
    block = model.get_layer("block_1").token_mixing
    source = "MixerBlock_1/token_mixing/Dense_{}/{}"
    back = grid_matrix(grid, (4, 4))
    np.testing.assert_allclose(
        np.array(block.fc1.kernel), back.T @ params[source.format(0, "kernel")], rtol=1e-5, atol=1e-7
    )
    np.testing.assert_allclose(np.array(block.fc1.bias), params[source.format(0, "bias")])
    np.testing.assert_allclose(
        np.array(block.fc2.kernel), params[source.format(1, "kernel")] @ matrix.T, rtol=1e-5, atol=1e-7
    )
    np.testing.assert_allclose(
        np.array(block.fc2.bias), matrix @ params[source.format(1, "bias")], rtol=1e-5, atol=1e-7
    )
    np.testing.assert_array_equal(
        np.array(model.get_layer("block_1").channel_mixing.fc1.kernel),
        params["MixerBlock_1/channel_mixing/Dense_0/kernel"],
    )
    assert np.isfinite(model.predict(np.zeros((1, *size, 3)), verbose=0)).all()


def test_resmlp_resamples_both_sides_of_its_token_map(tmp_path):
    source = small_resmlp()
    path = str(tmp_path / "resmlp.weights.h5")
    source.save_weights(path)
    model = small_resmlp(input_shape=(48, 64, 3), weights=path)
    matrix, back = grid_matrix((4, 4), (6, 8)), grid_matrix((6, 8), (4, 4))
    kernel = np.array(source.get_layer("block_0").token_mixing.linear.kernel)
    bias = np.array(source.get_layer("block_0").token_mixing.linear.bias)
    linear = model.get_layer("block_0").token_mixing.linear
    np.testing.assert_allclose(
        np.array(linear.kernel), back.T @ kernel @ matrix.T, rtol=1e-5, atol=1e-8
    )
    np.testing.assert_allclose(np.array(linear.bias), matrix @ bias, rtol=1e-5, atol=1e-8)


def test_a_non_square_checkpoint_grid_cannot_be_inferred(tmp_path):
    source = small_resmlp(input_shape=(32, 64, 3))
    path = str(tmp_path / "wide.weights.h5")
    source.save_weights(path)
    model = small_resmlp()
    before = [np.array(variable) for variable in model.weights]
    with pytest.raises(ValueError, match="32 tokens do not form a square patch grid"):
        keras_mixer.weights.load_weights(model, path)
    for value, variable in zip(before, model.weights):
        np.testing.assert_array_equal(value, np.array(variable))
