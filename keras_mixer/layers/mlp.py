"""The two-layer MLP shared by token mixing and channel mixing: GELU, or a SiLU-gated GLU."""

import keras
from keras import ops

from keras_mixer.layers.gelu import gelu

from keras_mixer.arguments import boolean
from keras_mixer.arguments import optional_positive_int
from keras_mixer.arguments import probability


def fresh_initializer(initializer):
    """A new initializer from `initializer`'s config (a new seed unless it fixes one)."""
    return keras.initializers.get(keras.initializers.serialize(initializer))


class MixingMLP(keras.layers.Layer):
    """Base of `TokenMixing` and `ChannelMixing`: `fc2(act(fc1(x)))` with dropout.

    `act` is GELU, or with `glu=True` the gated linear unit of timm's gMixer
    (`GluMlp` with SiLU): fc1's output is split in halves `(a, g)` along the
    hidden axis and `a * SiLU(g)` goes on, so fc2 reads half of fc1's width.
    As in timm, the gate half of fc1 starts with kernel ~ N(0, 1e-6) and bias
    1 (every gate open). A subclass may also set `gate`, a layer applied to
    the activated hidden table that halves its width (gMLP's
    `SpatialGatingUnit`). Subclasses create `fc1` and `fc2` in `build` (along
    their own axis, `HIDDEN_AXIS` of fc1's output) with `_linear_kwargs()`;
    this class holds the shared options, the forward pass and the config.
    """

    HIDDEN_AXIS = -1

    def __init__(
        self,
        hidden_dim=None,
        gelu_approximate=False,
        dropout_rate=0.0,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        glu=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.hidden_dim = optional_positive_int("hidden_dim", hidden_dim)
        self.gelu_approximate = boolean("gelu_approximate", gelu_approximate)
        self.dropout_rate = probability("dropout_rate", dropout_rate)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.glu = boolean("glu", glu)
        self.dropout = keras.layers.Dropout(self.dropout_rate, dtype=self.dtype_policy)
        self.gate = None

    def _linear_kwargs(self, name):
        # A fresh initializer per map: an initializer object holds one seed,
        # so sharing it would give maps (and blocks) the same initial values.
        return {
            "kernel_initializer": fresh_initializer(self.kernel_initializer),
            "bias_initializer": fresh_initializer(self.bias_initializer),
            "dtype": self.dtype_policy,
            "name": name,
        }

    def _activated_width(self, hidden):
        """The width fc2 reads: fc1's `hidden`, halved by a GLU or a gate (which need it even)."""
        if not self.glu and self.gate is None:
            return hidden
        if hidden % 2:
            raise ValueError(
                f"{type(self).__name__}: hidden width {hidden} is not supported with a "
                f"gated MLP; expected an even width (it is split into value and gate halves)."
            )
        return hidden // 2

    def _open_gates(self):
        """timm's GluMlp init: the gate half of fc1 (last axis) near 0, its bias 1."""
        kernel = self.fc1.kernel
        half = kernel.shape[-1] // 2
        gate = keras.initializers.RandomNormal(stddev=1e-6)((*kernel.shape[:-1], half), kernel.dtype)
        kernel.assign(ops.concatenate([kernel[..., :half], gate], axis=-1))
        bias = self.fc1.bias
        bias.assign(ops.concatenate([bias[:half], ops.ones((half,), bias.dtype)]))

    def _activate(self, hidden):
        if not self.glu:
            return gelu(hidden, approximate=self.gelu_approximate)
        value, gate = ops.split(hidden, 2, axis=self.HIDDEN_AXIS)
        return value * ops.silu(gate)

    def _mlp(self, inputs, training):
        hidden = self.dropout(self._activate(self.fc1(inputs)), training=training)
        if self.gate is not None:
            hidden = self.gate(hidden)
        return self.dropout(self.fc2(hidden), training=training)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "hidden_dim": self.hidden_dim,
            "gelu_approximate": self.gelu_approximate,
            "dropout_rate": self.dropout_rate,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            "glu": self.glu,
        }
