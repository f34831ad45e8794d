"""Gradient checkpointing (`remat=True`): the same training step, fewer kept activations.

One step of plain SGD with learning rate 1 moves each weight by minus its
gradient, so equal weights after the step mean equal gradients, on every
backend, without a backend's gradient API.
"""

import keras
import numpy as np
import pytest
from conftest import randomize_weights
from conftest import random_images

import keras_mixer

TINY = {
    "resmlp": lambda **kw: keras_mixer.ResMLP(patch_size=4, embed_dim=16, depth=2, input_shape=(16, 16, 3),
                                              classes=3, **kw),
    "mixer": lambda **kw: keras_mixer.MLPMixer(patch_size=4, embed_dim=16, depth=2, token_mixing_dim=8,
                                               channel_mixing_dim=32, input_shape=(16, 16, 3), classes=3, **kw),
    "gmlp": lambda **kw: keras_mixer.GMLP(patch_size=4, embed_dim=16, depth=2, mlp_ratio=2.0,
                                          input_shape=(16, 16, 3), classes=3, **kw),
}


def one_sgd_step(model, images, labels):
    model.compile(keras.optimizers.SGD(learning_rate=1.0), "categorical_crossentropy")
    model.train_on_batch(images, labels)
    return [keras.ops.convert_to_numpy(weight) for weight in model.weights]


@pytest.mark.parametrize("family", sorted(TINY))
def test_remat_keeps_the_gradients(family, tmp_path):
    plain, recomputed = TINY[family](), TINY[family](remat=True)
    randomize_weights(plain)
    recomputed.set_weights(plain.get_weights())
    assert recomputed.remat_layers and not plain.remat_layers
    assert all(recomputed.get_layer(name)._remat_mode is not None for name in recomputed.remat_layers)
    size = plain.input_shape[1]
    images = random_images((4, size, size, 3))
    labels = np.eye(3, dtype="float32")[[0, 1, 2, 0]]
    before = [np.array(weight) for weight in plain.get_weights()]
    expected = one_sgd_step(plain, images, labels)
    found = one_sgd_step(recomputed, images, labels)
    assert any(not np.allclose(a, b) for a, b in zip(before, expected))  # the step moved the weights
    for weight, a, b in zip(plain.weights, expected, found):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6, err_msg=weight.path)


def test_remat_is_kept_through_keras_files(tmp_path):
    model = TINY["mixer"](remat=True)
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    assert loaded.remat_layers == ("block_0", "block_1") and loaded.spec.arguments["remat"] is True
    assert loaded.get_layer("block_0")._remat_mode is not None
    assert loaded.get_layer("norm")._remat_mode is None or "norm" not in loaded.get_layer("norm")._remat_mode.layer_names


def test_remat_must_be_a_boolean():
    with pytest.raises(ValueError, match="remat='yes'"):
        TINY["resmlp"](remat="yes")


@pytest.mark.parametrize("rates", [{"drop_path_rate": 0.1}, {"dropout_rate": 0.1}])
def test_remat_refuses_random_masks(rates):
    with pytest.raises(ValueError, match="would draw new random masks"):
        TINY["mixer"](remat=True, **rates)
