"""`keras-mixer benchmark`: speed against timm and the machine's matmul peak."""

import argparse

from keras_mixer.cli.common import positive_int

# Settings fields the options set; each option's default (None) keeps the
# default of the chosen device (`Settings()` or `Settings().for_gpu()`).
LISTS = ("models", "backends", "dtypes", "forms", "tasks", "jit")
SIZES = ("batches", "train_batches")
VALUES = ("repeats", "latency_repeats", "threads", "max_seconds", "worker_seconds",
          "timm_compiled")


def _names(text):
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _sizes(text, option="--batches"):
    try:
        return tuple(int(part) for part in _names(text))
    except ValueError:
        raise ValueError(f"{option} {text!r} is not supported; expected sizes such as 1,32.")


def add_parser(subparsers):
    from keras_mixer.benchmark.models import MODELS
    from keras_mixer.benchmark.runner import Settings

    cpu, gpu = Settings(), Settings().for_gpu()

    def both(name):
        values = [getattr(cpu, name), getattr(gpu, name)]
        cpu_text, gpu_text = (",".join(map(str, v)) if isinstance(v, tuple) else str(v)
                              for v in values)
        return f"default {cpu_text}" + ("" if cpu_text == gpu_text else f"; on GPU {gpu_text}")

    parser = subparsers.add_parser(
        "benchmark",
        help="measure inference and training speed against timm and the matmul peak",
        description="Measures images/s (inference at each batch size with p50/p99 latency, "
                    "training with one AdamW step per batch), peak memory and GFLOP/s as a "
                    "fraction of the matmul peak, for keras_mixer models on each Keras backend "
                    "and for timm's same models, in float32 and bfloat16. One process per "
                    "backend, threads pinned equally on the CPU. On a GPU (--device), inputs "
                    "stay on the device, every timed call waits for it, and GPU peak memory "
                    "is reported; the defaults change as each option says. Writes "
                    "results.csv and results.json as results arrive, then results.png.",
    )
    parser.add_argument("--device", choices=("auto", "cpu", "gpu"), default="auto",
                        help="auto (default): gpu when nvidia-smi lists a GPU, else cpu; gpu "
                             "without one is an error")
    parser.add_argument("--models",
                        help=f"comma-separated, from {', '.join(MODELS)} ({both('models')})")
    parser.add_argument("--backends", help=f"comma-separated Keras backends ({both('backends')})")
    parser.add_argument("--dtypes", help="float32 and/or bfloat16 (Keras mixed_bfloat16; timm "
                                         f"autocast) ({both('dtypes')})")
    parser.add_argument("--forms",
                        help="inference forms: train (as built), fused "
                             "(keras_mixer.fuse_for_inference), int8 (fused, then Keras "
                             f"model.quantize('int8')) ({both('forms')})")
    parser.add_argument("--tasks", help=f"inference and/or training ({both('tasks')})")
    parser.add_argument("--batches", help=f"inference batch sizes ({both('batches')})")
    parser.add_argument("--train-batches", "--train-batch", dest="train_batches",
                        help=f"training batch sizes ({both('train_batches')})")
    parser.add_argument("--repeats", type=positive_int,
                        help=f"timed calls per measurement ({both('repeats')})")
    parser.add_argument("--latency-repeats", type=positive_int,
                        help=f"timed calls at batch 1 ({both('latency_repeats')})")
    parser.add_argument("--threads", type=positive_int,
                        help=f"threads (and cores) per process on the CPU ({both('threads')}; "
                             "not pinned on GPU)")
    parser.add_argument("--jit",
                        help="comma-separated jit_compile modes of Model.compile, each measured: "
                             "xla: XLA on TensorFlow and JAX, Keras' default (eager) on torch; "
                             "auto: Keras' default everywhere (no XLA on a TensorFlow CPU); "
                             f"on: also torch.compile; off ({both('jit')})")
    parser.add_argument("--no-timm", action="store_true", help="do not measure timm")
    parser.add_argument("--timm-compiled", action=argparse.BooleanOptionalAction,
                        help="also measure timm under torch.compile, compilation excluded "
                             "from images/s (default off; on GPU on)")
    parser.add_argument("--max-seconds", type=float,
                        help="skip a measurement the matmul peak predicts to take longer "
                             f"({both('max_seconds')})")
    parser.add_argument("--worker-seconds", type=float,
                        help="stop a worker process after this many seconds, keeping its "
                             "results so far (default: no limit)")
    parser.add_argument("--output", default="benchmarks",
                        help="folder for results.csv/json/png (default benchmarks)")
    parser.add_argument("--quick", action="store_true",
                        help="2 repeats, small matmul: a rough run in minutes")
    parser.set_defaults(func=run)
    return parser


def settings_from(args):
    """The Settings `args` ask for: the device's defaults, `--quick`, then each option given."""
    import dataclasses

    from keras_mixer.benchmark.runner import Settings
    from keras_mixer.benchmark.runner import resolve_device

    settings = Settings()
    if resolve_device(args.device) == "gpu":
        settings = settings.for_gpu()
    if args.quick:
        settings = settings.quick()
    given = {name: getattr(args, name) for name in LISTS + SIZES + VALUES
             if getattr(args, name) is not None}
    for name in LISTS:
        if name in given:
            given[name] = _names(given[name])
    for name in SIZES:
        if name in given:
            given[name] = _sizes(given[name], "--" + name.replace("_", "-"))
    settings = dataclasses.replace(settings, timm=not args.no_timm, **given)
    settings.check()
    return settings


def run(args):
    from keras_mixer.benchmark import report
    from keras_mixer.benchmark.runner import run_benchmark

    settings = settings_from(args)
    results = run_benchmark(settings, lambda partial: report.write_data(partial, args.output))
    print("\n".join(report.header(results)))
    print(report.table(results))
    for path in report.write_report(results, args.output):
        print(f"wrote {path}")
    return 0
