"""Callbacks of a training run: resumable backups, logs, checkpoints, curve plots."""

import os

import keras

from keras_mixer.staging import staged
from keras_mixer.training.backup import ResumableBackup

BACKUP_FOLDER = "backup"


def worker_backup_dir(output_dir, worker_index):
    """One backup folder per worker: workers sharing one folder race on
    creating it and on the HDF5 file lock."""
    return os.path.join(output_dir, BACKUP_FOLDER, f"worker_{worker_index}")


class StagedCSVLogger(keras.callbacks.Callback):
    """Keeps `path` a CSV log of one row per epoch, rewritten whole and renamed each epoch.

    Unlike `keras.callbacks.CSVLogger`, a kill never leaves a half-written
    row, and the rows of epochs that a resumed run does again (the ones
    after its last backup) are replaced rather than repeated.

    Example:

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "history.csv")
    >>> logger = StagedCSVLogger(path)
    >>> for epoch, loss in ((0, 0.9), (1, 0.5), (1, 0.4)):
    ...     logger.on_epoch_end(epoch, {"loss": loss})
    >>> print(open(path).read().strip())
    epoch,loss
    0,0.9
    1,0.4
    """

    def __init__(self, path):
        super().__init__()
        self.path = path

    def on_epoch_end(self, epoch, logs=None):
        import csv

        rows = []
        if os.path.exists(self.path):
            with open(self.path, newline="") as file:
                rows = [row for row in csv.DictReader(file)
                        if (row.get("epoch") or "").isdigit() and int(row["epoch"]) < epoch]
        rows.append({"epoch": epoch, **(logs or {})})
        keys = ["epoch"] + sorted({key for row in rows for key in row} - {"epoch"})
        with staged(self.path, overwrite=True) as temporary:
            with open(temporary, "w", newline="") as file:
                writer = csv.DictWriter(file, keys, restval="")
                writer.writeheader()
                writer.writerows(rows)


class StagedCheckpoint(keras.callbacks.Callback):
    """Saves the model after every epoch to `pattern.format(epoch=epoch + 1)`, staged.

    Example:

    >>> StagedCheckpoint("checkpoints/epoch_{epoch:03d}.keras").pattern
    'checkpoints/epoch_{epoch:03d}.keras'
    """

    def __init__(self, pattern):
        super().__init__()
        self.pattern = pattern

    def on_epoch_end(self, epoch, logs=None):
        with staged(self.pattern.format(epoch=epoch + 1), overwrite=True) as path:
            self.model.save(path)


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
    """The callbacks of a run writing into `output_dir`, its `ResumableBackup` last.

    Every worker backs up to its own folder (`backup/worker_<i>`); only the
    chief writes TensorBoard and CSV logs, a checkpoint per epoch and the
    training-curves PNG. Logs and checkpoints of an epoch are written (each
    staged and renamed) before its backup commits it, so a kill at any
    point loses none of them: the epochs after the last backup are done
    again and their rows and checkpoints replaced.
    """
    callbacks = []
    if distribution.is_chief and logs:
        csv_path = os.path.join(output_dir, "history.csv")
        callbacks += [
            keras.callbacks.TensorBoard(os.path.join(output_dir, "tensorboard")),
            StagedCSVLogger(csv_path),
            TrainingCurves(csv_path, os.path.join(output_dir, "training_curves.png")),
        ]
    if distribution.is_chief and checkpoint:
        pattern = os.path.join(output_dir, "checkpoints", "epoch_{epoch:03d}.keras")
        callbacks.append(StagedCheckpoint(pattern))
    backup_dir = worker_backup_dir(output_dir, distribution.worker_index)
    return callbacks + [ResumableBackup(backup_dir)]
