"""`keras-mixer train`: fit a model with a paper's recipe on digits, TFDS or a folder."""

import os

from keras_mixer.cli.common import add_data_arguments
from keras_mixer.cli.common import positive_int
from keras_mixer.registry import list_models


def add_parser(subparsers):
    from keras_mixer.training.augmentation import AUGMENTATIONS
    from keras_mixer.training.distillation import DISTILLATION_TYPES
    from keras_mixer.training.distribution import STRATEGIES
    from keras_mixer.training.recipes import RECIPES
    from keras_mixer.training.run import DEFAULT_MODEL

    parser = subparsers.add_parser(
        "train",
        help="train a model with model.fit (recipes, tf.data, distribution, resume)",
        description=(
            "Trains with model.fit and a paper's recipe. Writes TensorBoard and CSV "
            "logs, per-epoch checkpoints, training_curves.png and the final .keras "
            "model to --output, backs up every epoch and resumes from the backup "
            "when rerun with the same --output, and ends with a test evaluation."
        ),
    )
    parser.add_argument("--model", default=DEFAULT_MODEL,
                        help=f"a model of the registry: {', '.join(list_models())} "
                             f"(default {DEFAULT_MODEL}: a small ResMLP for 8x8 digits)")
    add_data_arguments(parser)
    parser.add_argument("--epochs", type=positive_int, help="epochs (default: the recipe's)")
    parser.add_argument("--batch-size", type=positive_int, help="global batch size (default: the recipe's)")
    parser.add_argument("--strategy", default="auto", choices=STRATEGIES,
                        help="distribution (default auto; multiworker reads TF_CONFIG)")
    parser.add_argument("--recipe", choices=sorted(RECIPES),
                        help="training recipe (default: by model: digits, deit or mixer)")
    parser.add_argument("--weights", help="start from these weights: a preset tag or a checkpoint "
                                          "file such as a .weights.h5 (fine-tuning: --recipe finetune)")
    parser.add_argument("--drop-path-rate", type=float, help="override the recipe's stochastic depth")
    parser.add_argument("--augmentation", choices=AUGMENTATIONS,
                        help="library of RandAugment/MixUp/CutMix (default keras: Keras core; "
                             "keras_cv needs pip install 'keras-mixer[keras-cv]')")
    parser.add_argument("--teacher", help="a .keras classifier to distil from (DeiT distillation)")
    parser.add_argument("--distillation-type", choices=DISTILLATION_TYPES, default="hard",
                        help="with --teacher: DeiT's hard (teacher's class) or soft (KL) "
                             "distillation (default hard)")
    parser.add_argument("--distillation-tau", type=float, default=1.0,
                        help="temperature of soft distillation (default 1.0, DeiT's)")
    parser.add_argument("--output", default=os.path.join("runs", "train"),
                        help="folder for logs, backups, checkpoints, curves and the model")
    parser.add_argument("--export", help="also export a TF Serving SavedModel here, e.g. saved_models/NAME")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--quiet", action="store_true", help="one line per epoch instead of a progress bar")
    parser.set_defaults(func=run)
    return parser


def run(args):
    from keras_mixer.staging import check_target_folder
    from keras_mixer.training.run import train

    if args.export:  # checked before the training run, not after it
        check_target_folder(args.export, "--export")
    overrides = {}
    if args.drop_path_rate is not None:
        overrides["drop_path_rate"] = args.drop_path_rate
    if args.augmentation is not None:
        overrides["augmentation"] = args.augmentation
    result = train(
        args.model,
        args.data,
        epochs=args.epochs,
        batch_size=args.batch_size,
        strategy=args.strategy,
        output_dir=args.output,
        recipe=args.recipe,
        image_size=args.image_size,
        seed=args.seed,
        data_dir=args.data_dir,
        download=args.download,
        weights=args.weights,
        teacher=args.teacher,
        distillation_type=args.distillation_type,
        distillation_tau=args.distillation_tau,
        export=args.export,
        verbose=2 if args.quiet else "auto",
        recipe_overrides=overrides,
    )
    metrics = "  ".join(f"{key} {value:.4f}" for key, value in result.test_metrics.items())
    print(f"Test evaluation ({result.distribution.name}, {result.distribution.num_replicas} "
          f"replica(s)): {metrics}")
    if result.saved_model_path:
        print(f"Saved {result.saved_model_path}")
    if result.export_path:
        print(f"Exported SavedModel to {result.export_path}")
    return 0
