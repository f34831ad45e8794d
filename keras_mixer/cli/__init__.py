"""The `keras-mixer` command line: one sub-command per module in this package."""

import argparse
import importlib
import sys

# Each module defines `add_parser(subparsers)` returning a parser whose
# `func` default runs the command with the parsed arguments.
COMMANDS = ("demo", "train", "evaluate", "predict", "export", "convert", "inspect", "benchmark")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="keras-mixer",
        description="All-MLP vision models (MLP-Mixer, ResMLP) for Keras 3.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        importlib.import_module(f"keras_mixer.cli.{command}").add_parser(subparsers)
    return parser


def main(argv=None):
    """Runs the command line; bad arguments end with a one-line error, exit 2."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args) or 0
    except (ValueError, FileNotFoundError) as error:
        print(f"keras-mixer {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
