"""Training backups that a kill at any instant cannot spoil.

Keras' `BackupAndRestore` rewrites `latest.weights.h5` and
`training_metadata.json` in place: a process killed inside that write leaves
a truncated file, and every rerun then fails in `on_train_begin`.
`ResumableBackup` never writes over a backup it may need. Each backup `n` is
a new pair of files, and the metadata file is the pointer that commits it:

- `backup-<n>.weights.h5`: weights and optimizer state (`save_weights`);
- `backup-<n>.rng.npz`: the model's random-number state (stochastic depth and
  dropout seeds are not weights, but a resumed run must draw the same masks);
- `training_metadata.json`: `{"epoch", "batch", "backup": n}`, written to a
  temporary file and renamed over the old pointer once both files of `n` are
  complete and synced. Files of older backups are removed only after that.

So a rerun resumes from the last complete backup. If that backup cannot be
read anyway (a file truncated by hand or by an older version of this
package, a malformed pointer), the run starts clean from epoch 0 with one
warning naming the folder and the reason, instead of failing.
"""

import json
import logging
import os
import re

import keras
import numpy as np

POINTER = "training_metadata.json"
LEGACY_FILES = ("latest.weights.h5", "rng_state.npz")  # Keras' layout (and this package's before)
MAX_POINTER_BYTES = 4096
_OWN_FILE = re.compile(r"backup-\d+\.(weights\.h5|rng\.npz)|training_metadata\.json\.tmp")

logger = logging.getLogger("keras_mixer")


def _backup_files(number):
    return f"backup-{number}.weights.h5", f"backup-{number}.rng.npz"


def _fsync(path):
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _count(pointer, key, path):
    value = pointer.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{path!r}: field {key!r} is {value!r}; expected a non-negative integer.")
    return value


def read_pointer(backup_dir):
    """The last complete backup in `backup_dir`, or None when there is none.

    Returns `{"epoch", "batch", "weights", "rng"}` with the paths of its
    files (`rng` is None for a Keras backup without one). A malformed
    pointer is a ValueError naming the file and the field.

    Example:

    >>> import tempfile
    >>> read_pointer(tempfile.mkdtemp()) is None
    True
    """
    path = os.path.join(backup_dir, POINTER)
    if not os.path.exists(path):
        return None
    with open(path, "rb") as file:
        text = file.read(MAX_POINTER_BYTES + 1)
    if len(text) > MAX_POINTER_BYTES:
        raise ValueError(f"{path!r} is over {MAX_POINTER_BYTES} bytes; expected a small JSON object.")
    try:
        pointer = json.loads(text)
    except ValueError as error:
        raise ValueError(f"{path!r} is not valid JSON ({error}).") from None
    if not isinstance(pointer, dict):
        raise ValueError(f"{path!r} holds {type(pointer).__name__}; expected a JSON object.")
    epoch, batch = _count(pointer, "epoch", path), _count(pointer, "batch", path)
    if "backup" not in pointer:  # written by Keras' BackupAndRestore
        weights, rng = (os.path.join(backup_dir, name) for name in LEGACY_FILES)
        return {"epoch": epoch, "batch": batch, "number": 0, "weights": weights,
                "rng": rng if os.path.exists(rng) else None}
    number = _count(pointer, "backup", path)
    weights, rng = (os.path.join(backup_dir, name) for name in _backup_files(number))
    return {"epoch": epoch, "batch": batch, "number": number, "weights": weights, "rng": rng}


