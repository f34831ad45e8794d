"""`keras-mixer convert SRC DST --model NAME`: any supported checkpoint to a `.weights.h5`."""

import os


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "convert",
        help="convert an official or timm checkpoint to a Keras .weights.h5",
        description=(
            "Reads SRC (an official Mixer .npz, an official ResMLP .pth, a timm "
            ".safetensors/.pth/.bin state dict, or a .weights.h5), checks every "
            "weight against the model NAME built at the checkpoint's own image "
            "size and class count, and writes DST, a Keras .weights.h5 that "
            "`weights=DST` loads. Pickles are read without running code."
        ),
    )
    parser.add_argument("source", metavar="SRC", help="checkpoint file to convert")
    parser.add_argument("destination", metavar="DST", help="output file, ending in .weights.h5")
    parser.add_argument(
        "--model", required=True, metavar="NAME",
        help="variant, e.g. resmlp12, resmlpb24, mixer_b16 (see keras_mixer.models.VARIANTS)",
    )
    parser.set_defaults(func=run)
    return parser


def checkpoint_geometry(path, patch_size):
    """Returns `(input_shape, classes)` that a checkpoint was trained with."""
    from keras_mixer.weights.foreign import read_layout
    from keras_mixer.weights.layouts import TRANSFORMS
    from keras_mixer.weights.resample import square_grid

    layout, state = read_layout(path)
    head_key, head_transform = layout.source_of("head/kernel")
    if head_key not in state:
        raise ValueError(f"{path!r} has no classification head ({head_key}); nothing to convert to.")
    classes = TRANSFORMS[head_transform][1](state[head_key]).shape[-1]
    token_key, _ = layout.source_of(
        "block_0/token_mixing/fc2/bias" if layout.family == "mixer" else "block_0/token_mixing/linear/bias"
    )
    rows, cols = square_grid(state[token_key].shape[0])
    return (rows * patch_size, cols * patch_size, 3), classes


def run(args):
    from keras_mixer.models import VARIANTS
    from keras_mixer.models import get_model
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
    name = args.model.lower().replace("-", "_").replace("/", "")
    if name not in VARIANTS:
        raise ValueError(f"--model {args.model!r} is unknown; expected one of {sorted(VARIANTS)}.")
    probe = get_model(name, input_shape=(32, 32, 3), include_preprocessing=False)
    input_shape, classes = checkpoint_geometry(args.source, probe.get_layer("stem").patch_size)
    kwargs, gelu = {}, None
    if name.startswith("mixer"):
        gelu = read_layout(args.source)[0].gelu_approximate
        kwargs["gelu_approximate"] = gelu
    model = get_model(name, input_shape=input_shape, classes=classes, **kwargs)
    load_weights(model, args.source)
    save_keras_weights(model, args.destination, gelu)
    print(
        f"Wrote {args.destination}: {name}, input {input_shape[:2]}, {classes} classes, "
        f"{model.count_params():,} parameters"
        + ("" if gelu is None else f", {'tanh' if gelu else 'exact'} GELU") + "."
    )
    return 0
