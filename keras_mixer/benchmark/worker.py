"""One benchmark process: `python -m keras_mixer.benchmark.worker SPEC_JSON`.

The runner starts one per Keras backend and one for timm, with
`KERAS_BACKEND` and the thread-pinning variables already in the
environment. The worker measures its framework's matmul peaks, then every requested
model and dtype, printing progress to stderr and one JSON object per
result to stdout, prefixed with `RESULT ` so library log lines cannot be
mistaken for results.
"""

import json
import os
import sys

from keras_mixer.benchmark.runner import RESULT_PREFIX


def emit(row):
    print(RESULT_PREFIX + json.dumps(row), flush=True)


def progress(label, message):
    print(f"[{label}] {message}", file=sys.stderr, flush=True)


def skip_rule(peak_gflops, batches_per_row, max_seconds):
    """`skip(task, batch, flops)`: a reason when the matmul peak predicts > max_seconds."""
    from keras_mixer.benchmark.flops import TRAINING_FACTOR

    def skip(task, batch, flops):
        factor = TRAINING_FACTOR if task == "training" else 1
        estimate = flops * factor * batch * batches_per_row / (peak_gflops * 1e9)
        if estimate > max_seconds:
            return (f"estimated {estimate:.0f} s at this backend's {peak_gflops:.1f} GFLOP/s "
                    f"matmul peak (> --max-seconds {max_seconds:g})")
        return None

    return skip


def _forward_flops(model):
    """Forward FLOPs per image of the Keras form of `model` (the count timm rows use)."""
    from keras_mixer.benchmark.flops import forward_flops

    return forward_flops(model.build())


def _describe(row):
    if row.get("skipped"):
        return f"skipped: {row['skipped']}"
    return f"{row['images_per_s']:.1f} img/s, first call {row['first_call_s']:.1f} s"


def run(spec):
    from keras_mixer.benchmark.machine import matmul_peak
    from keras_mixer.benchmark.machine import pin_threads
    from keras_mixer.benchmark.models import get_model
    from keras_mixer.benchmark.runner import jit_compile_for

    framework = spec["framework"]
    backend = "torch" if framework == "timm" else os.environ["KERAS_BACKEND"]
    label = "timm" if framework == "timm" else backend
    pin_threads(backend, spec["threads"])
    peaks = {}
    for dtype in spec["dtypes"]:
        rate, size = matmul_peak(backend, dtype, spec["matmul_size"], spec["matmul_repeats"])
        peaks[dtype] = rate
        emit({"kind": "peak", "framework": framework, "backend": backend, "dtype": dtype,
              "gflop_s": rate, "size": size})
        progress(label, f"{dtype} matmul {size}x{size}: {rate:.1f} GFLOP/s")
    calls = spec["repeats"] + 1
    for name in spec["models"]:
        model = get_model(name)
        if framework == "timm" and model.timm is None:
            continue
        for dtype in spec["dtypes"]:
            skip = skip_rule(peaks[dtype], calls, spec["max_seconds"])
            progress(label, f"{name} {dtype} ...")
            options = {"batches": spec["batches"], "train_batch": spec["train_batch"],
                       "repeats": spec["repeats"], "latency_repeats": spec["latency_repeats"],
                       "tasks": spec["tasks"], "skip": skip}
            if framework == "timm":
                from keras_mixer.benchmark import timm_models

                rows = timm_models.measure(model, dtype, _forward_flops(model), **options)
            else:
                from keras_mixer.benchmark import ours

                rows = ours.measure(model, dtype, forms=spec["forms"],
                                    jit_compile=jit_compile_for(spec["jit"], backend), **options)
            for row in rows:
                row.update(kind="result", framework=framework, backend=label, model=name,
                           dtype=dtype)
                emit(row)
                progress(label, f"{name} {dtype} {row['task']} {row['form']} batch "
                                f"{row['batch']}: {_describe(row)}")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    run(json.loads(argv[0]))


if __name__ == "__main__":
    main()
