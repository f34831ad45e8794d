"""`keras-mixer demo`: train the default model on digits, export it, serve it.

The demo is `keras-mixer train` with its defaults (the `resmlp_digits` preset
and the `digits` recipe, see `keras_mixer.training`) plus an export and a
prediction by the SavedModel loaded with TensorFlow alone.
"""

import json
import os
import subprocess
import sys

import numpy as np

from keras_mixer.cli.common import positive_int

DEMO_NAME = "digits_resmlp"


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "demo",
        help="train a small ResMLP on scikit-learn's digits, export and serve it",
        description=(
            "Trains the default small ResMLP on scikit-learn's digits with the CLI's "
            "default recipe (model.fit), prints the held-out test accuracy, saves a "
            ".keras file, exports a versioned SavedModel and reloads it with "
            "TensorFlow alone to predict a few test images."
        ),
    )
    parser.add_argument("--epochs", type=positive_int, help="training epochs (default: the recipe's)")
    parser.add_argument("--output", default=os.path.join("runs", "demo"),
                        help="folder for logs, curves and the .keras file")
    parser.add_argument(
        "--export-dir",
        default=os.path.join("saved_models", DEMO_NAME),
        help="TF Serving model folder; the export goes to its next free version",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.set_defaults(func=run)
    return parser


def serve_with_tensorflow_only(export_path, images):
    """Runs the export in a fresh Python that imports TensorFlow only."""
    from keras_mixer.export import tf_serving_client

    images_path = os.path.join(export_path, os.pardir, f".{os.getpid()}-request.npy")
    np.save(images_path, images.astype("float32"))
    try:
        result = subprocess.run(
            [sys.executable, tf_serving_client.__file__, export_path, images_path],
            check=True,
            capture_output=True,
            text=True,
        )
    finally:
        os.remove(images_path)
    return json.loads(result.stdout.strip().splitlines()[-1])


def run(args):
    import keras

    from keras_mixer.data import load_digits
    from keras_mixer.training import train

    print(f"Training a ResMLP on scikit-learn's digits ({keras.config.backend()} backend).")
    if os.path.isdir(os.path.join(args.output, "backup")):
        print(f"Resuming from the backup in {args.output}.")
    result = train(epochs=args.epochs, output_dir=args.output, seed=args.seed,
                   export=args.export_dir)
    _, (x_test, y_test) = load_digits()
    print(f"Test accuracy on {len(y_test)} held-out digits: {result.test_metrics['accuracy']:.2%}")
    print(f"Saved {result.saved_model_path}")
    print(f"Exported SavedModel to {result.export_path}")

    served = serve_with_tensorflow_only(result.export_path, x_test[:8])
    probabilities = result.model.predict(x_test[:8].astype("float32"), verbose=0)
    print("Predictions of the SavedModel, loaded with TensorFlow alone:")
    for label, classes, scores in zip(y_test[:8], served["top_k_classes"], served["top_k_scores"]):
        print(f"  true {label}  predicted {classes[0]} (p={scores[0]:.3f})  top-3 {classes[:3]}")
    max_difference = float(np.max(np.abs(np.asarray(served["probabilities"]) - probabilities)))
    print(f"Largest difference to the Keras model's probabilities: {max_difference:.2e}")
    return 0
