"""One benchmark process: `python -m keras_mixer.benchmark.worker SPEC_JSON`.

The runner starts one per Keras backend and one for timm (and one for
timm with torch.compile), with `KERAS_BACKEND` and, on the CPU, the
thread-pinning variables already in the environment. The worker measures its framework's matmul peaks, then every requested
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


def _jit_values(spec, backend):
    """The distinct `jit_compile` values of `spec["jit"]` on `backend`, in order."""
    from keras_mixer.benchmark.runner import jit_compile_for

    return list(dict.fromkeys(jit_compile_for(jit, backend) for jit in spec["jit"]))


def _measure(spec, model, dtype, jit_compile, backend, skip):
    """The rows of one model in one dtype (and, for Keras, one `jit_compile`)."""
    options = {"batches": spec["batches"], "train_batches": spec["train_batches"],
               "repeats": spec["repeats"], "latency_repeats": spec["latency_repeats"],
               "tasks": spec["tasks"], "skip": skip, "device": spec["device"]}
    if spec["framework"] != "keras":
        from keras_mixer.benchmark import timm_models

        return timm_models.measure(model, dtype, _forward_flops(model),
                                   compiled=spec["framework"] == "timm-compiled", **options)
    from keras_mixer.benchmark import ours

    rows = ours.measure(model, dtype, forms=spec["forms"], jit_compile=jit_compile, **options)
    for row in rows:
        row["jit_compile"] = jit_compile
    return rows


def run(spec):
    """Measures `spec`: matmul peaks, then rows ordered jit, dtype, model (first ones first).

    On the GPU, a framework that sees no GPU is skipped with a note instead of
    being measured on the CPU; otherwise a note names the GPU it uses.
    """
    from keras_mixer.benchmark import gpu
    from keras_mixer.benchmark.machine import matmul_peak
    from keras_mixer.benchmark.machine import pin_threads
    from keras_mixer.benchmark.models import get_model
    from keras_mixer.benchmark.runner import note

    framework = spec["framework"]
    backend = "torch" if framework != "keras" else os.environ["KERAS_BACKEND"]
    label = backend if framework == "keras" else framework
    if spec["device"] == "gpu":
        found, reason = gpu.framework_gpu(backend)
        emit(note(spec, backend, f"GPU: {found}" if found else f"skipped: {reason}"))
        if not found:
            return
    else:
        pin_threads(backend, spec["threads"])
    peaks = {}
    for dtype in spec["dtypes"]:
        rate, size = matmul_peak(backend, dtype, spec["matmul_size"], spec["matmul_repeats"],
                                 device=spec["device"])
        peaks[dtype] = rate
        emit({"kind": "peak", "framework": framework, "backend": backend, "dtype": dtype,
              "gflop_s": rate, "size": size})
        progress(label, f"{dtype} matmul {size}x{size}: {rate:.1f} GFLOP/s")
    calls = spec["repeats"] + 1
    models = [get_model(name) for name in spec["models"]]
    for jit_compile in _jit_values(spec, backend) if framework == "keras" else [None]:
        for dtype in spec["dtypes"]:
            skip = skip_rule(peaks[dtype], calls, spec["max_seconds"])
            for name, model in zip(spec["models"], models):
                if framework != "keras" and model.timm is None:
                    continue
                progress(label, f"{name} {dtype} ...")
                for row in _measure(spec, model, dtype, jit_compile, backend, skip):
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
