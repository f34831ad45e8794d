"""`keras-mixer convert SRC DST --model NAME`: any supported checkpoint to a `.weights.h5`."""

import os

from keras_mixer.registry import list_models


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "convert",
        help="convert an official or timm checkpoint to a Keras .weights.h5",
        description=(
            "Reads SRC (an official Mixer .npz, an official ResMLP .pth, or a timm "
            ".safetensors/.pth/.bin state dict), checks every "
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


def checkpoint_geometry(layout, state, path):
    """Returns `(input_shape, classes)` that a checkpoint was trained with."""
    from keras_mixer.weights.layouts import TRANSFORMS
    from keras_mixer.weights.resample import square_grid

    def keras_shape(keras_path):
        key, transform = layout.source_of(keras_path)
        if key not in state:
            raise ValueError(f"{path!r} has no {key!r}; cannot tell its geometry.")
        return TRANSFORMS[transform][1](state[key]).shape

    rows, cols = square_grid(keras_shape(layout.tokens)[0])
    patch_size = keras_shape("stem/proj/kernel")[0]
    return (rows * patch_size, cols * patch_size, 3), keras_shape("head/kernel")[-1]


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
    input_shape, classes = checkpoint_geometry(layout, state, args.source)
    kwargs, gelu = {}, None
    if variant.family.name == "mixer":
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
