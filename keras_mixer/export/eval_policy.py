"""The evaluation policy of a model, and its in-graph TensorFlow form.

A policy says how an arbitrary photo becomes the model's input at evaluation:
resize (antialiased, with the family's interpolation) so that the crop covers
`crop_ratio` of the resized image, then take the centre crop of the model's
size. For a square model this is DeiT's / timm's rule: shorter side to
`floor(size / crop_ratio)`, then a centre crop of `size`. Each family's
transform is in the registry (`keras_mixer.family_info(name).eval_transform`),
read through the model's spec.
"""

import dataclasses
import math

from keras_mixer.spec import spec_of

# What serving_bytes accepts, checked on the image's header before it is decoded
# (decoding allocates the declared size; resizing is where memory grows: a
# 1 x 5000 image upscaled to a short side of 17 cost 3.7 GB). 50 megapixels is every camera and phone photo up to 50 MP;
# 10:1 covers panoramas, and beyond it the centre crop sees under a tenth of
# the image anyway.
MAX_PIXELS = 50_000_000
MAX_ASPECT_RATIO = 10

INTERPOLATIONS = ("bicubic", "bilinear")

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SIGNATURE = b"\xff\xd8\xff"
BMP_SIGNATURE = b"BM"
HEADER_BYTES = 26  # through BMP's height, the last size field read
HEADER_PADDING = b"\0" * HEADER_BYTES  # so a truncated file reads as zeros, not out of range


@dataclasses.dataclass(frozen=True)
class EvalPolicy:
    """Resize (`interpolation`) then centre-crop to `(height, width)`, `crop_ratio` in (0, 1]."""

    height: int
    width: int
    crop_ratio: float
    interpolation: str = "bicubic"

    def resize_shape(self, image_height, image_width, minimum=min):
        """The size an image of `image_height x image_width` is resized to.

        Works on Python ints and, with `minimum=tf.minimum`, on int32 tensors.

        Example:

        >>> EvalPolicy(224, 224, 0.9).resize_shape(480, 640)
        (248, 330)
        """
        scaled_height = math.floor(self.height / self.crop_ratio)
        scaled_width = math.floor(self.width / self.crop_ratio)
        if scaled_height != scaled_width:
            return scaled_height, scaled_width
        shorter = minimum(image_height, image_width)
        return scaled_height * image_height // shorter, scaled_width * image_width // shorter


def eval_policy_for(model, crop_ratio=None):
    """The model's `EvalPolicy`: its input size and its family's evaluation transform.

    `crop_ratio`, when given, overrides the family's. A model that takes
    normalised inputs (`include_preprocessing=False`) is refused: the serving
    signatures receive 0-255 pixels.

    Example:

    >>> import keras_mixer
    >>> model = keras_mixer.ResMLP(patch_size=4, embed_dim=16, depth=1,
    ...                            input_shape=(32, 32, 3), classes=10)
    >>> eval_policy_for(model)
    EvalPolicy(height=32, width=32, crop_ratio=0.9, interpolation='bicubic')
    """
    spec = spec_of(model, "the export")
    if not spec.arguments.get("include_preprocessing", True):
        raise ValueError(
            f"Model {model.name!r} was built with include_preprocessing=False, so it does "
            f"not take 0-255 pixels; export needs a model built with include_preprocessing=True."
        )
    transform = spec.eval_transform
    if crop_ratio is None:
        crop_ratio = transform.crop_ratio
    if isinstance(crop_ratio, bool) or not isinstance(crop_ratio, (int, float)) or not (
        0.0 < crop_ratio <= 1.0
    ):
        raise ValueError(f"crop_ratio={crop_ratio!r} is not supported; expected 0 < crop_ratio <= 1.")
    height, width = model.input_shape[1:3]
    return EvalPolicy(int(height), int(width), float(crop_ratio), transform.interpolation)


