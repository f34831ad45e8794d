"""Inference speed of a RepMLPNet: training form vs its re-parameterised deploy form.

Usage (any backend):

    KERAS_BACKEND=jax python benchmarks/repmlp.py --variant RepMLPNetT224 --batch 8

Prints images/s of both forms on random images; the deploy form runs one FC
per RepMLP block instead of an FC, two convs and three BatchNorms.
"""

import argparse
import time

import keras
import numpy as np

import keras_mixer


def images_per_second(model, images, repeats, warmup=2):
    """Median images/s of `model.predict_on_batch` over `repeats` timed runs."""
    for _ in range(warmup):
        model.predict_on_batch(images)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        model.predict_on_batch(images)
        times.append(time.perf_counter() - start)
    return len(images) / float(np.median(times))


def compare(model, batch, repeats):
    """Returns `{"train": images/s, "deploy": images/s}` for `model` and its deploy form."""
    deployed = keras_mixer.reparameterize(model)
    images = np.random.default_rng(0).integers(0, 256, (batch,) + model.input_shape[1:])
    images = images.astype("float32")
    return {
        "train": images_per_second(model, images, repeats),
        "deploy": images_per_second(deployed, images, repeats),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", default="RepMLPNetT224",
                        help="a keras_mixer RepMLPNet variant (default RepMLPNetT224)")
    parser.add_argument("--batch", type=int, default=8, help="images per batch (default 8)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs (default 5)")
    args = parser.parse_args(argv)
    if not args.variant.startswith("RepMLPNet") or not hasattr(keras_mixer, args.variant):
        parser.error(f"--variant {args.variant!r} is not a keras_mixer RepMLPNet variant")
    model = getattr(keras_mixer, args.variant)()
    speeds = compare(model, args.batch, args.repeats)
    print(
        f"{args.variant} on {keras.config.backend()}, batch {args.batch}: training form "
        f"{speeds['train']:.1f} img/s, deploy form {speeds['deploy']:.1f} img/s "
        f"(x{speeds['deploy'] / speeds['train']:.2f})"
    )


if __name__ == "__main__":
    main()
