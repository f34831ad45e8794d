"""Per layer: what each computes and the inputs it refuses (tests/test_harness.py checks
every layer's contract)."""

import keras
import numpy as np
import pytest

from keras_mixer import layers

from conftest import randomize_weights
from conftest import to_numpy
from conftest import relative_error


def _inputs(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def test_drop_path_drops_whole_samples_and_keeps_expectation():
    drop = layers.DropPath(0.25, seed=3)
    x = np.ones((4000, 3, 5), "float32")
    y = to_numpy(drop(x, training=True))
    per_sample = y.reshape(4000, -1)
    kept = np.unique(per_sample.min(1))
    assert len(kept) == 2 and kept[0] == 0.0 and abs(kept[1] - 1.0 / 0.75) < 1e-6
    assert np.all(per_sample.min(1) == per_sample.max(1))
    assert abs(y.mean() - 1.0) < 0.05
    np.testing.assert_array_equal(to_numpy(drop(x, training=False)), x)


def test_affine_is_diag_alpha_x_plus_beta():
    layer = layers.Affine()
    x = _inputs((2, 5, 4))
    layer.build(x.shape)
    layer.alpha.assign([1.0, 2.0, 3.0, 4.0])
    layer.beta.assign([0.5, 0.0, -1.0, 2.0])
    expected = x * np.array([1.0, 2.0, 3.0, 4.0]) + np.array([0.5, 0.0, -1.0, 2.0])
    assert relative_error(layer(x), expected) < 1e-6


def test_token_mixing_mixes_only_along_tokens():
    layer = layers.TokenMixing()
    x = _inputs((1, 6, 3))
    layer.build(x.shape)
    randomize_weights(layer, scale=0.5)
    y = to_numpy(layer(x))
    x_changed = x.copy()
    x_changed[0, :, 1] += 1.0  # change one channel at every token
    y_changed = to_numpy(layer(x_changed))
    np.testing.assert_allclose(y_changed[0, :, [0, 2]], y[0, :, [0, 2]], atol=1e-6)
    assert not np.allclose(y_changed[0, :, 1], y[0, :, 1])


@pytest.mark.parametrize("tokens, channels", [(6, 6), (6, 4), (4, 6)])
def test_token_dense_bias_lands_on_the_token_axis(tokens, channels):
    # Keras 3.15's TensorFlow add() puts a (units, 1) bias on the channel axis
    # when units == channels; TokenDense must not depend on that broadcast.
    layer = layers.TokenDense(tokens)
    x = _inputs((2, tokens, channels))
    layer.build(x.shape)
    kernel = np.random.default_rng(1).normal(size=(tokens, tokens)).astype("float32")
    layer.kernel.assign(kernel)
    layer.bias.assign(np.arange(tokens, dtype="float32"))
    expected = np.einsum("bsc,st->btc", x, kernel) + np.arange(tokens)[None, :, None]
    assert relative_error(layer(x), expected) < 1e-6


def test_gelu_forms_differ():
    x = _inputs((1, 4, 8))
    exact = layers.ChannelMixing(mlp_ratio=2, gelu_approximate=False)
    approx = layers.ChannelMixing(mlp_ratio=2, gelu_approximate=True)
    exact(x), approx(x)
    approx.set_weights(exact.get_weights())
    assert 0 < np.max(np.abs(to_numpy(exact(x)) - to_numpy(approx(x)))) < 1e-2


@pytest.mark.parametrize(
    "make, shape, message",
    [
        (lambda: layers.PatchEmbedding(4, 8), (1, 10, 8, 3), "height 10 is not a multiple"),
        (lambda: layers.PatchEmbedding(4, 8), (1, 8, 6, 3), "width 6 is not a multiple"),
        (lambda: layers.TokenMixing(), (1, 5), "token table"),
    ],
)
def test_layers_reject_bad_shapes(make, shape, message):
    with pytest.raises(ValueError, match=message):
        make()(np.zeros(shape, "float32"))
