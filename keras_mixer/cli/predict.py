"""`keras-mixer predict IMAGE...`: top classes of image files with a saved model."""

import os

import numpy as np

from keras_mixer.cli.common import load_trained_model
from keras_mixer.cli.common import positive_int
from keras_mixer.export.eval_policy import MAX_PIXELS


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "predict",
        help="classify image files with a .keras model",
        description="Loads a .keras model, resizes each image to its input size and "
                    "prints the top classes with their probabilities.",
    )
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="image files (PNG, JPEG, ...)")
    parser.add_argument("--model", required=True, help="path of a .keras model")
    parser.add_argument("--top", type=positive_int, default=3, help="classes to show per image (default 3)")
    parser.add_argument("--class-names", help="comma-separated class names (default: indices)")
    parser.set_defaults(func=run)
    return parser


def read_images(paths, size):
    """Images as a float32 batch of `size` (height, width), RGB, values 0-255.

    Each file's size is read from its header before it is decoded: beyond
    `MAX_PIXELS` (the serving limit) it is refused, so a small file declaring a
    huge image costs nothing.
    """
    import keras
    from PIL import Image

    missing = [path for path in paths if not os.path.isfile(path)]
    if missing:
        raise FileNotFoundError(f"Image {missing[0]!r} does not exist; expected an image file.")
    images = []
    for path in paths:
        try:
            with Image.open(path) as header:  # reads the header only
                width, height = header.size
            if width * height > MAX_PIXELS:
                raise ValueError(f"it declares {width} x {height} pixels, more than {MAX_PIXELS}")
            image = keras.utils.load_img(path, color_mode="rgb", target_size=size)
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:  # undecodable files
            raise ValueError(f"Image {path!r} cannot be read ({error}); expected a PNG, JPEG or other image file.") from None
        images.append(keras.utils.img_to_array(image))
    return np.stack(images)


def run(args):
    model = load_trained_model(args.model)
    classes = model.output_shape[-1]
    names = args.class_names.split(",") if args.class_names else [str(i) for i in range(classes)]
    if len(names) != classes:
        raise ValueError(f"--class-names has {len(names)} names; expected {classes}, one per class.")
    probabilities = model.predict(read_images(args.images, model.input_shape[1:3]), verbose=0)
    for path, row in zip(args.images, probabilities):
        top = np.argsort(row)[::-1][: args.top]
        ranked = ", ".join(f"{names[index]} ({row[index]:.3f})" for index in top)
        print(f"{path}: {ranked}")
    return 0
