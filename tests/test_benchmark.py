"""The benchmark: FLOP formula, a tiny run's report files, settings checks (no timing asserts)."""

import csv
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
