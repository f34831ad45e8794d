"""Runs the benchmark: one worker process per backend and one for timm, then the report."""

import contextlib
import dataclasses
import importlib.util
import json
import os
import signal
import subprocess
import sys
import threading

from keras_mixer.arguments import positive_int
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
DEVICES = ("cpu", "gpu")


def jit_compile_for(jit, backend):
    """The `Model.compile(jit_compile=...)` value `jit` means on `backend`."""
    if jit == "xla":
        return "auto" if backend == "torch" else True
    return {"auto": "auto", "on": True, "off": False}[jit]


def resolve_device(choice):
    """"cpu" or "gpu" for `--device` `choice` ("auto", "cpu" or "gpu").

    "auto" is "gpu" when `nvidia-smi -L` lists a GPU this process may use;
    "gpu" without one is a ValueError. No framework is imported.

    Example:

    >>> from keras_mixer.benchmark.runner import resolve_device
    >>> resolve_device("cpu")
    'cpu'
    """
    from keras_mixer.benchmark.gpu import visible_gpus

    if choice not in ("auto",) + DEVICES:
        raise ValueError(f"device {choice!r} is not supported; expected auto, cpu or gpu.")
    if choice == "cpu":
        return "cpu"
    if visible_gpus():
        return "gpu"
    if choice == "gpu":
        raise ValueError("device 'gpu' was asked for but no GPU is visible (nvidia-smi -L lists "
                         "none, or CUDA_VISIBLE_DEVICES hides them); expected --device auto or "
                         "cpu on this machine.")
    return "cpu"


@dataclasses.dataclass
class Settings:
    """What one benchmark run measures; `quick()` and `for_gpu()` give variants.

    `jit` is a tuple of `JIT_CHOICES` (a single string is taken as one):
    each is measured, once per distinct `jit_compile` value it means on a
    backend. `worker_seconds` stops a worker that runs longer (its rows so
    far are kept); None lets it run.
    """

    models: tuple = DEFAULT_MODELS
    backends: tuple = BACKENDS
    dtypes: tuple = DTYPES
    batches: tuple = (1, 32)
    train_batches: tuple = (32,)
    repeats: int = 5
    latency_repeats: int = 30
    threads: int = 2
    forms: tuple = ("train", "fused")
    tasks: tuple = TASKS
    jit: tuple = ("xla",)
    timm: bool = True
    timm_compiled: bool = False
    matmul_size: int = 4096
    matmul_repeats: int = 3
    max_seconds: float = 120.0
    device: str = "cpu"
    worker_seconds: float = None

    def __post_init__(self):
        if isinstance(self.jit, str):
            self.jit = (self.jit,)

    def quick(self):
        """Fewer repeats and a smaller matmul: minutes, not an hour; numbers are rough."""
        return dataclasses.replace(
            self, repeats=2, latency_repeats=5, matmul_size=1024, matmul_repeats=2,
        )

    def for_gpu(self):
        """The GPU mode's defaults: large batches, bfloat16 first, torch.compile as a peer.

        JAX and torch (Keras eager and `jit_compile=True`), timm eager and
        compiled; the fused inference form at batches 64, 256, 1024;
        training at 128 and 512; 10 repeats; an 8192² matmul peak.

        Example:

        >>> from keras_mixer.benchmark import Settings
        >>> Settings().for_gpu().batches
        (64, 256, 1024)
        """
        return dataclasses.replace(
            self, device="gpu", backends=("jax", "torch"), dtypes=("bfloat16", "float32"),
            batches=(64, 256, 1024), train_batches=(128, 512), repeats=10, latency_repeats=10,
            forms=("fused",), jit=("xla", "on"), timm_compiled=True, matmul_size=8192,
            matmul_repeats=10,
        )

    def check(self):
        """Raises a ValueError naming the first bad setting."""
        for name in self.models:
            get_model(name)
        for name, values, allowed in (("backend", self.backends, BACKENDS),
                                      ("dtype", self.dtypes, DTYPES),
                                      ("form", self.forms, FORMS),
                                      ("task", self.tasks, TASKS),
                                      ("jit", self.jit, JIT_CHOICES)):
            bad = [value for value in values if value not in allowed]
            if bad or not values:
                raise ValueError(f"{name} {bad or values!r} is not supported; expected one or "
                                 f"more of {allowed}.")
        for name in ("repeats", "latency_repeats", "threads", "matmul_size", "matmul_repeats"):
            positive_int(name, getattr(self, name))
        for name in ("batches", "train_batches"):
            sizes = getattr(self, name)
            if not sizes or any(isinstance(b, bool) or not isinstance(b, int) or b < 1
                                for b in sizes):
                raise ValueError(f"{name}={sizes!r} is not supported; expected positive sizes.")
        if self.worker_seconds is not None and not self.worker_seconds > 0:
            raise ValueError(f"worker_seconds={self.worker_seconds!r} is not supported; "
                             f"expected a positive number of seconds or None.")
        if self.threads > (os.cpu_count() or 1):
            raise ValueError(f"threads={self.threads} is more than the {os.cpu_count()} cores "
                             f"of this machine.")
        if self.device not in DEVICES:
            raise ValueError(f"device {self.device!r} is not supported; expected one of "
                             f"{DEVICES}.")
        if self.device == "gpu":
            resolve_device("gpu")


