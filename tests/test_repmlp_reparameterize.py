"""keras_mixer.reparameterize: the deploy form equals the training form and saves like any model."""

import os

import keras
import numpy as np
import pytest
from keras import ops

import keras_mixer
from keras_mixer import layers

from conftest import relative_error

SMALL = dict(channels=(8, 16), depths=(1, 1), sharesets=(2, 4), partition_sizes=(4, 2))


def randomize_with_statistics(model, seed=0):
    """Random weights and random BN statistics (variance in [0.5, 2]), never the identity init."""
    rng = np.random.default_rng(seed)
    for variable in model.weights:
        values = rng.normal(0.0, 0.3, variable.shape)
        if variable.path.endswith("moving_variance"):
            values = rng.uniform(0.5, 2.0, variable.shape)
        elif variable.path.endswith("gamma"):
            values += 1.0
        variable.assign(values.astype(variable.dtype))
    return model


def _outputs(model, x):
    return ops.convert_to_numpy(model(x, training=False))


def _images(shape, seed=1):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


@pytest.mark.parametrize(
    "kwargs, shape",
    [
        (SMALL, (2, 32, 48, 3)),
        (dict(SMALL, sharesets=(1, 2), partition_sizes=(2, 1), conv_kernel_sizes=(1, 3, 5)),
         (2, 16, 16, 3)),
    ],
)
def test_deploy_form_equals_training_form(kwargs, shape):
    model = randomize_with_statistics(
        keras_mixer.RepMLPNet(**kwargs, input_shape=shape[1:], classes=7,
                              classifier_activation=None, include_preprocessing=False)
    )
    x = _images(shape)
    expected = _outputs(model, x)
    deployed = keras_mixer.reparameterize(model)
    assert relative_error(_outputs(deployed, x), expected) <= 1e-5
    blocks = [layer for layer in deployed.layers if isinstance(layer, layers.RepMLPBlock)]
    assert blocks and all(block.deploy and not block.conv_kernels for block in blocks)
    assert not any("fc3_bn" in v.path or "repconv" in v.path for v in deployed.weights)
    # The training model is left as it was.
    assert relative_error(_outputs(model, x), expected) == 0.0


def test_deploy_form_saves_and_loads(tmp_path):
    model = randomize_with_statistics(
        keras_mixer.RepMLPNet(**SMALL, input_shape=(32, 32, 3), classes=5)
    )
    deployed = keras_mixer.reparameterize(model)
    x = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3)).astype("float32")
    expected = _outputs(deployed, x)

    path = os.path.join(tmp_path, "deployed.keras")
    deployed.save(path)
    assert relative_error(_outputs(keras.saving.load_model(path), x), expected) == 0.0

    weights = os.path.join(tmp_path, "deployed.weights.h5")
    deployed.save_weights(weights)
    again = keras_mixer.RepMLPNet(
        **SMALL, deploy=True, input_shape=(32, 32, 3), classes=5, weights=weights
    )
    assert relative_error(_outputs(again, x), expected) == 0.0


def test_block_inside_sequential_and_nested_models():
    inner_inputs = keras.Input((8, 8, 4))
    inner = keras.Model(
        inner_inputs, layers.RepMLPBlock(partition_size=4, num_sharesets=2)(inner_inputs)
    )
    model = keras.Sequential(
        [keras.Input((8, 8, 4)), inner, layers.RepMLPBlock(partition_size=(2, 4), name="outer")]
    )
    randomize_with_statistics(model)
    x = _images((3, 8, 8, 4))
    deployed = keras_mixer.reparameterize(model)
    assert relative_error(_outputs(deployed, x), _outputs(model, x)) <= 1e-5
    assert deployed.get_layer("outer").deploy


def test_reparameterize_rejects_what_it_cannot_convert():
    with pytest.raises(ValueError, match="expects a keras.Model"):
        keras_mixer.reparameterize(layers.RepMLPBlock(partition_size=2))
    inputs = keras.Input((4,))
    with pytest.raises(ValueError, match="has no RepMLPBlock"):
        keras_mixer.reparameterize(keras.Model(inputs, keras.layers.Dense(2)(inputs)))


@pytest.mark.skipif(
    keras.config.backend() != "tensorflow",
    reason="torch: Keras 3.15 cannot export a SavedModel (BRIEF section 3); jax: the "
    "export's top_k lowers to a StableHLO composite TF 2.21 cannot load (any model)",
)
def test_deploy_form_exports_a_saved_model(tmp_path):
    import tensorflow as tf

    from keras_mixer.export import export_saved_model

    model = randomize_with_statistics(
        keras_mixer.RepMLPNet(**SMALL, input_shape=(32, 32, 3), classes=5)
    )
    deployed = keras_mixer.reparameterize(model)
    path = export_saved_model(deployed, os.path.join(tmp_path, "repmlpnet"))
    x = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3)).astype("float32")
    served = tf.saved_model.load(path).signatures["serving_default"](images=tf.constant(x))
    assert relative_error(served["probabilities"].numpy(), _outputs(model, x)) <= 1e-5
