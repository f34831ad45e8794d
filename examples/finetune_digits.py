"""Fine-tuning at another resolution on a small data set, end to end on bundled data.

Pretrains a small ResMLP on scikit-learn's digits at 8x8 and saves its
weights (`.weights.h5`); builds the same architecture for 16x16 with
`weights=` pointing at the file (the token-mixing weights are resampled to
the 4x larger patch grid, docs/weights.md); then fine-tunes it with the
"finetune" recipe on a small subset of the training digits and reports the
held-out accuracy at each stage, beside the same subset trained from scratch
at 16x16 for as many steps.

    KERAS_BACKEND=jax python examples/finetune_digits.py [--subset 200]

Measured numbers are in docs/training.md ("Fine-tuning").
"""

import argparse
import os
import tempfile

import keras
import numpy as np

import keras_mixer
from keras_mixer import training

PRETRAIN_SIZE, FINETUNE_SIZE = 8, 16
BATCH_SIZE = 32


def build(size, weights=None):
    """The small ResMLP of this example, for `size` x `size` digits."""
    return keras_mixer.ResMLP(patch_size=2, embed_dim=64, depth=2, layer_scale_init=0.1,
                              input_shape=(size, size, 3), classes=10, weights=weights)


def fit(model, recipe, train, size, epochs, seed):
    """`fit` with the recipe's optimizer, schedule, loss and augmentation."""
    steps = max(int(train.cardinality()) // recipe.batch_size, 1)
    training.compile_model(model, recipe, steps, epochs, recipe.batch_size)
    stream = training.make_pipeline(train, (size, size), recipe.batch_size, 10, training=True,
                                    recipe=recipe, seed=seed, epochs=epochs)
    model.fit(stream, epochs=epochs, steps_per_epoch=steps, shuffle=False, verbose=0)
    return model


def accuracy(model, test, size):
    batches = training.make_pipeline(test, (size, size), 512, 10).as_numpy_iterator()
    hits = [model.predict_on_batch(x).argmax(-1) == y.argmax(-1) for x, y in batches]
    return float(np.mean(np.concatenate(hits)))


def finetune_recipe(epochs):
    """The "finetune" recipe, changed where this toy differs from ImageNet.

    This model was pretrained for seconds, not for days, so it takes the
    learning rate of training (2e-3 at batch 32); and the digits are 8x8
    pixels: RandAugment, MixUp and CutMix at ImageNet's strengths wipe them
    out on 200 examples (docs/training.md has the numbers), so they are off.
    Warm-up, cosine decay, weight decay, label smoothing and the short
    schedule are the recipe's.
    """
    return training.get_recipe(
        "finetune", epochs=epochs, batch_size=BATCH_SIZE, learning_rate=2e-3,
        reference_batch_size=BATCH_SIZE, warmup_epochs=min(5, epochs / 4),
        rand_augment=None, mixup_alpha=0.0, cutmix_factor=0.0,
    )


def run(pretrain_epochs=30, finetune_epochs=20, subset=200, seed=0):
    """Returns the held-out accuracies `{stage: accuracy}` of the three stages
    and of training from scratch on the subset."""
    images = training.load_image_data("digits", (PRETRAIN_SIZE, PRETRAIN_SIZE), seed=seed)
    small = images.train.take(subset)  # the digits split is already shuffled
    pretrain = training.get_recipe("digits", epochs=pretrain_epochs, batch_size=BATCH_SIZE,
                                   drop_path_rate=0.0)
    finetune = finetune_recipe(finetune_epochs)
    results = {}
    keras.utils.set_random_seed(seed)
    model = fit(build(PRETRAIN_SIZE), pretrain, images.train, PRETRAIN_SIZE, pretrain_epochs, seed)
    results["pretrained, 8x8"] = accuracy(model, images.test, PRETRAIN_SIZE)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "digits8.weights.h5")
        model.save_weights(path)
        adapted = build(FINETUNE_SIZE, weights=path)
    results["loaded at 16x16"] = accuracy(adapted, images.test, FINETUNE_SIZE)
    fit(adapted, finetune, small, FINETUNE_SIZE, finetune_epochs, seed)
    results[f"fine-tuned on {subset} digits"] = accuracy(adapted, images.test, FINETUNE_SIZE)
    keras.utils.set_random_seed(seed)
    scratch = fit(build(FINETUNE_SIZE), finetune, small, FINETUNE_SIZE, finetune_epochs, seed)
    results[f"from scratch on {subset} digits"] = accuracy(scratch, images.test, FINETUNE_SIZE)
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pretrain-epochs", type=int, default=30)
    parser.add_argument("--finetune-epochs", type=int, default=20)
    parser.add_argument("--subset", type=int, default=200, help="training digits to fine-tune on")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    results = run(args.pretrain_epochs, args.finetune_epochs, args.subset, args.seed)
    print(f"| stage ({keras.config.backend()}) | held-out accuracy (360 digits) |\n|---|---|")
    for stage, value in results.items():
        print(f"| {stage} | {100 * value:.1f}% |")


if __name__ == "__main__":
    main()
