"""The benchmark: FLOP formula, a tiny run's report files, settings checks (no timing asserts)."""

import csv
import dataclasses
import json
import os

import keras
import pytest

import keras_mixer
from keras_mixer.benchmark import Settings
from keras_mixer.benchmark import forward_flops
from keras_mixer.benchmark import machine
from keras_mixer.benchmark import report
from keras_mixer.benchmark import worker
from keras_mixer.benchmark.flops import isotropic_flops
from keras_mixer.benchmark.models import get_model
from keras_mixer.benchmark.runner import worker_spec
from keras_mixer.benchmark.runner import combine

# GFLOP per 224x224 image forward (BRIEF section 4 / the papers' GMACs x 2), and the
# configuration (patch, C, depth, D_C, D_S) of each model.
BRIEF = {
    "ResMLP12": (6.02, (16, 384, 12, 1536, None)),
    "ResMLP24": (11.92, (16, 384, 24, 1536, None)),
    "MLPMixerS16": (7.55, (16, 512, 8, 2048, 256)),
    "MLPMixerB16": (25.2, (16, 768, 12, 3072, 384)),
}


@pytest.mark.parametrize("name", sorted(BRIEF))
def test_flop_formula_matches_the_papers(name):
    gflop, (patch, channels, depth, hidden, token_hidden) = BRIEF[name]
    flops = isotropic_flops(224, patch, channels, depth, hidden, token_mixing_dim=token_hidden)
    assert round(flops / 1e9, 2) == pytest.approx(gflop, abs=0.01)


@pytest.mark.parametrize("family", ["resmlp", "mixer"])
def test_model_flops_follow_the_formula(family):
    if family == "resmlp":
        model = keras_mixer.ResMLP(patch_size=8, embed_dim=16, depth=2, input_shape=(32, 32, 3),
                                   classes=10)
        expected = isotropic_flops(32, 8, 16, 2, 64, classes=10)
    else:
        model = keras_mixer.MLPMixer(patch_size=8, embed_dim=16, depth=2, token_mixing_dim=8,
                                     channel_mixing_dim=32, input_shape=(32, 32, 3), classes=10)
        expected = isotropic_flops(32, 8, 16, 2, 32, token_mixing_dim=8, classes=10)
    assert forward_flops(model) == expected


def _tiny_settings():
    return Settings(models=("tiny",), backends=(keras.config.backend(),), dtypes=("float32",),
                    batches=(1, 4), train_batches=(4,), threads=1, repeats=1, latency_repeats=2,
                    jit="auto", matmul_size=128, matmul_repeats=1)


def test_tiny_run_writes_a_well_formed_report(tmp_path, monkeypatch):
    settings = _tiny_settings()
    settings.check()
    results = []
    monkeypatch.setattr(worker, "emit", results.append)
    # Pinning threads would change this test process; the runner's workers do it.
    monkeypatch.setattr(machine, "pin_threads", lambda backend, threads: None)
    worker.run(worker_spec(settings, "keras"))
    data = combine(results, settings)
    rows = data["rows"]
    assert {(r["task"], r["form"], r["batch"]) for r in rows} == {
        ("inference", "train", 1), ("inference", "train", 4), ("inference", "fused", 1),
        ("inference", "fused", 4), ("training", "train", 4)}
    for row in rows:
        assert row["images_per_s"] > 0 and row["peak_memory_mb"] > 10
        assert row["gflop_s"] == pytest.approx(row["images_per_s"] * row["gflop_per_image"])
        assert 0 < row["fraction_of_peak"]
        assert row["latency_p99_ms"] >= row["latency_p50_ms"] > 0
    assert all(r["top1_agreement"] == 1.0 for r in rows if r["task"] == "inference")
    paths = report.write_report(data, str(tmp_path))
    with open(paths[0]) as file:
        table = list(csv.DictReader(file))
    assert len(table) == len(rows) and set(table[0]) == set(report.COLUMNS)
    with open(paths[1]) as file:
        assert json.load(file)["machine"]["cpu"]["cores"] == os.cpu_count()
    with open(paths[2], "rb") as file:
        assert file.read(8) == b"\x89PNG\r\n\x1a\n"
    text = report.table(data)
    assert "tiny" in text and "% peak" in text


def test_timm_rows_for_the_tiny_model():
    pytest.importorskip("torch")
    from keras_mixer.benchmark import timm_models

    rows = timm_models.measure(get_model("tiny"), "float32", 1e6, batches=(2,), train_batches=(2,),
                               repeats=1, latency_repeats=1)
    assert [(r["task"], r["batch"]) for r in rows] == [("inference", 2), ("training", 2)]
    assert all(r["images_per_s"] > 0 for r in rows)


