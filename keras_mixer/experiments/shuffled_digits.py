"""Training on shuffled digits: an all-MLP model does not mind, a convnet does.

The Mixer paper (Sec. 3.4, Fig. 4) trains on ImageNet with patches and the
pixels inside them shuffled by one fixed permutation: Mixer reaches the same
accuracy, a ResNet loses a lot. This is the same experiment on
scikit-learn's 8x8 digits, small enough to run in minutes on a CPU.
"""

import keras
import numpy as np

from keras_mixer.arguments import positive_int
from keras_mixer.analysis.figures import new_figure
from keras_mixer.analysis.figures import save_figure
from keras_mixer.analysis.permutation import permute_images
from keras_mixer.analysis.permutation import random_permutation

PATCH_SIZE = 2
DEMO_EPOCHS = 20
BATCH_SIZE = 256


def _resmlp(input_shape):
    from keras_mixer.models import ResMLP

    return ResMLP(patch_size=PATCH_SIZE, embed_dim=64, depth=2, layer_scale_init=0.1,
                  input_shape=input_shape, classes=10, name="resmlp")


def _convnet(input_shape):
    """Two 3x3 convolutions and global pooling: it relies on neighbouring pixels."""
    layers = keras.layers
    return keras.Sequential([
        keras.Input(input_shape),
        layers.Rescaling(1 / 255),
        layers.Conv2D(32, 3, padding="same", activation="relu"),
        layers.Conv2D(64, 3, padding="same", activation="relu"),
        layers.GlobalAveragePooling2D(),
        layers.Dense(10, activation="softmax"),
    ], name="convnet")


MODELS = {"ResMLP": _resmlp, "ConvNet": _convnet}


def _train(build, data, epochs, seed, verbose):
    from keras_mixer.training.recipes import get_recipe

    (x_train, y_train), (x_test, y_test) = data
    recipe = get_recipe("digits", drop_path_rate=0.0, batch_size=BATCH_SIZE)
    keras.utils.set_random_seed(seed)
    model = build(x_train.shape[1:])
    model.compile(
        optimizer=recipe.make_optimizer(-(-len(x_train) // recipe.batch_size), epochs),
        loss=recipe.make_loss(),
        metrics=["accuracy"],
    )
    model.fit(x_train, keras.utils.to_categorical(y_train, 10), batch_size=recipe.batch_size,
              epochs=epochs, verbose=verbose)
    predictions = model.predict(x_test, batch_size=256, verbose=0)
    return float(np.mean(predictions.argmax(-1) == y_test))


def permutation_demo(epochs=DEMO_EPOCHS, seed=0, path=None, verbose=0):
    """Trains a small ResMLP and a small convnet on original and on shuffled digits.

    One fixed `random_permutation` (2x2 patches of the 8x8 digits, and the
    4 pixels inside each) is applied to every training and test image. Both
    models are trained with the "digits" recipe for `epochs` epochs (the
    default of 20 took 1.5 to 3 minutes on a shared 2-core CPU; 60 gives
    nearly converged accuracies, see docs/analysis.md).

    Args:
        epochs: training epochs of each of the four runs.
        seed: seeds the permutation, the weights and the data order.
        path: where to write the bar chart PNG, or None.
        verbose: `fit` verbosity.

    Returns:
        `(figure, accuracies)`, `accuracies[model][data]` the held-out
        accuracy with `model` in ("ResMLP", "ConvNet") and `data` in
        ("original", "permuted").
    """
    from keras_mixer.data import load_digits

    positive_int("epochs", epochs)
    (x_train, y_train), (x_test, y_test) = load_digits(seed=seed)
    grid = (x_train.shape[1] // PATCH_SIZE, x_train.shape[2] // PATCH_SIZE)
    permutation = random_permutation(grid, PATCH_SIZE, seed=seed)
    datasets = {
        "original": ((x_train, y_train), (x_test, y_test)),
        "permuted": ((permute_images(x_train, permutation), y_train),
                     (permute_images(x_test, permutation), y_test)),
    }
    accuracies = {}
    progress = keras.utils.Progbar(len(MODELS) * len(datasets), verbose=1 if verbose else 0)
    for name, build in MODELS.items():
        accuracies[name] = {}
        for kind, data in datasets.items():
            accuracies[name][kind] = _train(build, data, epochs, seed, max(verbose - 1, 0))
            progress.add(1)
    return accuracy_figure(accuracies, epochs, path), accuracies


def accuracy_figure(accuracies, epochs, path=None):
    """The bar chart of `permutation_demo`'s `accuracies`."""
    figure = new_figure(5, 3.2)
    axes = figure.subplots()
    width = 0.38
    for offset, kind in zip((-width / 2, width / 2), ("original", "permuted")):
        values = [accuracies[name][kind] for name in accuracies]
        bars = axes.bar(np.arange(len(values)) + offset, values, width, label=f"{kind} digits")
        axes.bar_label(bars, labels=[f"{value:.1%}" for value in values], fontsize=8)
    axes.set_xticks(np.arange(len(accuracies)), list(accuracies))
    axes.set_ylim(0, 1.1)
    axes.set_ylabel("held-out accuracy")
    axes.legend(fontsize=8, loc="lower right")
    axes.set_title(f"Shuffled patches and pixels, {epochs} epochs", fontsize=9)
    return save_figure(figure, path)
