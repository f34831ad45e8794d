"""The patch stem: cut the image into p x p patches and project each to C channels."""

import keras
from keras import ops

from keras_mixer.arguments import positive_int


@keras.saving.register_keras_serializable(package="keras_mixer")
class PatchEmbedding(keras.layers.Layer):
    """Linear patch embedding: images `(B, H, W, c)` to tokens `(B, S, C)`.

    One shared linear map per non-overlapping `patch_size x patch_size` patch,
    the `(H/p, W/p)` grid flattened row-major into `S = H*W/p^2` tokens. The
    weights are those of a `Conv2D` with kernel = stride = `patch_size` (kernel
    `(p, p, c, C)`, the layout of the original checkpoints), but the map is
    computed as one einsum over the image reshaped into patches: the same
    numbers to float32 rounding, and a faster stem on CPU (the whole ResMLP-S12
    forward pass is about 6% faster on JAX, and no slower on TensorFlow or
    torch; `docs/performance.md`).

    Args:
        patch_size: int, side of the square patches; H and W must be multiples.
        embed_dim: int, the number of channels C of every token.
        kernel_initializer, bias_initializer: initialisers of the projection.
        **kwargs: base layer arguments.

    Example:

    >>> import numpy as np, keras_mixer
    >>> stem = keras_mixer.layers.PatchEmbedding(patch_size=16, embed_dim=384)
    >>> tuple(stem(np.zeros((2, 224, 160, 3), "float32")).shape)
    (2, 140, 384)
    """

    def __init__(
        self,
        patch_size,
        embed_dim,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.patch_size = positive_int("patch_size", patch_size)
        self.embed_dim = positive_int("embed_dim", embed_dim)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.proj = keras.layers.Conv2D(
            self.embed_dim,
            self.patch_size,
            strides=self.patch_size,
            data_format="channels_last",
            kernel_initializer=self.kernel_initializer,
            bias_initializer=self.bias_initializer,
            dtype=self.dtype_policy,
            name="proj",
        )

    def grid_size(self, input_shape):
        """Returns the patch grid `(H/p, W/p)`, raising if a side does not divide."""
        if len(input_shape) != 4:
            raise ValueError(
                f"PatchEmbedding expects images of shape (batch, height, width, "
                f"channels), got shape {tuple(input_shape)}."
            )
        grid = []
        for side, size in (("height", input_shape[1]), ("width", input_shape[2])):
            if size is None or size % self.patch_size:
                raise ValueError(
                    f"Image {side} {size} is not a multiple of the patch size "
                    f"{self.patch_size}; expected a known {side} divisible by "
                    f"{self.patch_size}."
                )
            grid.append(size // self.patch_size)
        return tuple(grid)

    def build(self, input_shape):
        self.grid_size(input_shape)
        self.proj.build(input_shape)

    def call(self, images):
        rows, cols = self.grid_size(images.shape)
        p = self.patch_size
        patches = ops.reshape(images, (-1, rows, p, cols, p, images.shape[-1]))
        kernel = ops.cast(self.proj.kernel, patches.dtype)
        tokens = ops.einsum("bhpwqc,pqcd->bhwd", patches, kernel)
        tokens = ops.reshape(tokens, (-1, rows * cols, self.embed_dim))
        return tokens + ops.cast(self.proj.bias, tokens.dtype)

    def compute_output_shape(self, input_shape):
        rows, cols = self.grid_size(input_shape)
        return (input_shape[0], rows * cols, self.embed_dim)

    def get_config(self):
        return {
            **super().get_config(),
            "patch_size": self.patch_size,
            "embed_dim": self.embed_dim,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
        }
