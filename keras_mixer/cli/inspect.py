"""`keras-mixer inspect`: pictures of a model's weights (token maps, sparsity, permutation)."""

import os

from keras_mixer.cli.common import positive_int


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "inspect",
        help="draw a ResMLP's or MLP-Mixer's token-mixing weights, sparsity and permutation check",
        description=(
            "Writes PNG pictures of a ResMLP or MLP-Mixer model into --out: the rows "
            "of ResMLP's token map A (or Mixer's token-MLP units) on the patch grid, "
            "the sparsity of the mixing matrices per block, and digits with their "
            "patches and pixels shuffled (with a check that the permuted model gives "
            "the same outputs). MODEL is a .keras file, a variant name (random "
            "initialisation, e.g. resmlp12), or a weights tag or checkpoint file "
            "(e.g. imagenet, resmlp.weights.h5) together with --variant."
        ),
    )
    parser.add_argument("model", metavar="MODEL",
                        help="a .keras file, a variant name, or a weights tag/file (with --variant)")
    parser.add_argument("--out", required=True, help="folder for the PNG files")
    parser.add_argument("--variant", help="the variant a weights tag or file is loaded into")
    parser.add_argument("--image-size", type=positive_int, default=224,
                        help="input side for a variant (default 224)")
    parser.add_argument("--classes", type=positive_int, default=1000,
                        help="classes of a variant's head (default 1000)")
    parser.add_argument("--permutation-demo", action="store_true",
                        help="also train a small ResMLP and a convnet on shuffled digits "
                             "(one to two minutes on 2 CPU cores) and draw their accuracies")
    parser.add_argument("--epochs", type=positive_int, default=None,
                        help="epochs of each permutation-demo run (default 20)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the permutation (default 0)")
    parser.set_defaults(func=run)
    return parser


def load_model(source, variant=None, image_size=224, classes=1000):
    """A model from a .keras file, a variant name or weights; returns `(model, description)`."""
    from keras_mixer import registry
    from keras_mixer.cli.common import load_trained_model
    from keras_mixer.models import get_model
    from keras_mixer.weights import EXTENSIONS

    shape = dict(input_shape=(image_size, image_size, 3), classes=classes)
    is_weights = source in registry.tags() or source.endswith(EXTENSIONS)
    if is_weights and variant is None:
        raise ValueError(
            f"MODEL={source!r} is a weights tag or file; pass --variant (one of "
            f"{registry.list_models()}) to say which model it is loaded into."
        )
    if not is_weights and variant is not None:
        raise ValueError(f"--variant={variant!r} is only used with a weights tag or file.")
    if is_weights:
        return get_model(variant, weights=source, **shape), f"{variant} with weights {source}"
    if source.endswith(".keras"):
        return load_trained_model(source), f"the trained model {source}"
    return get_model(source, **shape), f"{source} with random initial weights (untrained)"


def run(args):
    from keras_mixer.analysis import permutation_demo
    from keras_mixer.analysis import save_pictures

    model, description = load_model(args.model, args.variant, args.image_size, args.classes)
    print(f"Inspecting {description}.")
    pictures = save_pictures(model, args.out, seed=args.seed)
    for name, values in pictures.sparsity.items():
        print(f"  {name}: fraction of near-zero weights per block "
              f"{' '.join(f'{value:.2f}' for value in values)}")
    if args.permutation_demo:
        print("Training a ResMLP and a convnet on original and shuffled digits.")
        path = os.path.join(args.out, "permutation_demo.png")
        options = {} if args.epochs is None else {"epochs": args.epochs}
        _, accuracies = permutation_demo(path=path, seed=args.seed, verbose=1, **options)
        for name, results in accuracies.items():
            print(f"  {name}: original {results['original']:.2%}  permuted {results['permuted']:.2%}")
        print(f"wrote {path}")
    return 0
