"""Training backups: a kill at any instant, or an unreadable backup, never stops a rerun."""

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

from keras_mixer.training import ResumableBackup
from keras_mixer.training.backup import read_pointer

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "backup_kill_run.py")
# (which save of the process to kill in, seconds after it started): from the
# first bytes of the weights file to the pointer's rename and the clean-up.
KILLS = [(1, 0.0), (2, 0.01), (1, 0.03), (2, 0.06), (3, 0.1)]


def _launch(backup_dir, epochs):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        filter(None, [os.path.dirname(HERE), os.environ.get("PYTHONPATH")])))
    return subprocess.Popen([sys.executable, SCRIPT, str(backup_dir), str(epochs)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _wait_for(process, word):
    seen = []
    for line in process.stdout:
        seen.append(line)
        if line.split()[:1] == [word]:
            return [int(value) for value in line.split()[1:]]
    process.wait()
    raise AssertionError(f"exit code {process.returncode} before {word!r}:\n{''.join(seen[-30:])}")


def _committed_epoch(backup_dir):
    pointer = read_pointer(backup_dir) if os.path.isdir(backup_dir) else None
    return 0 if pointer is None else pointer["epoch"]


@pytest.mark.slow
@pytest.mark.skipif(keras.config.backend() != "jax",
                    reason="the backup files are the same on every backend; killed once, on jax")
def test_sigkill_at_any_instant_resumes_from_the_last_complete_backup(tmp_path):
    backup_dir = tmp_path / "backup"
    mid_write = 0
    for save, delay in KILLS:
        committed = _committed_epoch(backup_dir)
        process = _launch(backup_dir, 1000)
        # The previous run was killed: this one resumes where its last complete backup
        # ended, with the optimizer of that same backup (one step per epoch).
        assert _wait_for(process, "resumed") == [committed, committed]
        while _wait_for(process, "saving") != [save]:
            pass
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.communicate()
        mid_write += len(list(backup_dir.glob("*.weights.h5"))) > 1

    assert mid_write >= 1, "no kill landed between writing a backup and committing it"
    committed = _committed_epoch(backup_dir)
    process = _launch(backup_dir, committed + 2)
    assert _wait_for(process, "resumed") == [committed, committed]
    assert _wait_for(process, "finished") == [committed + 2]
    assert process.wait() == 0
    assert not backup_dir.exists()  # a finished run removes its backup


# In-process: unreadable backups, on every backend --------------------------

def _model():
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4),
                              keras.layers.Dropout(0.5), keras.layers.Dense(2)])
    model.compile(keras.optimizers.Adam(0.1), "mse")
    return model


def _fit(model, backup, epochs, *callbacks):
    x, y = np.ones((4, 3), "float32"), np.zeros((4, 2), "float32")
    return model.fit(x, y, epochs=epochs, batch_size=4, verbose=0,
                     callbacks=[backup, *callbacks])


class _Stop(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 1:
            raise KeyboardInterrupt  # as an interruption would, after the backup of epoch 2


def _interrupted_backup(backup):
    with pytest.raises(KeyboardInterrupt):
        _fit(_model(), backup, 5, _Stop())


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory):
    """A backup folder of a run interrupted after its second epoch."""
    folder = str(tmp_path_factory.mktemp("interrupted") / "backup")
    _interrupted_backup(ResumableBackup(folder))
    return folder


def test_resumes_from_its_own_and_from_a_keras_backup(tmp_path):
    for backup in (ResumableBackup(str(tmp_path / "own")),
                   keras.callbacks.BackupAndRestore(str(tmp_path / "keras"))):
        _interrupted_backup(backup)
        model = _model()
        assert ResumableBackup(backup.backup_dir).restore(model) == 2
        assert int(model.optimizer.iterations) == 2
        assert len(_fit(model, ResumableBackup(backup.backup_dir), 5).history["loss"]) == 3


def _truncate(path):
    with open(path, "r+b") as file:
        file.truncate(os.path.getsize(path) // 2)


def _damage(folder, how):
    pointer = os.path.join(folder, "training_metadata.json")
    files = sorted(os.listdir(folder))
    weights = os.path.join(folder, next(name for name in files if name.endswith(".weights.h5")))
    rng = os.path.join(folder, next(name for name in files if name.endswith(".npz")))
    if how == "truncated weights":
        _truncate(weights)
    elif how == "weights missing":
        os.remove(weights)
    elif how == "rng state of another model":
        with np.load(rng) as saved:
            np.savez(rng, **{"0": saved["0"], "1": saved["0"]})  # one state too many
    elif how == "rng state as text":
        np.savez(rng, **{"0": np.array(["x", "y"])})
    else:
        text = {"pointer not JSON": "{\"epoch\": 2,",
                "pointer a list": "[2]",
                "epoch negative": '{"epoch": -1, "batch": 0, "backup": 2}',
                "epoch a bool": '{"epoch": true, "batch": 0, "backup": 2}',
                "backup a string": '{"epoch": 2, "batch": 0, "backup": "2"}',
                "pointer huge": json.dumps({"epoch": 2, "batch": 0, "backup": 2,
                                            "pad": "x" * 10**6})}[how]
        with open(pointer, "w") as file:
            file.write(text)


@pytest.mark.parametrize("how", [
    "truncated weights", "weights missing", "rng state of another model", "rng state as text",
    "pointer not JSON", "pointer a list", "epoch negative", "epoch a bool", "backup a string",
    "pointer huge",
])
def test_an_unreadable_backup_starts_clean_with_a_log_line(interrupted, tmp_path, how, caplog):
    folder = shutil.copytree(interrupted, str(tmp_path / "backup"))
    _damage(folder, how)
    model = _model()
    initial = [keras.ops.convert_to_numpy(v) for v in model.variables]
    with caplog.at_level(logging.WARNING, logger="keras_mixer"):
        assert ResumableBackup(folder).restore(model) == 0
    assert f"Backup in {folder!r} cannot be read" in caplog.text
    assert "starting the run clean from epoch 0" in caplog.text
    # Nothing of the unreadable backup is left in the model: a clean start.
    for variable, value in zip(model.variables, initial):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(variable), value)
    assert int(model.optimizer.iterations) == 0


def test_a_truncated_keras_backup_starts_clean(tmp_path, caplog):
    """What an older version (plain `BackupAndRestore`) left when killed mid-write."""
    backup = keras.callbacks.BackupAndRestore(str(tmp_path / "keras"))
    _interrupted_backup(backup)
    _truncate(os.path.join(backup.backup_dir, "latest.weights.h5"))
    with caplog.at_level(logging.WARNING, logger="keras_mixer"):
        history = _fit(_model(), ResumableBackup(backup.backup_dir), 3)
    assert len(history.history["loss"]) == 3 and "cannot be read (OSError" in caplog.text
    assert os.listdir(tmp_path) == []  # the finished run removed the old files too