def _header_size(encoded):
    """TensorFlow graph: `(height, width)` int64 read from a JPEG, PNG or BMP header, and the format check.

    Nothing is decoded: JPEG's size comes from its frame header
    (`tf.image.extract_jpeg_shape`), PNG's from IHDR (big-endian at bytes
    16-24), BMP's from its info header (little-endian, signed, at bytes 18-26).
    Any other format fails with an InvalidArgumentError naming the three.
    """
    import tensorflow as tf

    head = tf.cast(
        tf.io.decode_raw(tf.strings.substr(tf.strings.join([encoded, HEADER_PADDING]), 0, HEADER_BYTES), tf.uint8),
        tf.int64,
    )

    def number(offset, order):
        value = tf.constant(0, tf.int64)
        for index in order:
            value = value * 256 + head[offset + index]
        return value

    def bmp_side(offset):
        value = number(offset, (3, 2, 1, 0))
        return tf.abs(tf.where(value >= 2**31, value - 2**32, value))  # negative: top-down rows

    is_png = tf.strings.substr(encoded, 0, 8) == PNG_SIGNATURE
    is_jpeg = tf.strings.substr(encoded, 0, 3) == JPEG_SIGNATURE
    is_bmp = tf.strings.substr(encoded, 0, 2) == BMP_SIGNATURE
    known = tf.debugging.Assert(
        is_png | is_jpeg | is_bmp,
        ["image_bytes: expected a JPEG, PNG or BMP image; found one whose first bytes are", head[:8]],
    )
    with tf.control_dependencies([known]):
        jpeg = tf.cond(
            is_jpeg,
            lambda: tf.cast(tf.image.extract_jpeg_shape(encoded)[:2], tf.int64),
            lambda: tf.zeros((2,), tf.int64),
        )
    height = tf.where(is_png, number(20, (0, 1, 2, 3)), tf.where(is_bmp, bmp_side(22), jpeg[0]))
    width = tf.where(is_png, number(16, (0, 1, 2, 3)), tf.where(is_bmp, bmp_side(18), jpeg[1]))
    return height, width


def decode_and_crop(image_bytes, policy, channels):
    """TensorFlow graph: a batch of encoded JPEG/PNG/BMP strings to float32 0-255.

    Each image's size is read from its header and checked (at most
    `MAX_PIXELS` pixels and `MAX_ASPECT_RATIO`:1, else an InvalidArgumentError
    saying so) before it is decoded, so a small file declaring a huge image
    costs nothing. GIF is refused: its decoder holds every frame of an
    animation, up to the declared size each (a 343 KB GIF of 40 frames cost
    335 MB). The image is then decoded to `channels` channels, resized by
    `policy` (its interpolation, antialiased) and centre-cropped to
    `(policy.height, policy.width)`; the result is clipped to 0-255 (bicubic
    resizing overshoots at edges).
    """
    import tensorflow as tf

    def one_image(encoded):
        height, width = _header_size(encoded)
        checks = [
            tf.debugging.Assert(
                height * width <= MAX_PIXELS,
                [f"image_bytes: the image has more than {MAX_PIXELS} pixels: height", height, "width", width],
            ),
            tf.debugging.Assert(
                tf.maximum(height, width) <= MAX_ASPECT_RATIO * tf.minimum(height, width),
                [f"image_bytes: the image is longer than {MAX_ASPECT_RATIO}:1: height", height, "width", width],
            ),
        ]
        with tf.control_dependencies(checks):
            image = tf.io.decode_image(encoded, channels=channels, expand_animations=False)
        image.set_shape((None, None, channels))
        shape = tf.shape(image)
        new_height, new_width = policy.resize_shape(shape[0], shape[1], minimum=tf.minimum)
        resized = tf.image.resize(
            tf.cast(image, tf.float32), tf.stack([new_height, new_width]), policy.interpolation, antialias=True
        )
        top = (new_height - policy.height) // 2
        left = (new_width - policy.width) // 2
        cropped = resized[top : top + policy.height, left : left + policy.width]
        return tf.clip_by_value(cropped, 0.0, 255.0)

    return tf.map_fn(
        one_image,
        image_bytes,
        fn_output_signature=tf.TensorSpec((policy.height, policy.width, channels), tf.float32),
    )
