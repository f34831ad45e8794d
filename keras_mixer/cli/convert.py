"""`keras-mixer convert SRC DST --model NAME`: any supported checkpoint to a `.weights.h5`."""

import os

from keras_mixer.registry import list_models


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "convert",
        help="convert an official or timm checkpoint to a Keras .weights.h5",
        description=(
            "Reads SRC (an official Mixer .npz, an official ResMLP or RepMLPNet .pth, "
            "or a timm .safetensors/.pth/.bin state dict), checks every "
            "weight against the model NAME built at the checkpoint's own image "
            "size and class count, and writes DST, a Keras .weights.h5 that "
            "`weights=DST` loads. Pickles are read without running code."
        ),
    )
    parser.add_argument("source", metavar="SRC", help="checkpoint file to convert")
    parser.add_argument("destination", metavar="DST", help="output file, ending in .weights.h5")
    parser.add_argument(
        "--model", required=True, metavar="NAME",
        help=f"variant: one of {', '.join(list_models())}",
    )
    parser.set_defaults(func=run)
    return parser


def checkpoint_geometry(layout, state, path, image_size):
    """Returns `(input_shape, classes)` that a checkpoint was trained with.

    The input size is read from the token count and patch size where the
    layout's weights depend on it (`Layout.grid`), else it is `image_size`.
    """
    from keras_mixer.weights.layouts import to_keras
    from keras_mixer.weights.resample import square_grid

    def keras_shape(keras_path):
        key, transform = layout.source_of(keras_path)
        if key not in state:
            raise ValueError(f"{path!r} has no {key!r}; cannot tell its geometry.")
        return to_keras(transform, state[key]).shape

    classes = keras_shape("head/kernel")[-1]
    if layout.grid is None:
        return (image_size, image_size, 3), classes
    tokens, patch = layout.grid
    rows, cols = square_grid(keras_shape(tokens)[0])
    patch_size = keras_shape(patch)[0]
    return (rows * patch_size, cols * patch_size, 3), classes


def run(args):
    from keras_mixer import registry
    from keras_mixer.weights import detect_format
    from keras_mixer.weights import load_weights
    from keras_mixer.weights import save_keras_weights
    from keras_mixer.weights.foreign import read_layout

    if not args.destination.endswith(".weights.h5"):
        raise ValueError(f"DST={args.destination!r} must end in .weights.h5.")
    if not os.path.isfile(args.source):
        raise ValueError(f"SRC={args.source!r}: no such file.")
    if detect_format(args.source) == "keras":
        raise ValueError(f"SRC={args.source!r} is already a Keras weights file.")
    variant = registry.model_info(args.model)
    name = variant.name
    layout, state = read_layout(args.source)
    input_shape, classes = checkpoint_geometry(layout, state, args.source, variant.image_size)
    kwargs, gelu = {}, None
    if variant.family.gelu_approximate is None:  # the family takes the checkpoint's form
        gelu = layout.gelu_approximate
        kwargs["gelu_approximate"] = gelu
    model = variant.build(input_shape=input_shape, classes=classes, **kwargs)
    load_weights(model, args.source)
    save_keras_weights(model, args.destination, gelu)
    print(
        f"Wrote {args.destination}: {name}, input {input_shape[:2]}, {classes} classes, "
        f"{model.count_params():,} parameters"
        + ("" if gelu is None else f", {'tanh' if gelu else 'exact'} GELU") + "."
    )
    return 0
