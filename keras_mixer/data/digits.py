"""scikit-learn's handwritten digits as 0-255 RGB images with a held-out split."""

import numpy as np


def load_digits(image_size=8, channels=3, test_size=0.2, seed=0):
    """Returns `(x_train, y_train), (x_test, y_test)` from scikit-learn's digits.

    The 1,797 8x8 grey images (values 0-16) become uint8 images in 0-255 with
    `channels` identical channels, enlarged by pixel repetition to
    `image_size` (a multiple of 8). The split is stratified and fixed by
    `seed`, so every run holds out the same images.

    Example:

    >>> from keras_mixer.data import load_digits
    >>> (x_train, y_train), (x_test, y_test) = load_digits()
    >>> x_train.shape, x_train.dtype, x_test.shape
    ((1437, 8, 8, 3), dtype('uint8'), (360, 8, 8, 3))
    """
    from sklearn.datasets import load_digits as sklearn_digits
    from sklearn.model_selection import train_test_split

    if image_size % 8:
        raise ValueError(f"image_size={image_size} is not supported; expected a multiple of 8.")
    digits = sklearn_digits()
    images = np.round(digits.images * (255.0 / 16.0)).astype("uint8")
    scale = image_size // 8
    images = images.repeat(scale, axis=1).repeat(scale, axis=2)
    images = np.repeat(images[..., None], channels, axis=-1)
    x_train, x_test, y_train, y_test = train_test_split(
        images, digits.target, test_size=test_size, random_state=seed, stratify=digits.target
    )
    return (x_train, y_train), (x_test, y_test)
