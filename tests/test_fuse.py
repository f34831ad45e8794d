"""keras_mixer.fuse_for_inference: the fused form equals the model and saves like any model."""

import os

import keras
import numpy as np
import pytest

import keras_mixer
from keras_mixer import layers

from conftest import randomize_weights
from conftest import random_images
from conftest import relative_error
from conftest import to_numpy

SIZE = 32
TINY = {"patch_size": 8, "depth": 2, "input_shape": (SIZE, SIZE, 3), "classes": 7,
        "classifier_activation": None}
MODELS = {
    "resmlp": lambda: keras_mixer.ResMLP(embed_dim=24, **TINY),
    "mixer": lambda: keras_mixer.MLPMixer(embed_dim=24, token_mixing_dim=8,
                                          channel_mixing_dim=40, **TINY),
    # A MixerBlock combination no named model uses: token MLP and layer scale.
    "mixer_affine_scaled": lambda: keras.Sequential([
        keras.Input((16, 24)),
        layers.MixerBlock(token_mixing_dim=8, channel_mixing_dim=40, norm="affine",
                          layer_scale_init=0.5),
    ]),
}


def _fused(name):
    # Weights far from the identity initialisation (alpha, gamma ~ 1 +- 0.3).
    model = randomize_weights(MODELS[name](), seed=3, scale=0.3)
    return model, keras_mixer.fuse_for_inference(model)


def _inputs(model):
    shape = (3,) + tuple(model.input_shape[1:])
    return random_images(shape) if len(shape) == 4 else np.random.default_rng(1).normal(
        size=shape).astype("float32")


@pytest.mark.parametrize("name", sorted(MODELS))
def test_fused_form_equals_model(name):
    model, fused = _fused(name)
    x = _inputs(model)
    expected = to_numpy(model(x, training=False))
    assert relative_error(fused(x, training=False), expected) <= 1e-5
    kinds = {type(layer) for layer in fused.layers}
    assert layers.FusedMixerBlock in kinds and layers.MixerBlock not in kinds
    blocks = [layer for layer in fused.layers if isinstance(layer, layers.FusedMixerBlock)]
    assert not any("alpha" in weight.path for block in blocks for weight in block.weights)
    # The original model is untouched.
    assert relative_error(model(x, training=False), expected) == 0.0


def test_fused_model_saves_and_loads(tmp_path):
    model, fused = _fused("resmlp")
    path = os.path.join(tmp_path, "fused.keras")
    fused.save(path)
    loaded = keras.saving.load_model(path)
    x = _inputs(model)
    assert relative_error(loaded.predict(x, verbose=0), fused.predict(x, verbose=0)) == 0.0


def test_repmlpnet_is_reparameterized():
    # Equality with random BN statistics is tested in test_repmlp_reparameterize.py.
    model = keras_mixer.RepMLPNet(channels=(8,), depths=(1,), sharesets=(2,),
                                  partition_sizes=(4,), input_shape=(16, 16, 3),
                                  classes=5, classifier_activation=None)
    fused = keras_mixer.fuse_for_inference(model)
    blocks = [layer for layer in fused.layers if isinstance(layer, layers.RepMLPBlock)]
    assert blocks and all(block.deploy for block in blocks)
    x = random_images((2, 16, 16, 3))
    assert relative_error(fused(x, training=False), model(x, training=False)) <= 1e-5


def test_bad_argument_is_rejected():
    with pytest.raises(ValueError, match="expects a keras.Model"):
        keras_mixer.fuse_for_inference(layers.Affine())


def test_scaled_token_dense_matches_its_formula():
    layer = layers.ScaledTokenDense(3)
    x = np.random.default_rng(0).normal(size=(2, 5, 4)).astype("float32")
    layer.build(x.shape)
    rng = np.random.default_rng(1)
    kernel, scale, bias = (rng.normal(size=v.shape).astype("float32") for v in layer.weights)
    layer.set_weights([kernel, scale, bias])
    expected = np.einsum("bsc,st->btc", x, kernel) * scale + bias
    assert relative_error(layer(x), expected) <= 1e-6
    with pytest.raises(ValueError, match="token table"):
        layers.ScaledTokenDense(3).build((2, 5))
