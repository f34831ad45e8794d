"""RepMLPBlock and FFNBlock: shapes, configs, training step, mixed precision, bad input."""

import keras
import numpy as np
import pytest
from keras import ops

from keras_mixer import layers
from keras_mixer.rewrites.reparameterization import conv_to_fc

from conftest import relative_error

MAPS = (2, 8, 12, 6)  # batch, H, W, C

BLOCK_CASES = {
    "default": dict(partition_size=4, num_sharesets=2),
    "non_square": dict(partition_size=(2, 3), num_sharesets=3, conv_kernel_sizes=(1, 3, 5)),
    "no_local": dict(partition_size=(8, 12), num_sharesets=1, conv_kernel_sizes=()),
}


def _maps(seed=0, shape=MAPS):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def _model(layer, shape=MAPS):
    inputs = keras.Input(shape[1:])
    return keras.Model(inputs, layer(inputs))


@pytest.mark.parametrize("case", sorted(BLOCK_CASES))
def test_block_shapes_and_variables(case):
    block = layers.RepMLPBlock(**BLOCK_CASES[case])
    assert tuple(block(_maps()).shape) == MAPS
    assert tuple(block.compute_output_shape(MAPS)) == MAPS
    h, w = block.partition_size
    assert tuple(block.fc3_kernel.shape) == (block.num_sharesets, h * w, h * w)
    assert sorted(block.conv_kernels) == sorted(block.conv_kernel_sizes)


@pytest.mark.parametrize("deploy", [False, True])
def test_block_config_round_trip(deploy):
    model = _model(layers.RepMLPBlock(partition_size=(4, 3), num_sharesets=3, deploy=deploy))
    clone = keras.Model.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    assert clone.layers[-1].get_config() == model.layers[-1].get_config()
    x = _maps(1)
    np.testing.assert_allclose(
        ops.convert_to_numpy(clone(x)), ops.convert_to_numpy(model(x)), rtol=1e-6, atol=1e-6
    )


def test_ffn_block_config_and_shapes():
    ffn = layers.FFNBlock(expansion=2)
    assert tuple(ffn(_maps()).shape) == MAPS
    assert tuple(ffn.fc1.kernel.shape) == (6, 12)
    clone = layers.FFNBlock.from_config(ffn.get_config())
    assert clone.get_config() == ffn.get_config()


def test_training_step_updates_every_branch_and_batch_statistics():
    block = layers.RepMLPBlock(partition_size=4, num_sharesets=2)
    model = _model(block)
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    before = {v.path: ops.convert_to_numpy(v).copy() for v in model.weights}
    model.fit(_maps(), _maps(1), batch_size=2, epochs=1, verbose=0)
    changed = {
        v.path for v in model.weights if not np.allclose(ops.convert_to_numpy(v), before[v.path])
    }
    # A 1x1 depthwise kernel is one scale per share-set, which the training-mode BN
    # after it normalises away: its gradient is zero, here as in the official code.
    for name in ("fc3_kernel", "repconv3_kernel", "gp_fc1/kernel",
                 "fc3_bn/gamma", "fc3_bn/moving_mean", "repconv3_bn/moving_variance"):
        assert any(path.endswith(name) for path in changed), name


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_mixed_precision(policy):
    keras.config.set_dtype_policy(policy)
    model = _model(layers.RepMLPBlock(partition_size=4, num_sharesets=2))
    outputs = model(_maps())
    assert keras.backend.standardize_dtype(outputs.dtype) == policy.split("_")[1]
    assert np.isfinite(ops.convert_to_numpy(ops.cast(outputs, "float32"))).all()


def test_conv_to_fc_equals_the_depthwise_conv():
    rng = np.random.default_rng(0)
    kernel = rng.normal(size=(3, 3, 2))
    maps = rng.normal(size=(4, 5, 6, 2)).astype("float32")
    conv = ops.depthwise_conv(maps, kernel[..., None].astype("float32"), 1, padding="same")
    fc = conv_to_fc(kernel, 5, 6)
    vectors = maps.reshape(4, 30, 2)
    expected = np.einsum("bis,sij->bjs", vectors, fc).reshape(4, 5, 6, 2)
    assert relative_error(ops.convert_to_numpy(conv), expected) < 1e-6


@pytest.mark.parametrize(
    "kwargs, shape, message",
    [
        (dict(partition_size=5), MAPS, "not divisible into partitions of 5x5"),
        (dict(partition_size=4, num_sharesets=4), MAPS, "num_sharesets=4"),
        (dict(partition_size=4, global_reduction=8), MAPS, "global_reduction=8"),
        (dict(partition_size=4), (2, 8, 6), "expects inputs \\(batch, H, W, C\\)"),
    ],
)
def test_block_rejects_inputs_it_cannot_partition(kwargs, shape, message):
    with pytest.raises(ValueError, match=message):
        layers.RepMLPBlock(**kwargs)(np.zeros(shape, "float32"))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(partition_size=0), "partition_size=0"),
        (dict(partition_size=(2, 2, 2)), "partition_size=\\(2, 2, 2\\)"),
        (dict(partition_size=4, num_sharesets=0), "num_sharesets=0"),
        (dict(partition_size=4, conv_kernel_sizes=(1, 2)), "conv_kernel_sizes=\\(1, 2\\)"),
        (dict(partition_size=4, conv_kernel_sizes=(3, 3)), "repeats a size"),
        (dict(partition_size=4, global_reduction=True), "global_reduction=True"),
    ],
)
def test_block_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        layers.RepMLPBlock(**kwargs)


def test_ffn_rejects_bad_expansion():
    with pytest.raises(ValueError, match="expansion=0"):
        layers.FFNBlock(expansion=0)