@pytest.mark.parametrize("change, message", [
    ({"models": ("ResMLP99",)}, "Unknown benchmark model"),
    ({"backends": ("mxnet",)}, "backend"),
    ({"dtypes": ("float16",)}, "dtype"),
    ({"repeats": 0}, "repeats"),
    ({"jit": "maybe"}, "jit"),
    ({"forms": ("int4",)}, "form"),
    ({"threads": 10_000}, "cores"),
])
def test_bad_settings_are_rejected(change, message):
    with pytest.raises(ValueError, match=message):
        Settings(**change).check()


def test_int8_form_quantizes_the_fused_channel_maps():
    import numpy as np

    from keras_mixer.benchmark import ours

    model = ours.build(get_model("tiny"), "float32")
    int8 = ours.inference_form(model, "int8")
    modes = {layer.name: layer.quantization_mode for layer in int8._flatten_layers()
             if isinstance(layer, keras.layers.Dense)}
    assert modes and set(modes.values()) == {"int8"}, modes
    assert model.get_layer("head").quantization_mode is None  # the model as built is untouched
    images = ours.random_images((8,) + tuple(model.input_shape[1:]))
    expected, got = model.predict_on_batch(images), int8.predict_on_batch(images)
    assert np.abs(got - expected).max() < 0.05 * np.abs(expected).max()


def test_skip_rule_names_the_estimate():
    skip = worker.skip_rule(peak_gflops=1.0, batches_per_row=3, max_seconds=10)
    assert skip("inference", 1, 1e9) is None  # 3 s
    assert "estimated 36 s" in skip("training", 1, 4e9)  # 3 x 4 GFLOP x 3 calls


