"""`keras-mixer export`: a `.keras` model file to a versioned TF Serving SavedModel."""

import argparse
import os

from keras_mixer.cli.common import load_trained_model
from keras_mixer.cli.common import positive_int


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "export",
        help="export a .keras model as a versioned SavedModel for TF Serving",
        description=(
            "Exports MODEL_FILE (a .keras file of a keras_mixer classifier) to "
            "BASE_DIR/<version>/ in TF Serving's layout, with the signatures "
            "serving_default (float32 0-255 images), serving_uint8 and serving_bytes "
            "(encoded JPEG/PNG). The version is the next free one unless given; an "
            "existing version is never overwritten. Optionally also writes TFLite "
            "and ONNX files."
        ),
    )
    parser.add_argument("model_file", metavar="MODEL_FILE", help="a .keras model file")
    parser.add_argument("base_dir", metavar="BASE_DIR", help="TF Serving model folder, e.g. saved_models/NAME")
    parser.add_argument("--version", type=version_number, help="numeric version (default: the next free one)")
    parser.add_argument("--labels", metavar="FILE", help="class names, one per line, in class order")
    parser.add_argument("--top-k", type=positive_int, default=5, help="classes returned per image (default 5)")
    parser.add_argument(
        "--crop-ratio", type=float, help="eval crop ratio of serving_bytes (default: the model family's)"
    )
    parser.add_argument("--no-fuse", action="store_true",
                        help="export the model as built, not keras_mixer.fuse_for_inference(model)")
    parser.add_argument("--tflite", metavar="FILE", help="also write a .tflite file of serving_default")
    parser.add_argument("--onnx", metavar="FILE", help="also write an ONNX file")
    parser.add_argument(
        "--onnx-batch-size", type=positive_int, help="fixed batch size of the ONNX file (default: dynamic; MLP-Mixer needs one)"
    )
    parser.set_defaults(func=run)
    return parser


def version_number(text):
    """An argparse type: a TF Serving version, an integer from 1 to 2**63 - 1."""
    from keras_mixer.staging import check_version

    try:
        return check_version(positive_int(text))
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def check_targets(args):
    """Raises a ValueError, before any work, for a target that cannot be written."""
    from keras_mixer.staging import check_target_folder

    check_target_folder(args.base_dir, "BASE_DIR")
    for option, path in (("--tflite", args.tflite), ("--onnx", args.onnx)):
        if path and os.path.exists(path):
            raise ValueError(f"{option} {path!r} already exists; exports are never overwritten")
        if path:
            check_target_folder(os.path.dirname(os.path.abspath(path)), f"the folder of {option}")


def read_labels(path):
    """Class names from a UTF-8 text file, one per line (blank lines at the end ignored)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"labels file {path!r} does not exist")
    with open(path, encoding="utf-8") as handle:
        return handle.read().rstrip("\n").split("\n")


def run(args):
    from keras_mixer.export import export_onnx
    from keras_mixer.export import export_saved_model
    from keras_mixer.export import export_tflite
    from keras_mixer.export.onnx import check_onnx_batch_size

    check_targets(args)
    labels = read_labels(args.labels) if args.labels else None
    model = load_trained_model(args.model_file, compile=False)
    if args.onnx:
        check_onnx_batch_size(model, args.onnx_batch_size)
    path = export_saved_model(
        model, args.base_dir, version=args.version, top_k=args.top_k, labels=labels, crop_ratio=args.crop_ratio,
        fuse=not args.no_fuse,
    )
    print(f"Exported SavedModel to {path} (signatures serving_default, serving_uint8, serving_bytes)")
    if args.tflite:
        arguments = {"top_k": args.top_k, "labels": labels, "crop_ratio": args.crop_ratio}
        print(f"Wrote {export_tflite(model, args.tflite, **arguments)}")
    if args.onnx:
        print(f"Wrote {export_onnx(model, args.onnx, args.onnx_batch_size)}")
    return 0
