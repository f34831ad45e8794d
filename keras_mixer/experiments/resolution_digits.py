"""Loading at another resolution, measured: train on digits at one size, load at others.

Trains a small model on scikit-learn's digits at 16x16, saves its weights,
then builds the same architecture at other input sizes (larger, smaller,
non-square) with `weights=` pointing at the saved file, which resamples the
token-mixing weights to the new patch grid (docs/weights.md). Reports the
held-out accuracy without any retraining and after one short fine-tuning
epoch. Run:

    python -m keras_mixer.experiments.resolution_digits [--family mixer|gmlp]
"""

import argparse
import os
import tempfile

import numpy as np

TRAIN_SIZE = (16, 16)
TARGET_SIZES = ((24, 24), (32, 32), (16, 24), (8, 8))
FAMILIES = ("resmlp", "mixer", "gmlp")  # families with token maps to resample (gMLP: its gates' S x S maps)


def resize_digits(images, size):
    """Enlarges 8x8 digits by pixel repetition to `size` (multiples of 8)."""
    return images.repeat(size[0] // 8, axis=1).repeat(size[1] // 8, axis=2)


def build(family, size, weights=None):
    import keras_mixer

    common = dict(patch_size=2, embed_dim=64, depth=4, input_shape=(*size, 3), classes=10, weights=weights)
    if family == "mixer":
        return keras_mixer.MLPMixer(token_mixing_dim=64, channel_mixing_dim=256, **common)
    if family == "gmlp":
        return keras_mixer.GMLP(mlp_ratio=4.0, **common)
    return keras_mixer.ResMLP(layer_scale_init=0.1, **common)


def compile_model(model, learning_rate):
    import keras

    model.compile(
        optimizer=keras.optimizers.AdamW(learning_rate, weight_decay=0.05),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def accuracy(model, images, labels):
    return float(np.mean(model.predict(images, verbose=0).argmax(-1) == labels))


def run(family="resmlp", epochs=30, seed=0, verbose=0):
    """Returns rows `(size, accuracy without retraining, after one epoch)`."""
    import keras

    from keras_mixer.data import load_digits

    (x_train, y_train), (x_test, y_test) = load_digits(image_size=8)
    keras.utils.set_random_seed(seed)
    model = compile_model(build(family, TRAIN_SIZE), 2e-3)
    model.fit(resize_digits(x_train, TRAIN_SIZE), y_train, batch_size=64, epochs=epochs, verbose=verbose)
    rows = [(TRAIN_SIZE, accuracy(model, resize_digits(x_test, TRAIN_SIZE), y_test), None)]
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "digits.weights.h5")
        model.save_weights(path)
        for size in TARGET_SIZES:
            adapted = build(family, size, weights=path)
            before = accuracy(adapted, resize_digits(x_test, size), y_test)
            compile_model(adapted, 2e-4).fit(
                resize_digits(x_train, size), y_train, batch_size=64, epochs=1, verbose=verbose
            )
            rows.append((size, before, accuracy(adapted, resize_digits(x_test, size), y_test)))
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", choices=FAMILIES, default="resmlp")
    parser.add_argument("--epochs", type=int, default=30, help="training epochs at 16x16")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    import keras

    print(f"{args.family} on digits, trained at 16x16 ({keras.config.backend()} backend)")
    print("| input | test accuracy, loaded as is | after 1 fine-tuning epoch |")
    print("|---|---|---|")
    for size, before, after in run(args.family, args.epochs, args.seed):
        tuned = "(training size)" if after is None else f"{after:.2%}"
        print(f"| {size[0]}x{size[1]} | {before:.2%} | {tuned} |")


if __name__ == "__main__":
    main()
