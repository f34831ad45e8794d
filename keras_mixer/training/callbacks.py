"""Callbacks of a training run: resumable backups, logs, checkpoints, curve plots."""

import json
import os

import keras
import numpy as np

BACKUP_FOLDER = "backup"


def worker_backup_dir(output_dir, worker_index):
    """One backup folder per worker: workers sharing one folder race on
    creating it and on the HDF5 file lock."""
    return os.path.join(output_dir, BACKUP_FOLDER, f"worker_{worker_index}")


def completed_epochs(backup_dir):
    """Epochs finished by the run backed up in `backup_dir` (0 if none)."""
    path = os.path.join(backup_dir, "training_metadata.json")
    if not os.path.exists(path):
        return 0
    with open(path) as file:
        return int(json.load(file)["epoch"])


class ResumableBackup(keras.callbacks.BackupAndRestore):
    """`BackupAndRestore` that also backs up the model's random-number state.

    Keras' backup holds the weights and the optimizer; the seed-generator
    states (stochastic depth, dropout) are not among the weights, so without
    them a resumed run would draw different masks than an uninterrupted one.
    They go to `rng_state.npz` next to the Keras backup, written at the end
    of every epoch.

    Example:

    >>> import tempfile
    >>> from keras_mixer.training.callbacks import ResumableBackup
    >>> ResumableBackup(tempfile.mkdtemp()).save_freq
    'epoch'
    """

    def __init__(self, backup_dir):
        super().__init__(backup_dir, save_freq="epoch", delete_checkpoint=True)
        self._rng_path = os.path.join(backup_dir, "rng_state.npz")

    def _rng_variables(self):
        weights = {id(variable) for variable in self.model.weights}
        return [variable for variable in self.model.variables if id(variable) not in weights]

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        if os.path.exists(self._rng_path) and os.path.exists(self._weights_path):
            with np.load(self._rng_path) as saved:
                for index, variable in enumerate(self._rng_variables()):
                    variable.assign(saved[str(index)])

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, logs)
        states = {
            str(index): keras.ops.convert_to_numpy(variable)
            for index, variable in enumerate(self._rng_variables())
        }
        temporary = self._rng_path + ".tmp.npz"
        np.savez(temporary, **states)
        os.replace(temporary, self._rng_path)

    def on_train_end(self, logs=None):
        super().on_train_end(logs)
        if os.path.exists(self._rng_path) and not os.path.exists(self._weights_path):
            os.remove(self._rng_path)


class TrainingCurves(keras.callbacks.Callback):
    """Redraws the curves in `csv_path` (a `CSVLogger` file) to a PNG each epoch.

    Reading the CSV log keeps the epochs of earlier, interrupted runs of the
    same output folder in the picture. Place it after the `CSVLogger`.
    """

    def __init__(self, csv_path, png_path):
        super().__init__()
        self.csv_path = csv_path
        self.png_path = png_path

    def on_epoch_end(self, epoch, logs=None):
        plot_history(read_history(self.csv_path), self.png_path)


def read_history(csv_path):
    """`{"loss": [...], "val_loss": [...], ...}` from a `CSVLogger` file."""
    import csv

    history = {}
    with open(csv_path, newline="") as file:
        for row in csv.DictReader(file):
            for key, value in row.items():
                if key != "epoch" and value not in ("", None):
                    history.setdefault(key, []).append(float(value))
    return history


def plot_history(history, path):
    """Writes `history` (`{"loss": [...], "val_loss": [...], ...}`) as a PNG; returns the figure."""
    from keras_mixer.analysis.figures import new_figure
    from keras_mixer.analysis.figures import save_figure

    metrics = [key for key in ("loss", "accuracy") if key in history]
    figure = new_figure(5 * len(metrics), 3.5)
    for axis, metric in zip(figure.subplots(1, len(metrics), squeeze=False)[0], metrics):
        for prefix, label in (("", "train"), ("val_", "validation")):
            values = history.get(prefix + metric)
            if values:
                axis.plot(range(1, len(values) + 1), values, marker=".", label=label)
        axis.set_xlabel("epoch")
        axis.set_title(metric)
        axis.grid(alpha=0.3)
        axis.legend()
    return save_figure(figure, path)


def make_callbacks(output_dir, distribution, *, checkpoint=True, logs=True):
    """The callbacks of a run writing into `output_dir`.

    Every worker backs up to its own folder (`backup/worker_<i>`); only the
    chief writes TensorBoard and CSV logs, the best checkpoint and the
    training-curves PNG.
    """
    callbacks = [ResumableBackup(worker_backup_dir(output_dir, distribution.worker_index))]
    if not distribution.is_chief:
        return callbacks
    if logs:
        csv_path = os.path.join(output_dir, "history.csv")
        callbacks += [
            keras.callbacks.TensorBoard(os.path.join(output_dir, "tensorboard")),
            keras.callbacks.CSVLogger(csv_path, append=True),
            TrainingCurves(csv_path, os.path.join(output_dir, "training_curves.png")),
        ]
    if checkpoint:
        callbacks.append(
            keras.callbacks.ModelCheckpoint(
                os.path.join(output_dir, "checkpoints", "epoch_{epoch:03d}.keras")
            )
        )
    return callbacks
