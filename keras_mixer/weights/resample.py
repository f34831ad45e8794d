"""Resolution adaptation: resampling token-mixing weights over the patch grid.

A token-mixing map is indexed by patch positions on a grid of
`rows x cols = S` tokens, flattened row-major. Built at another input size,
the grid changes and so must every token axis of its weights. With `M` the
`(S', S)` bilinear resampling matrix from the checkpoint's grid to the new one
(half-pixel centres; a triangle filter widened by the scale factor when
shrinking, so every output is an average of the inputs it covers; rows sum
to 1), each token axis of a Keras kernel is mapped as:

- output side (tokens the map writes; its bias): `K' = K M^T`, `b' = M b`,
  values at the new positions are interpolated;
- input side (tokens the map reads): `K' = (S / S') M K`: the map's response
  is treated as a density over the image, so its total weight over a region
  is kept when that region holds more (or fewer) tokens.

ResMLP's `A` (`linear`, `(S, S)`) has both sides; MLP-Mixer's `fc1` (`(S, D)`)
reads tokens, `fc2` (`(D, S)`) and both token biases write them. The result
is `upsample o A o downsample`: a map that is smooth over image coordinates
becomes the same map sampled on the new grid (tests/test_resolution.py).
"""

import math

import numpy as np


def resize_matrix(size_in, size_out):
    """Returns the `(size_out, size_in)` 1-D linear resampling matrix (rows sum to 1)."""
    scale = size_in / size_out
    width = max(scale, 1.0)
    centres = (np.arange(size_out) + 0.5) * scale - 0.5
    distance = np.abs(np.arange(size_in)[None, :] - centres[:, None]) / width
    weights = np.maximum(0.0, 1.0 - distance)
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
    matrix = grid_matrix(grid_in, grid_out)
    if side == "input":
        matrix = matrix * (grid_in[0] * grid_in[1]) / (grid_out[0] * grid_out[1])
    moved = np.moveaxis(np.asarray(array, np.float64), axis, 0)
    return np.moveaxis(np.tensordot(matrix, moved, axes=1), 0, axis).astype(array.dtype)


# (map, weight) -> ((axis, side), ...) for the token axes of each Keras weight.
TOKEN_AXES = {
    ("linear", "kernel"): ((0, "input"), (1, "output")),
    ("linear", "bias"): ((0, "output"),),
    ("fc1", "kernel"): ((0, "input"),),
    ("fc1", "bias"): (),
    ("fc2", "kernel"): ((1, "output"),),
    ("fc2", "bias"): ((0, "output"),),
}


def resample_token_weight(array, layer, weight, expected_shape, grid_out):
    """Resamples a token-mixing weight to `grid_out`; raises a ValueError if it cannot.

    `layer` is "linear", "fc1" or "fc2" and `weight` "kernel" or "bias"; the
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
