"""Runs the benchmark: one worker process per backend and one for timm, then the report."""

import dataclasses
import json
import os
import subprocess
import sys

from keras_mixer.benchmark.machine import machine_info
from keras_mixer.benchmark.machine import thread_environment
from keras_mixer.benchmark.models import DEFAULT_MODELS
from keras_mixer.benchmark.models import get_model

# A worker prints each result on a line of its own after this prefix, so that
# library log lines on stdout cannot be taken for results.
RESULT_PREFIX = "RESULT "
BACKENDS = ("tensorflow", "jax", "torch")
DTYPES = ("float32", "bfloat16")
# "int8" (opt-in): the fused form with Keras `Model.quantize("int8")`.
FORMS = ("train", "fused", "int8")
TASKS = ("inference", "training")
# `jit_compile` for Model.compile: "xla" is XLA on TensorFlow and JAX and Keras'
# default (eager) on torch; "on" also runs torch.compile.
JIT_CHOICES = ("xla", "auto", "on", "off")


def jit_compile_for(jit, backend):
    """The `Model.compile(jit_compile=...)` value `jit` means on `backend`."""
    if jit == "xla":
        return "auto" if backend == "torch" else True
    return {"auto": "auto", "on": True, "off": False}[jit]


@dataclasses.dataclass
class Settings:
    """What one benchmark run measures; `quick()` gives the smoke-test variant."""

    models: tuple = DEFAULT_MODELS
    backends: tuple = BACKENDS
    dtypes: tuple = DTYPES
    batches: tuple = (1, 32)
    train_batch: int = 32
    repeats: int = 5
    latency_repeats: int = 30
    threads: int = 2
    forms: tuple = ("train", "fused")
    tasks: tuple = TASKS
    jit: str = "xla"
    timm: bool = True
    matmul_size: int = 4096
    matmul_repeats: int = 3
    max_seconds: float = 120.0

    def quick(self):
        """Fewer repeats and a smaller matmul: minutes, not an hour; numbers are rough."""
        return dataclasses.replace(
            self, repeats=2, latency_repeats=5, matmul_size=1024, matmul_repeats=2,
        )

    def check(self):
        """Raises a ValueError naming the first bad setting."""
        for name in self.models:
            get_model(name)
        for name, values, allowed in (("backend", self.backends, BACKENDS),
                                      ("dtype", self.dtypes, DTYPES),
                                      ("form", self.forms, FORMS),
                                      ("task", self.tasks, TASKS)):
            bad = [value for value in values if value not in allowed]
            if bad or not values:
                raise ValueError(f"{name} {bad or values!r} is not supported; expected one or "
                                 f"more of {allowed}.")
        for name in ("train_batch", "repeats", "latency_repeats", "threads", "matmul_size",
                     "matmul_repeats"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}={value!r} is not supported; expected a positive integer.")
        if not self.batches or any(b < 1 for b in self.batches):
            raise ValueError(f"batches={self.batches!r} is not supported; expected positive sizes.")
        if self.jit not in JIT_CHOICES:
            raise ValueError(f"jit={self.jit!r} is not supported; expected one of "
                             f"{JIT_CHOICES}.")
        if self.threads > (os.cpu_count() or 1):
            raise ValueError(f"threads={self.threads} is more than the {os.cpu_count()} cores "
                             f"of this machine.")


def worker_spec(settings, framework):
    """The JSON-able job of one worker process."""
    return {
        "framework": framework, "threads": settings.threads, "models": list(settings.models),
        "dtypes": list(settings.dtypes), "batches": list(settings.batches),
        "train_batch": settings.train_batch, "repeats": settings.repeats,
        "latency_repeats": settings.latency_repeats, "forms": list(settings.forms),
        "tasks": list(settings.tasks),
        "jit": settings.jit, "matmul_size": settings.matmul_size,
        "matmul_repeats": settings.matmul_repeats, "max_seconds": settings.max_seconds,
    }


def run_worker(spec, backend):
    """Runs one worker process; returns its result objects. Progress goes to stderr live."""
    env = {**os.environ, **thread_environment(spec["threads"]), "KERAS_BACKEND": backend}
    command = [sys.executable, "-m", "keras_mixer.benchmark.worker", json.dumps(spec)]
    completed = subprocess.run(command, env=env, stdout=subprocess.PIPE, text=True)
    results = [json.loads(line[len(RESULT_PREFIX):]) for line in completed.stdout.splitlines()
               if line.startswith(RESULT_PREFIX)]
    if completed.returncode:
        label = spec["framework"] if spec["framework"] == "timm" else backend
        print(f"[{label}] worker failed (exit {completed.returncode}); keeping its "
              f"{len(results)} results", file=sys.stderr, flush=True)
    return results


def combine(results, settings):
    """Peaks (the best per dtype over backends) and result rows with GFLOP/s and peak fraction."""
    peaks = [r for r in results if r["kind"] == "peak"]
    rows = [r for r in results if r["kind"] == "result"]
    best = {}
    for peak in peaks:
        best[peak["dtype"]] = max(best.get(peak["dtype"], 0.0), peak["gflop_s"])
    for row in rows:
        if not row.get("skipped"):
            row["gflop_s"] = row["images_per_s"] * row["gflop_per_image"]
            row["fraction_of_peak"] = row["gflop_s"] / best[row["dtype"]]
    return {"settings": dataclasses.asdict(settings), "machine": machine_info(),
            "matmul_peaks": peaks, "peak_gflop_s": best, "rows": rows}


def run_benchmark(settings):
    """Measures everything `settings` asks for; returns the report dictionary.

    Example (a few seconds; the "tiny" model is a one-block ResMLP at 32x32):

    >>> from keras_mixer.benchmark import Settings, run_benchmark
    >>> settings = Settings(models=("tiny",), backends=("jax",), dtypes=("float32",),
    ...                     forms=("train",), timm=False).quick()
    >>> report = run_benchmark(settings)  # doctest: +SKIP
    """
    settings.check()
    results = []
    for backend in settings.backends:
        results += run_worker(worker_spec(settings, "keras"), backend)
    if settings.timm:
        results += run_worker(worker_spec(settings, "timm"), "torch")
    return combine(results, settings)
