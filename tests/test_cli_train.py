"""`keras-mixer train / evaluate / predict`: a short real run and the one-line errors."""

import os

import keras
import numpy as np
import pytest

from keras_mixer.cli import main
from keras_mixer.data import load_digits
from keras_mixer.training import Distribution
from keras_mixer.training import run as training_run


def _error_line(capsys, argv):
    assert main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in captured.err, captured.err
    return lines[0]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "--model", "resnet50"], "Unknown model 'resnet50'"),
        (["train", "--data", "imagenet"], "Unknown dataset 'imagenet'"),
        (["train", "--data", "folder:/no/such/folder"], "'/no/such/folder' does not exist"),
        (["evaluate", "/no/model.keras"], "'/no/model.keras' does not exist"),
        (["predict", "/no/image.png", "--model", "/no/model.keras"], "does not exist"),
    ],
)
def test_bad_arguments_get_one_line_errors(capsys, tmp_path, argv, message):
    line = _error_line(capsys, argv + (["--output", str(tmp_path)] if argv[0] == "train" else []))
    assert line.startswith(f"keras-mixer {argv[0]}: error:") and message in line


def test_batch_not_divisible_by_replicas(capsys, monkeypatch, tmp_path):
    def two_replicas(name):
        distribution = Distribution("mirrored")
        distribution.num_replicas = 2
        return distribution

    monkeypatch.setattr(training_run, "get_distribution", two_replicas)
    line = _error_line(capsys, ["train", "--batch-size", "65", "--output", str(tmp_path)])
    assert "batch size 65 is not divisible by the 2 replicas of the 'mirrored' strategy" in line
    assert not os.listdir(tmp_path)  # nothing written before the check


def test_train_evaluate_predict(capsys, tmp_path, backend):
    output = tmp_path / "run"
    argv = ["train", "--epochs", "1", "--batch-size", "256", "--output", str(output), "--quiet"]
    if backend != "torch":
        argv += ["--export", str(tmp_path / "saved_models" / "digits")]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "Test evaluation (none, 1 replica(s)): accuracy" in printed
    for name in ("history.csv", "training_curves.png", "resmlp_digits.keras",
                 "checkpoints/epoch_001.keras"):
        assert (output / name).is_file(), name
    assert os.listdir(output / "tensorboard")
    assert not (output / "backup" / "worker_0").exists()  # removed after a finished run
    if backend != "torch":
        assert (tmp_path / "saved_models" / "digits" / "1" / "saved_model.pb").is_file()

    model_path = str(output / "resmlp_digits.keras")
    assert main(["evaluate", model_path]) == 0
    assert "Test evaluation on 360 images: loss" in capsys.readouterr().out

    (_, _), (x_test, y_test) = load_digits()
    paths = []
    for index in range(2):
        paths.append(str(tmp_path / f"digit_{y_test[index]}.png"))
        keras.utils.save_img(paths[-1], x_test[index])
    assert main(["predict", *paths, "--model", model_path, "--top", "2"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split(":")[0] for line in lines] == paths
    expected = keras.saving.load_model(model_path).predict(x_test[:2], verbose=0)
    for line, row in zip(lines, expected):
        assert line.split(": ")[1].startswith(f"{row.argmax()} ({row.max():.3f})")
