"""RepMLPBlock: its variables, the conv-to-FC rewrite, inputs it cannot partition
(the harness, tests/harness.py, checks its contract and FFNBlock's)."""

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


@pytest.mark.parametrize("case", sorted(BLOCK_CASES))
def test_block_shapes_and_variables(case):
    block = layers.RepMLPBlock(**BLOCK_CASES[case])
    assert tuple(block(_maps()).shape) == MAPS
    assert tuple(block.compute_output_shape(MAPS)) == MAPS
    h, w = block.partition_size
    assert tuple(block.fc3_kernel.shape) == (block.num_sharesets, h * w, h * w)
    assert sorted(block.conv_kernels) == sorted(block.conv_kernel_sizes)


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
