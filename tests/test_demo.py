"""The main job: `keras-mixer demo` trains, saves, exports and serves."""

import os

import keras
import numpy as np
import pytest

from keras_mixer.cli import main
from keras_mixer.cli.demo import train_digits_model
from keras_mixer.data import load_digits


def test_digits_split_is_fixed_and_held_out():
    (x_train, y_train), (x_test, y_test) = load_digits()
    (x_again, _), _ = load_digits()
    np.testing.assert_array_equal(x_train, x_again)
    assert len(x_train) + len(x_test) == 1797
    assert x_train.dtype == np.uint8 and x_train.max() == 255
    assert sorted(set(y_test)) == list(range(10))
    train_rows = {image.tobytes() for image in x_train}
    assert sum(image.tobytes() in train_rows for image in x_test) < 10  # digits has a few duplicate images


def test_demo_trains_saves_exports_and_serves(backend, tmp_path, capsys):
    export_dir = tmp_path / "saved_models" / "digits_resmlp"
    args = ["demo", "--epochs", "1", "--output", str(tmp_path / "run"), "--export-dir", str(export_dir)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "Test accuracy on 360 held-out digits" in printed
    assert "loaded with TensorFlow alone" in printed
    assert os.path.isfile(tmp_path / "run" / "digits_resmlp.keras")
    assert sorted(os.listdir(export_dir)) == ["1"]
    assert os.path.isfile(export_dir / "1" / "saved_model.pb")
    difference = float(printed.split("probabilities: ")[-1].split()[0])
    assert difference <= 1e-5


@pytest.mark.slow
def test_demo_recipe_reaches_97_percent(backend):
    if backend != "tensorflow":
        pytest.skip("the full-length demo run is checked once, on the README's backend")
    model, (x_test, y_test) = train_digits_model(epochs=None, seed=0, verbose=0)
    accuracy = float(np.mean(model.predict(x_test, verbose=0).argmax(-1) == y_test))
    assert accuracy >= 0.97, accuracy
