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
    """Runs the command line; every failure ends with a one-line error, never a traceback.

    Bad arguments (argparse) exit 2; a bad value or file (ValueError,
    OSError) returns 2; anything unexpected returns 1, still on one line.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args) or 0
    except (ValueError, OSError) as error:
        status, message = 2, str(error)
    except KeyboardInterrupt:
        status, message = 130, "interrupted"
    except Exception as error:  # the promise: one line, whatever went wrong
        status, message = 1, f"{type(error).__name__}: {error}"
    message = " ".join(message.split()) or "failed"
    print(f"keras-mixer {args.command}: error: {message}", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