class ResumableBackup(keras.callbacks.BackupAndRestore):
    """`BackupAndRestore` that survives a kill at any instant, with the RNG state.

    See the module docstring for the files and their order of writing.
    `restore()` may be called before `fit` (to know the epoch to resume
    from); otherwise `fit` calls it in `on_train_begin`. It returns the
    epoch the run resumes from, 0 for a clean start.

    Example:

    >>> import tempfile
    >>> from keras_mixer.training import ResumableBackup
    >>> ResumableBackup(tempfile.mkdtemp()).save_freq
    'epoch'
    """

    def __init__(self, backup_dir, delete_checkpoint=True):
        super().__init__(backup_dir, save_freq="epoch", delete_checkpoint=delete_checkpoint)
        self._restored = False

    def _rng_variables(self):
        weights = {id(variable) for variable in self.model.weights}
        return [variable for variable in self.model.variables if id(variable) not in weights]

    def _state_variables(self):
        optimizer = self.model.optimizer
        return list(self.model.variables) + (list(optimizer.variables) if optimizer else [])

    def _load(self, pointer):
        self.model.load_weights(pointer["weights"])
        if pointer["rng"] is None:
            return
        variables = self._rng_variables()
        with np.load(pointer["rng"], allow_pickle=False) as saved:
            if sorted(saved.files) != sorted(str(index) for index in range(len(variables))):
                raise ValueError(
                    f"{pointer['rng']!r} holds {len(saved.files)} arrays; expected "
                    f"{len(variables)}, one per random-number state of the model."
                )
            for index, variable in enumerate(variables):
                variable.assign(saved[str(index)])  # Keras checks the shape

    def restore(self, model=None):
        """Loads the last complete backup; returns its epoch (0: a clean start)."""
        if model is not None:
            self.set_model(model)
        if not self.model.built:
            raise ValueError(f"Model {self.model.name!r} is not built; build it before restoring.")
        self._restored = True
        self.model._initial_epoch = None
        optimizer = self.model.optimizer
        if optimizer is not None and not optimizer.built:
            optimizer.build(self.model.trainable_variables)
        variables = self._state_variables()
        before = [keras.ops.convert_to_numpy(variable) for variable in variables]
        try:
            pointer = read_pointer(self.backup_dir)
            if pointer is None:
                return 0
            self._load(pointer)
        except Exception as error:  # any unreadable backup means: start clean
            for variable, value in zip(variables, before):
                variable.assign(value)
            logger.warning(
                "Backup in %r cannot be read (%s: %s); starting the run clean from epoch 0.",
                self.backup_dir, type(error).__name__, error,
            )
            return 0
        self.model._initial_epoch = pointer["epoch"]
        return pointer["epoch"]

    def on_train_begin(self, logs=None):
        if not self._restored:
            self.restore()
        self._restored = False

    def _committed_number(self):
        try:
            pointer = read_pointer(self.backup_dir)
        except (OSError, ValueError):
            return 0
        return 0 if pointer is None else pointer["number"]

    def _save_model(self):
        os.makedirs(self.backup_dir, exist_ok=True)
        number = self._committed_number() + 1
        weights, rng = (os.path.join(self.backup_dir, name) for name in _backup_files(number))
        self.model.save_weights(weights, overwrite=True)
        states = {
            str(index): keras.ops.convert_to_numpy(variable)
            for index, variable in enumerate(self._rng_variables())
        }
        np.savez(rng, **states)
        pointer = os.path.join(self.backup_dir, POINTER)
        temporary = pointer + ".tmp"
        with open(temporary, "w") as file:
            json.dump({"epoch": self._current_epoch, "batch": self._last_batch_seen,
                       "backup": number}, file)
        for path in (weights, rng, temporary):
            _fsync(path)
        os.replace(temporary, pointer)
        _fsync(self.backup_dir)
        self._remove_all_but(_backup_files(number) + (POINTER,))

    def _remove_all_but(self, keep):
        for name in os.listdir(self.backup_dir):
            own = _OWN_FILE.fullmatch(name) or name in LEGACY_FILES or name.endswith(".bkp")
            if own and name not in keep:
                os.remove(os.path.join(self.backup_dir, name))

    def on_train_end(self, logs=None):
        if not self.delete_checkpoint:
            return
        pointer = os.path.join(self.backup_dir, POINTER)
        if os.path.exists(pointer):
            os.remove(pointer)  # first, so that a kill in the middle leaves no backup
        self._remove_all_but(())
        if os.path.isdir(self.backup_dir) and not os.listdir(self.backup_dir):
            os.rmdir(self.backup_dir)
