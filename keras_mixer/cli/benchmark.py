"""`keras-mixer benchmark`: speed against timm and the machine's matmul peak."""

from keras_mixer.cli.common import positive_int


def _names(text):
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _sizes(text):
    try:
        return tuple(int(part) for part in _names(text))
    except ValueError:
        raise ValueError(f"--batches {text!r} is not supported; expected sizes such as 1,32.")


def add_parser(subparsers):
    from keras_mixer.benchmark.models import MODELS
    from keras_mixer.benchmark.runner import Settings

    default = Settings()
    parser = subparsers.add_parser(
        "benchmark",
        help="measure inference and training speed against timm and the matmul peak",
        description="Measures images/s (inference at each batch size with p50/p99 latency, "
                    "training with one AdamW step per batch), peak memory and GFLOP/s as a "
                    "fraction of the matmul peak, for keras_mixer models on each Keras backend "
                    "and for timm's same models, in float32 and bfloat16. One process per "
                    "backend, threads pinned equally. Writes results.csv, results.json and "
                    "results.png.",
    )
    parser.add_argument("--models", default=",".join(default.models),
                        help=f"comma-separated, from {', '.join(MODELS)} "
                             f"(default {','.join(default.models)})")
    parser.add_argument("--backends", default=",".join(default.backends),
                        help="comma-separated Keras backends (default all three)")
    parser.add_argument("--dtypes", default=",".join(default.dtypes),
                        help="float32 and/or bfloat16 (Keras mixed_bfloat16; timm autocast)")
    parser.add_argument("--forms", default=",".join(default.forms),
                        help="inference forms: train (as built), fused "
                             "(keras_mixer.fuse_for_inference), int8 (fused, then Keras "
                             "model.quantize('int8')) (default train,fused)")
    parser.add_argument("--tasks", default=",".join(default.tasks),
                        help="inference and/or training (default both)")
    parser.add_argument("--batches", default=",".join(map(str, default.batches)),
                        help="inference batch sizes (default 1,32)")
    parser.add_argument("--train-batch", type=positive_int, default=default.train_batch,
                        help=f"training batch size (default {default.train_batch})")
    parser.add_argument("--repeats", type=positive_int, default=default.repeats,
                        help=f"timed calls per measurement (default {default.repeats})")
    parser.add_argument("--latency-repeats", type=positive_int, default=default.latency_repeats,
                        help=f"timed calls at batch 1 (default {default.latency_repeats})")
    parser.add_argument("--threads", type=positive_int, default=default.threads,
                        help=f"threads (and cores) per process (default {default.threads})")
    parser.add_argument("--jit", choices=("xla", "auto", "on", "off"), default=default.jit,
                        help="jit_compile of Model.compile: xla (default) on TensorFlow and "
                             "JAX, Keras' default on torch; auto: Keras' default everywhere "
                             "(no XLA on a TensorFlow CPU); on: also torch.compile; off")
    parser.add_argument("--no-timm", action="store_true", help="do not measure timm")
    parser.add_argument("--max-seconds", type=float, default=default.max_seconds,
                        help="skip a measurement the matmul peak predicts to take longer")
    parser.add_argument("--output", default="benchmarks",
                        help="folder for results.csv/json/png (default benchmarks)")
    parser.add_argument("--quick", action="store_true",
                        help="2 repeats, small matmul: a rough run in minutes")
    parser.set_defaults(func=run)
    return parser


def run(args):
    from keras_mixer.benchmark import report
    from keras_mixer.benchmark.runner import Settings
    from keras_mixer.benchmark.runner import run_benchmark

    settings = Settings(
        models=_names(args.models), backends=_names(args.backends), dtypes=_names(args.dtypes),
        forms=_names(args.forms), tasks=_names(args.tasks), batches=_sizes(args.batches), train_batch=args.train_batch,
        repeats=args.repeats, latency_repeats=args.latency_repeats, threads=args.threads,
        jit=args.jit, timm=not args.no_timm, max_seconds=args.max_seconds,
    )
    if args.quick:
        settings = settings.quick()
    settings.check()
    results = run_benchmark(settings)
    print("\n".join(report.header(results)))
    print(report.table(results))
    for path in report.write_report(results, args.output):
        print(f"wrote {path}")
    return 0
