"""Resolution adaptation: resampling token-mixing weights over the patch grid.

A token-mixing map is indexed by patch positions on a grid of
`rows x cols = S` tokens, flattened row-major. Built at another input size,
the grid changes and so must every token axis of its weights. Resampling a
grid uses `resize_matrix` on each side (linear interpolation when enlarging,
area averaging when shrinking; every row sums to 1). With `U` the `(S', S)`
matrix from the checkpoint's grid to the new one and `D` the `(S, S')`
matrix back, a map `A` (tokens in -> tokens out) becomes `U A D`:

- output side (tokens the map writes; its bias): `K' = K U^T`, `b' = U b`;
- input side (tokens the map reads): `K' = D^T K`. The new tokens are first
  brought back to the checkpoint's grid, so the map's total weight over a
  region of the image is kept whether that region holds more or fewer tokens
  (each column of `D^T` sums to about `S / S'`).

ResMLP's `A` (`linear`, `(S, S)`) and gMLP's gate map (`proj`, `(S, S)`)
have both sides; MLP-Mixer's `fc1` (`(S, D)`)
reads tokens, `fc2` (`(D, S)`) and both token biases write them. A map that is
smooth over image coordinates becomes the same map sampled on the new grid
(tests/test_resolution.py). On an image enlarged by an integer factor, `D`
(an area average) undoes the enlargement exactly.
"""

import math

import numpy as np


def resize_matrix(size_in, size_out):
    """The `(size_out, size_in)` 1-D resampling matrix; every row sums to 1.

    Enlarging, linear interpolation with half-pixel centres (clamped at the
    borders); shrinking, area averaging: each output cell averages the input
    cells it overlaps, weighted by the overlap.
    """
    if size_out >= size_in:
        centres = np.clip((np.arange(size_out) + 0.5) * size_in / size_out - 0.5, 0, size_in - 1)
        weights = np.maximum(0.0, 1.0 - np.abs(np.arange(size_in)[None, :] - centres[:, None]))
    else:
        edges = np.arange(size_out + 1) * size_in / size_out
        left = np.maximum(np.arange(size_in)[None, :], edges[:-1, None])
        right = np.minimum(np.arange(size_in)[None, :] + 1, edges[1:, None])
        weights = np.maximum(0.0, right - left)
    return weights / weights.sum(axis=1, keepdims=True)


def grid_matrix(grid_in, grid_out):
    """Returns the `(S_out, S_in)` matrix resampling a row-major flattened grid."""
    return np.kron(resize_matrix(grid_in[0], grid_out[0]), resize_matrix(grid_in[1], grid_out[1]))


def square_grid(tokens):
    """The `(n, n)` grid of a checkpoint with `tokens = n * n`, or a ValueError."""
    side = math.isqrt(tokens)
    if side * side != tokens:
        raise ValueError(
            f"the checkpoint's {tokens} tokens do not form a square patch grid, so "
            f"its grid cannot be inferred for resampling"
        )
    return side, side


def resample_axis(array, axis, grid_in, grid_out, side):
    """Resamples one token axis of `array`; `side` is "input" or "output"."""
    if side == "input":
        matrix = grid_matrix(grid_out, grid_in).T
    else:
        matrix = grid_matrix(grid_in, grid_out)
    moved = np.moveaxis(np.asarray(array, np.float64), axis, 0)
    return np.moveaxis(np.tensordot(matrix, moved, axes=1), 0, axis).astype(array.dtype)


# (map, weight) -> ((axis, side), ...) for the token axes of each Keras weight.
TOKEN_AXES = {
    ("linear", "kernel"): ((0, "input"), (1, "output")),
    ("linear", "bias"): ((0, "output"),),
    ("proj", "kernel"): ((0, "input"), (1, "output")),
    ("proj", "bias"): ((0, "output"),),
    ("fc1", "kernel"): ((0, "input"),),
    ("fc1", "bias"): (),
    ("fc2", "kernel"): ((1, "output"),),
    ("fc2", "bias"): ((0, "output"),),
}


def resample_token_weight(array, layer, weight, expected_shape, grid_out):
    """Resamples a token-mixing weight to `grid_out`; raises a ValueError if it cannot.

    `layer` is "linear", "proj", "fc1" or "fc2" and `weight` "kernel" or "bias"; the
    checkpoint's grid is inferred as square from its token count.
    """
    axes = TOKEN_AXES[(layer, weight)]
    if not axes or array.ndim != len(expected_shape):
        raise ValueError("not a token axis")
    grid_in = square_grid(array.shape[axes[0][0]])
    for axis, side in axes:
        if array.shape[axis] != grid_in[0] * grid_in[1]:
            raise ValueError("token axes of different sizes")
        array = resample_axis(array, axis, grid_in, grid_out, side)
    if array.shape != tuple(expected_shape):
        raise ValueError("a non-token axis differs too")
    return array