def test_command_runs_a_worker_process(tmp_path, capsys):
    from keras_mixer.cli import main

    code = main(["benchmark", "--quick", "--models", "tiny", "--backends",
                 keras.config.backend(), "--dtypes", "float32", "--forms", "train", "--tasks",
                 "inference", "--batches", "1", "--latency-repeats", "2", "--threads", "1",
                 "--no-timm", "--output", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0 and "Matmul peak keras/" in out and "tiny" in out
    with open(tmp_path / "results.json") as file:
        rows = json.load(file)["rows"]
    assert [(r["backend"], r["task"], r["batch"]) for r in rows] == [
        (keras.config.backend(), "inference", 1)]


def test_command_rejects_a_bad_model_in_one_line(capsys):
    from keras_mixer.cli import main

    assert main(["benchmark", "--models", "ResMLP99", "--no-timm"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and "Unknown benchmark model 'ResMLP99'" in error


# GPU mode. This machine has no GPU: device choice is tested with a fake nvidia-smi,
# the GPU-only calls through their CPU no-ops, and the rest by running it on the CPU.
backend_independent = pytest.mark.skipif(
    keras.config.backend() != "jax", reason="backend-independent: runs once, on jax"
)
H200_LIST = "GPU 0: NVIDIA H200 (UUID: GPU-1234)"
H200_QUERY = "NVIDIA H200, 143771, 570.86.15"


def _fake_smi(tmp_path, monkeypatch, body):
    """Puts an `nvidia-smi` running the bash `body` first on PATH (with bash still found)."""
    folder = tmp_path / "bin"
    folder.mkdir()
    script = folder / "nvidia-smi"
    script.write_text(f"#!/bin/bash\n{body}\n")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}:/usr/bin:/bin")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)


def _h200(tmp_path, monkeypatch, extra=""):
    _fake_smi(tmp_path, monkeypatch, f'case "$1" in -L) echo "{H200_LIST}";; '
                                     f'*) echo "{H200_QUERY}"; {extra} ;; esac')


@backend_independent
def test_device_auto_is_cpu_and_gpu_is_refused_without_a_gpu(tmp_path, monkeypatch):
    from keras_mixer.benchmark.runner import resolve_device

    monkeypatch.setenv("PATH", str(tmp_path))  # no nvidia-smi at all
    assert resolve_device("auto") == resolve_device("cpu") == "cpu"
    with pytest.raises(ValueError, match="no GPU is visible"):
        resolve_device("gpu")
    with pytest.raises(ValueError, match="no GPU is visible"):
        Settings().for_gpu().check()
    with pytest.raises(ValueError, match="device 'tpu'"):
        resolve_device("tpu")


@backend_independent
@pytest.mark.parametrize("body, hidden, expected", [
    (f'echo "{H200_LIST}"', None, "gpu"),
    (f'echo "{H200_LIST}"', "", "cpu"),  # CUDA_VISIBLE_DEVICES= hides it
    (f'echo "{H200_LIST}"; exit 9', None, "cpu"),  # nvidia-smi failed
    ('echo "No devices were found"', None, "cpu"),
    ("sleep 30", None, "cpu"),  # hung: bounded by SMI_SECONDS
])
def test_device_auto_follows_nvidia_smi(tmp_path, monkeypatch, body, hidden, expected):
    import time

    from keras_mixer.benchmark import gpu
    from keras_mixer.benchmark.runner import resolve_device

    _fake_smi(tmp_path, monkeypatch, body)
    if hidden is not None:
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", hidden)
    monkeypatch.setattr(gpu, "SMI_SECONDS", 1)
    start = time.perf_counter()
    assert resolve_device("auto") == expected
    assert time.perf_counter() - start < 10
    assert gpu.visible_gpus() == (["NVIDIA H200"] if expected == "gpu" else [])


@backend_independent
def test_gpu_info_keeps_only_well_formed_lines(tmp_path, monkeypatch):
    from keras_mixer.benchmark import gpu
    from keras_mixer.benchmark import machine

    _fake_smi(tmp_path, monkeypatch, f'echo "{H200_QUERY}"; echo "garbage"; '
                                     'echo "x, lots, y"; echo "a, 1, b, c"')
    assert gpu.gpu_info() == [{"name": "NVIDIA H200", "memory_mib": 143771,
                               "driver": "570.86.15"}]
    assert machine.machine_info("gpu")["gpus"] == gpu.gpu_info()
    assert "gpus" not in machine.machine_info("cpu")


def _benchmark_args(argv):
    from keras_mixer.cli import build_parser

    return build_parser().parse_args(["benchmark", *argv])


@backend_independent
def test_gpu_settings_are_the_defaults_on_a_gpu_and_options_win(tmp_path, monkeypatch):
    from keras_mixer.cli.benchmark import settings_from

    _h200(tmp_path, monkeypatch)
    gpu_mode = settings_from(_benchmark_args([]))
    assert gpu_mode == Settings().for_gpu()
    assert (gpu_mode.device, gpu_mode.backends, gpu_mode.dtypes) == (
        "gpu", ("jax", "torch"), ("bfloat16", "float32"))
    assert (gpu_mode.batches, gpu_mode.train_batches, gpu_mode.repeats) == (
        (64, 256, 1024), (128, 512), 10)
    assert (gpu_mode.jit, gpu_mode.timm_compiled, gpu_mode.matmul_size) == (
        ("xla", "on"), True, 8192)
    given = settings_from(_benchmark_args(["--batches", "256", "--train-batch", "16",
                                           "--jit", "xla", "--no-timm-compiled", "--repeats",
                                           "3", "--worker-seconds", "90"]))
    assert (given.device, given.batches, given.train_batches, given.jit) == (
        "gpu", (256,), (16,), ("xla",))
    assert (given.timm_compiled, given.repeats, given.worker_seconds) == (False, 3, 90.0)
    cpu_mode = settings_from(_benchmark_args(["--device", "cpu"]))
    assert cpu_mode == Settings() and cpu_mode.train_batches == (32,)


@backend_independent
@pytest.mark.parametrize("change, message", [
    ({"train_batches": ()}, "train_batches"),
    ({"train_batches": (0,)}, "train_batches"),
    ({"worker_seconds": 0}, "worker_seconds"),
    ({"jit": ("xla", "maybe")}, "jit"),
    ({"device": "tpu"}, "device"),
])
def test_bad_gpu_mode_settings_are_rejected(change, message):
    with pytest.raises(ValueError, match=message):
        Settings(**change).check()


def test_command_refuses_device_gpu_without_a_gpu_before_any_work(tmp_path, monkeypatch,
                                                                   capsys):
    from keras_mixer.cli import main

    monkeypatch.setenv("PATH", str(tmp_path))
    output = tmp_path / "out"
    assert main(["benchmark", "--device", "gpu", "--output", str(output)]) == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and "no GPU is visible" in error
    assert not output.exists()


@backend_independent
def test_a_framework_without_a_gpu_is_skipped_with_a_note_not_run_on_the_cpu(monkeypatch):
    # jax here sees only the CPU: with device "gpu" the worker must measure nothing.
    spec = worker_spec(dataclasses.replace(_tiny_settings(), device="gpu"), "keras")
    emitted = []
    monkeypatch.setattr(worker, "emit", emitted.append)
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    worker.run(spec)
    assert [r["kind"] for r in emitted] == ["note"]
    assert emitted[0]["message"] == "skipped: jax sees no GPU"


@backend_independent
def test_worker_environment_pins_threads_and_hides_gpus_only_on_the_cpu():
    from keras_mixer.benchmark.runner import worker_environment

    cpu = worker_environment(worker_spec(Settings(threads=1), "keras"), "jax")
    assert cpu["OMP_NUM_THREADS"] == "1" and cpu["CUDA_VISIBLE_DEVICES"] == ""
    gpu_spec = worker_spec(dataclasses.replace(Settings(), device="gpu"), "keras")
    env = worker_environment(gpu_spec, "jax")
    assert env["KERAS_BACKEND"] == "jax"
    assert env.get("CUDA_VISIBLE_DEVICES") == os.environ.get("CUDA_VISIBLE_DEVICES")
    assert env.get("OMP_NUM_THREADS") == os.environ.get("OMP_NUM_THREADS")


FAKE_WORKER = """
import subprocess, sys, time
print('RESULT {"kind": "peak", "n": 1}', flush=True)
print('noise', flush=True)
print('RESULT {"kind": "result", "n": 2}', flush=True)
sys.stdout.write('RESULT {"kind": "res'); sys.stdout.flush()
subprocess.Popen(["sleep", "30"])  # holds stdout open, like torch.compile's workers
time.sleep(30)
"""


@backend_independent
def test_a_worker_over_its_time_is_killed_with_its_children_and_its_results_kept():
    import sys
    import time

    from keras_mixer.benchmark.runner import stream_results

    seen = []
    start = time.perf_counter()
    results, code, stopped = stream_results([sys.executable, "-c", FAKE_WORKER], os.environ,
                                            seconds=3, on_result=seen.append)
    assert time.perf_counter() - start < 20
    assert stopped and code == -9
    assert results == seen == [{"kind": "peak", "n": 1}, {"kind": "result", "n": 2}]


@pytest.mark.slow
def test_a_stopped_run_still_writes_its_report(tmp_path, capsys):
    from keras_mixer.cli import main

    code = main(["benchmark", "--device", "cpu", "--models", "tiny", "--backends",
                 keras.config.backend(), "--dtypes", "float32", "--threads", "1", "--no-timm",
                 "--worker-seconds", "0.5", "--output", str(tmp_path)])
    assert code == 0
    with open(tmp_path / "results.json") as file:
        data = json.load(file)
    assert data["rows"] == [] and "stopped after --worker-seconds 0.5" in (
        data["notes"][0]["message"])
    assert "Note keras/" in capsys.readouterr().out


@pytest.mark.slow
def test_timm_compiled_runs_on_the_cpu_with_compilation_outside_images_per_s():
    torch = pytest.importorskip("torch")
    from keras_mixer.benchmark import timm_models

    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    rows = timm_models.measure(get_model("tiny"), "float32", 1e6, batches=(2,),
                               train_batches=(2, 3), repeats=2, latency_repeats=1,
                               compiled=True)
    assert [(r["task"], r["batch"]) for r in rows] == [
        ("inference", 2), ("training", 2), ("training", 3)]
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] >= 3
    for row in rows:
        assert row["images_per_s"] > 0
        assert row["first_call_s"] > 10 * row["latency_p50_ms"] / 1e3  # compiling is slow


# As on the GPU machine: tensorflow cannot be found (find_spec gives None, import fails).
# `sys.modules["tensorflow"] = None` would not do: Keras takes a name in sys.modules
# for an imported TensorFlow, and torch asks importlib.util.find_spec.
NO_TENSORFLOW = """
import importlib.machinery, sys
class NoTensorFlow(importlib.machinery.PathFinder):
    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name.split(".")[0] in ("tensorflow", "tf_keras"):
            return None
        return super().find_spec(name, path, target)
sys.meta_path[:] = [NoTensorFlow if finder is importlib.machinery.PathFinder else finder
                    for finder in sys.meta_path]
"""


@pytest.mark.slow
@backend_independent
@pytest.mark.parametrize("framework, keras_backend", [
    ("keras", "jax"), ("keras", "torch"), ("timm", "torch")])
def test_workers_run_without_tensorflow(framework, keras_backend):
    import subprocess
    import sys

    from keras_mixer.benchmark.runner import worker_environment

    settings = Settings(models=("tiny",), dtypes=("float32",), batches=(2,),
                        train_batches=(2,), forms=("fused",), repeats=1, threads=1,
                        matmul_size=64, matmul_repeats=1)
    spec = worker_spec(settings, framework)
    code = NO_TENSORFLOW + "from keras_mixer.benchmark import worker; worker.main(sys.argv[1:])"
    completed = subprocess.run([sys.executable, "-c", code, json.dumps(spec)],
                               env=worker_environment(spec, keras_backend),
                               capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "tensorflow" not in completed.stderr.lower()
    rows = [json.loads(line[len("RESULT "):]) for line in completed.stdout.splitlines()
            if line.startswith("RESULT ")]
    assert {(r["task"], r["batch"]) for r in rows if r["kind"] == "result"} == {
        ("inference", 2), ("training", 2)}


def _gpu_report():
    settings = Settings(device="gpu", models=("tiny",), train_batches=(128, 512))
    peak = {"kind": "peak", "framework": "keras", "backend": "torch", "dtype": "bfloat16",
            "gflop_s": 1e6, "size": 8192}
    rows = []
    for framework, backend, jit, scope in (("keras", "jax", True, "process"),
                                           ("keras", "torch", "auto", "row"),
                                           ("keras", "torch", True, "row"),
                                           ("timm-compiled", "timm-compiled", None, "row")):
        for task, batch in (("inference", 256), ("training", 128), ("training", 512)):
            rows.append({"kind": "result", "framework": framework, "backend": backend,
                         "jit_compile": jit, "model": "tiny", "form": "fused", "dtype": "bfloat16",
                         "task": task, "batch": batch, "images_per_s": 1000.0 + batch,
                         "latency_p50_ms": 1.0, "latency_p99_ms": 2.0, "first_call_s": 3.0,
                         "gflop_per_image": 6.0, "peak_memory_mb": 900.0,
                         "gpu_peak_memory_mb": 1234.4, "gpu_peak_scope": scope})
    notes = [{"kind": "note", "framework": "keras", "backend": "tensorflow",
              "message": "skipped: tensorflow is not installed"}]
    machine_info = {**machine.machine_info(), "gpus": [
        {"name": "NVIDIA H200", "memory_mib": 143771, "driver": "570.86.15"}]}
    return combine([peak] + rows + notes, settings, machine_info)


@backend_independent
def test_report_shows_gpu_memory_jit_and_each_train_batch(tmp_path):
    data = _gpu_report()
    assert data["rows"][0]["fraction_of_peak"] == pytest.approx(1256 * 6.0 / 1e6)
    text = report.table(data)
    assert "GPU MiB" in text and "1234*" in text and "1234 " in text and "jit" in text
    lines = report.header(data)
    assert "GPU: NVIDIA H200, 143771 MiB, driver 570.86.15" in lines
    assert "Note keras/tensorflow: skipped: tensorflow is not installed" in lines
    assert {report.series(r) for r in data["rows"]} == {
        "jax fused bfloat16", "torch fused bfloat16", "torch jit fused bfloat16",
        "timm-compiled bfloat16"}
    paths = report.write_report(data, str(tmp_path))
    with open(paths[0]) as file:
        table = list(csv.DictReader(file))
    assert [r["batch"] for r in table[:3]] == ["256", "128", "512"]
    assert table[0]["gpu_peak_scope"] == "process" and table[1]["jit_compile"] == "True"
    assert sorted(os.listdir(tmp_path)) == sorted(report.FILES)  # nothing staged left behind


@pytest.mark.slow
def test_a_run_killed_midway_leaves_the_results_so_far(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    command = [sys.executable, "-c", "import sys; from keras_mixer.cli import main; "
               "sys.exit(main(sys.argv[1:]))", "benchmark", "--device", "cpu", "--models",
               "tiny", "--backends", keras.config.backend(), "--dtypes", "float32", "--forms",
               "train", "--batches", "1,2,3,4,5,6,7,8", "--latency-repeats", "200", "--threads",
               "1", "--no-timm", "--output", str(tmp_path)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    target, deadline = tmp_path / "results.json", time.monotonic() + 300
    try:
        while time.monotonic() < deadline and process.poll() is None:
            if target.exists() and json.loads(target.read_text())["rows"]:
                break
            time.sleep(0.2)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    rows = json.loads(target.read_text())["rows"]
    assert rows and rows[0]["batch"] == 1 and rows[0]["images_per_s"] > 0
    assert not (tmp_path / "results.png").exists()  # it was stopped before the end
    with open(tmp_path / "results.csv") as file:
        assert len(list(csv.DictReader(file))) >= 1
