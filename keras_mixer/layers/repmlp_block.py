"""RepMLP block (Ding et al. 2021): an FC over partitions that learns locality from convs."""

import math

import keras
from keras import ops

from keras_mixer.arguments import boolean
from keras_mixer.arguments import fraction
from keras_mixer.arguments import positive_float
from keras_mixer.arguments import positive_int
from keras_mixer.arguments import positive_int_pair
from keras_mixer.layers import traceable


def _kernel_sizes(value):
    expected = "odd positive integers such as (1, 3)"
    if value is not None and not isinstance(value, (tuple, list)):
        raise ValueError(f"conv_kernel_sizes={value!r} is not supported; expected {expected}.")
    try:
        sizes = tuple(positive_int("conv_kernel_sizes", size) for size in value or ())
    except ValueError:
        sizes = (0,)
    if not all(size % 2 for size in sizes):
        raise ValueError(f"conv_kernel_sizes={value!r} is not supported; expected {expected}.")
    if len(set(sizes)) != len(sizes):
        raise ValueError(f"conv_kernel_sizes={value!r} repeats a size; expected distinct sizes.")
    return sizes


@keras.saving.register_keras_serializable(package="keras_mixer")
class RepMLPBlock(keras.layers.Layer):
    """RepMLP block of RepMLPNet: global, partition and local perceptrons.

    The feature map `(batch, H, W, C)` is cut into `h x w` partitions. The
    *partition perceptron* maps every partition of every channel with one
    FC of size `(h*w) x (h*w)`; channels are split into `num_sharesets`
    share-sets (channel `c` is in set `c % num_sharesets`, as in the
    official code) and the channels of a set share one FC kernel. At
    training time a BatchNorm per share-set follows it, and the *local
    perceptron* adds depthwise `k x k` conv + BatchNorm branches (one kernel
    per share-set, zero padding at the partition borders). The *global
    perceptron* (mean over space, FC + ReLU, FC + sigmoid) scales every
    channel of the output.

    `keras_mixer.reparameterize` turns a model's blocks into their deploy
    form (`deploy=True`): each BatchNorm folded into its FC or conv, each
    conv rewritten as the FC it equals, all summed into one FC with bias.

    Args:
        partition_size: int or `(h, w)`, the partition; H and W must be
            multiples of it.
        num_sharesets: int S, the number of share-sets; C must be a
            multiple of it.
        conv_kernel_sizes: odd kernel sizes of the local perceptron's
            conv branches, `(1, 3)` in RepMLPNet; `()` for none.
        global_reduction: hidden width of the global perceptron is
            `C // global_reduction`.
        deploy: bool, build the inference form (a single FC with bias).
        epsilon, momentum: of the BatchNorm layers (PyTorch's defaults).
        **kwargs: base layer arguments.

    Input shape: `(batch, H, W, C)`. Output shape: same as input.

    Example:

    >>> import numpy as np, keras_mixer
    >>> block = keras_mixer.layers.RepMLPBlock(partition_size=4, num_sharesets=2)
    >>> tuple(block(np.zeros((1, 8, 8, 6), "float32")).shape)
    (1, 8, 8, 6)
    >>> tuple(block.fc3_kernel.shape)
    (2, 16, 16)
    """

    def __init__(
        self,
        partition_size,
        num_sharesets=1,
        conv_kernel_sizes=(1, 3),
        global_reduction=4,
        deploy=False,
        epsilon=1e-5,
        momentum=0.9,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.partition_size = positive_int_pair("partition_size", partition_size)
        self.num_sharesets = positive_int("num_sharesets", num_sharesets)
        self.conv_kernel_sizes = _kernel_sizes(conv_kernel_sizes)
        self.global_reduction = positive_int("global_reduction", global_reduction)
        self.deploy = boolean("deploy", deploy)
        self.epsilon = positive_float("epsilon", epsilon)
        self.momentum = fraction("momentum", momentum)

    def _batch_norm(self, name):
        return traceable.BatchNormalization(
            axis=-1,
            epsilon=self.epsilon,
            momentum=self.momentum,
            dtype=self.dtype_policy,
            name=name,
        )

    def _check_input_shape(self, input_shape):
        if len(input_shape) != 4 or any(size is None for size in input_shape[1:]):
            raise ValueError(
                f"RepMLPBlock expects inputs (batch, H, W, C) with known H, W, C; "
                f"got shape {tuple(input_shape)}."
            )
        height, width, channels = input_shape[1:]
        h, w = self.partition_size
        if height % h or width % w:
            raise ValueError(
                f"RepMLPBlock: feature map {height}x{width} is not divisible into "
                f"partitions of {h}x{w}; expected H and W multiples of partition_size."
            )
        if channels % self.num_sharesets:
            raise ValueError(
                f"RepMLPBlock: {channels} channels cannot be split into "
                f"num_sharesets={self.num_sharesets} share-sets; expected C a multiple of it."
            )
        if channels // self.global_reduction < 1:
            raise ValueError(
                f"RepMLPBlock: global_reduction={self.global_reduction} leaves no "
                f"hidden unit for {channels} channels; expected at most {channels}."
            )

    def build(self, input_shape):
        self._check_input_shape(input_shape)
        channels = input_shape[-1]
        sets = self.num_sharesets
        area = self.partition_size[0] * self.partition_size[1]
        hidden = channels // self.global_reduction
        self.gp_fc1 = keras.layers.Dense(
            hidden, activation="relu", dtype=self.dtype_policy, name="gp_fc1"
        )
        self.gp_fc2 = keras.layers.Dense(
            channels, activation="sigmoid", dtype=self.dtype_policy, name="gp_fc2"
        )
        self.gp_fc1.build((None, channels))
        self.gp_fc2.build((None, hidden))
        # Kernel (S, h*w in, h*w out); uniform +-1/sqrt(fan_in), PyTorch's default.
        bound = 1.0 / math.sqrt(area)
        self.fc3_kernel = self.add_weight(
            shape=(sets, area, area),
            initializer=keras.initializers.RandomUniform(-bound, bound),
            name="fc3_kernel",
        )
        partition_shape = (None, area, channels // sets, sets)
        if self.deploy:
            self.fc3_bias = self.add_weight(shape=(sets, area), initializer="zeros", name="fc3_bias")
            self.conv_kernels = {}
            return
        self.fc3_bn = self._batch_norm("fc3_bn")
        self.fc3_bn.build(partition_shape)
        # Depthwise kernels (k, k, S); uniform +-1/sqrt(k*k), PyTorch's default.
        self.conv_kernels = {}
        for size in self.conv_kernel_sizes:
            self.conv_kernels[size] = self.add_weight(
                shape=(size, size, sets),
                initializer=keras.initializers.RandomUniform(-1.0 / size, 1.0 / size),
                name=f"repconv{size}_kernel",
            )
            batch_norm = self._batch_norm(f"repconv{size}_bn")
            batch_norm.build(partition_shape)
            setattr(self, f"repconv{size}_bn", batch_norm)

    def conv_batch_norm(self, size):
        """The BatchNormalization layer of the `size x size` conv branch."""
        return getattr(self, f"repconv{size}_bn")

    def _local_perceptron(self, partitions, training):
        """Sum of the conv+BN branches over `(B, h, w, C)` partitions, as `(B, h*w, G, S)`."""
        sets = self.num_sharesets
        groups = partitions.shape[-1] // sets
        area = self.partition_size[0] * self.partition_size[1]
        total = 0
        for size in self.conv_kernel_sizes:
            kernel = ops.tile(ops.cast(self.conv_kernels[size], partitions.dtype), (1, 1, groups))
            kernel = ops.expand_dims(kernel, -1)
            out = ops.depthwise_conv(partitions, kernel, strides=1, padding="same")
            out = ops.reshape(out, (-1, area, groups, sets))
            total = total + self.conv_batch_norm(size)(out, training=training)
        return total

    def call(self, inputs, training=None):
        _, height, width, channels = inputs.shape
        h, w = self.partition_size
        sets = self.num_sharesets
        groups = channels // sets
        h_parts, w_parts = height // h, width // w

        global_vector = self.gp_fc2(self.gp_fc1(ops.mean(inputs, axis=(1, 2))))

        partitions = ops.reshape(inputs, (-1, h_parts, h, w_parts, w, channels))
        partitions = ops.transpose(partitions, (0, 1, 3, 2, 4, 5))
        vectors = ops.reshape(partitions, (-1, h * w, groups, sets))
        kernel = ops.cast(self.fc3_kernel, inputs.dtype)
        outputs = ops.einsum("bigs,sij->bjgs", vectors, kernel)
        if self.deploy:
            bias = ops.transpose(ops.cast(self.fc3_bias, inputs.dtype))
            outputs = outputs + ops.expand_dims(bias, 1)
        else:
            outputs = self.fc3_bn(outputs, training=training)
            if self.conv_kernel_sizes:
                local = ops.reshape(partitions, (-1, h, w, channels))
                outputs = outputs + self._local_perceptron(local, training)

        outputs = ops.reshape(outputs, (-1, h_parts, w_parts, h, w, channels))
        outputs = ops.transpose(outputs, (0, 1, 3, 2, 4, 5))
        outputs = ops.reshape(outputs, (-1, height, width, channels))
        return outputs * ops.cast(global_vector[:, None, None, :], outputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "partition_size": self.partition_size,
            "num_sharesets": self.num_sharesets,
            "conv_kernel_sizes": self.conv_kernel_sizes,
            "global_reduction": self.global_reduction,
            "deploy": self.deploy,
            "epsilon": self.epsilon,
            "momentum": self.momentum,
        }