def worker_spec(settings, framework):
    """The JSON-able job of one worker process ("keras", "timm" or "timm-compiled")."""
    return {
        "framework": framework, "threads": settings.threads, "models": list(settings.models),
        "dtypes": list(settings.dtypes), "batches": list(settings.batches),
        "train_batches": list(settings.train_batches), "repeats": settings.repeats,
        "latency_repeats": settings.latency_repeats, "forms": list(settings.forms),
        "tasks": list(settings.tasks), "device": settings.device,
        "jit": list(settings.jit), "matmul_size": settings.matmul_size,
        "matmul_repeats": settings.matmul_repeats, "max_seconds": settings.max_seconds,
    }


def worker_environment(spec, backend):
    """The environment of a worker: `KERAS_BACKEND` and, on the CPU, pinned threads.

    On the CPU, GPUs are hidden (so `--device cpu` measures the CPU on a GPU
    machine too); on the GPU, thread pools keep the frameworks' defaults.
    """
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2"}
    if spec["device"] == "cpu":
        env.update(thread_environment(spec["threads"]), CUDA_VISIBLE_DEVICES="",
                   JAX_PLATFORMS="cpu")
    return env


def note(spec, backend, message):
    """A note about one worker (skipped, stopped, failed), logged and as the report keeps it."""
    label = backend if spec["framework"] == "keras" else spec["framework"]
    print(f"[{label}] {message}", file=sys.stderr, flush=True)
    return {"kind": "note", "framework": spec["framework"], "backend": label,
            "message": message}


def _read_results(stream, results, on_result):
    for line in stream:
        if not line.startswith(RESULT_PREFIX):
            continue
        try:
            record = json.loads(line[len(RESULT_PREFIX):])
        except ValueError:  # the last line of a killed worker may be cut short
            continue
        results.append(record)
        if on_result:
            on_result(record)


def stream_results(command, env, seconds=None, on_result=None):
    """Runs `command`; returns `(results, exit code, stopped)`, calling `on_result` per result.

    After `seconds` the command and every process it started (its process
    group) are killed (SIGKILL); the results it printed are kept.
    """
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True,
                               errors="replace", start_new_session=True)
    stopped = threading.Event()

    def stop():
        stopped.set()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)

    timer = threading.Timer(seconds, stop) if seconds else None
    if timer:
        timer.start()
    results = []
    try:
        _read_results(process.stdout, results, on_result)
        code = process.wait()
    finally:
        if timer:
            timer.cancel()
        if process.poll() is None:
            stop()
            process.wait()
    return results, code, stopped.is_set()


def run_worker(spec, backend, seconds=None, on_result=None):
    """Runs one worker process; returns its result objects. Progress goes to stderr live."""
    env = worker_environment(spec, backend)
    command = [sys.executable, "-m", "keras_mixer.benchmark.worker", json.dumps(spec)]
    results, code, stopped = stream_results(command, env, seconds, on_result)
    if stopped or code:
        why = (f"stopped after --worker-seconds {seconds:g}" if stopped
               else f"failed (exit {code})")
        rows = sum(record["kind"] == "result" for record in results)
        results.append(note(spec, backend, f"worker {why}; its {rows} rows so far are kept"))
        if on_result:
            on_result(results[-1])
    return results


def combine(results, settings, machine=None):
    """Peaks (the best per dtype over backends) and result rows with GFLOP/s and peak fraction.

    `machine` is `machine_info`'s dictionary (measured now if None).
    """
    peaks = [r for r in results if r["kind"] == "peak"]
    rows = [r for r in results if r["kind"] == "result"]
    best = {}
    for peak in peaks:
        best[peak["dtype"]] = max(best.get(peak["dtype"], 0.0), peak["gflop_s"])
    for row in rows:
        if not row.get("skipped"):
            row["gflop_s"] = row["images_per_s"] * row["gflop_per_image"]
            row["fraction_of_peak"] = row["gflop_s"] / best[row["dtype"]]
    return {"settings": dataclasses.asdict(settings),
            "machine": machine or machine_info(settings.device), "matmul_peaks": peaks,
            "peak_gflop_s": best, "rows": rows,
            "notes": [r for r in results if r["kind"] == "note"]}


def _workers(settings):
    """`(spec, backend)` of each worker, in the order they run."""
    workers = [(worker_spec(settings, "keras"), backend) for backend in settings.backends]
    for framework, wanted in (("timm", settings.timm), ("timm-compiled", settings.timm_compiled)):
        if wanted:
            workers.append((worker_spec(settings, framework), "torch"))
    return workers


def run_benchmark(settings, on_update=None):
    """Measures everything `settings` asks for; returns the report dictionary.

    `on_update(report)`, if given, is called with the report so far after
    each result (to write it as it grows). On the GPU, a backend whose
    framework is not installed is skipped with a note, without a worker.

    Example (a few seconds; the "tiny" model is a one-block ResMLP at 32x32):

    >>> from keras_mixer.benchmark import Settings, run_benchmark
    >>> settings = Settings(models=("tiny",), backends=("jax",), dtypes=("float32",),
    ...                     forms=("train",), timm=False).quick()
    >>> report = run_benchmark(settings)  # doctest: +SKIP
    """
    settings.check()
    machine = machine_info(settings.device)
    results = []

    def collect(record):
        results.append(record)
        if on_update:
            on_update(combine(list(results), settings, machine))

    for spec, backend in _workers(settings):
        module = "torch" if spec["framework"] != "keras" else backend
        if settings.device == "gpu" and importlib.util.find_spec(module) is None:
            collect(note(spec, backend, f"skipped: {module} is not installed"))
            continue
        run_worker(spec, backend, settings.worker_seconds, collect)
    return combine(results, settings, machine)
