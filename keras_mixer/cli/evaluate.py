"""`keras-mixer evaluate`: test accuracy of a saved model on a data set's test split."""

from keras_mixer.cli.common import add_data_arguments
from keras_mixer.cli.common import load_trained_model
from keras_mixer.cli.common import positive_int


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "evaluate",
        help="evaluate a .keras model on the test split of a data set",
        description="Loads a .keras model and reports its loss and accuracy on the "
                    "held-out split (digits: the fixed split of load_digits).",
    )
    parser.add_argument("model", help="path of a .keras model (e.g. from keras-mixer train)")
    add_data_arguments(parser)
    parser.add_argument("--batch-size", type=positive_int, default=256, help="batch size (default 256)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split (default 0)")
    parser.set_defaults(func=run)
    return parser


def run(args):
    import keras

    from keras_mixer.training.data import load_image_data
    from keras_mixer.training.data import make_pipeline

    model = load_trained_model(args.model)
    size = tuple(model.input_shape[1:3])
    if args.image_size:
        size = (args.image_size, args.image_size)
    images = load_image_data(args.data, size, data_dir=args.data_dir,
                             download=args.download, seed=args.seed)
    if images.num_classes != model.output_shape[-1]:
        raise ValueError(
            f"{args.data} has {images.num_classes} classes, the model predicts "
            f"{model.output_shape[-1]}; expected the data set it was trained on."
        )
    model.compile(loss=keras.losses.CategoricalCrossentropy(), metrics=["accuracy"])
    test = make_pipeline(images.test, size, args.batch_size, images.num_classes)
    metrics = model.evaluate(test, return_dict=True, verbose="auto")
    print(f"Test evaluation on {images.test_size} images: loss {metrics['loss']:.4f}  "
          f"accuracy {metrics['accuracy']:.2%}")
    return 0
