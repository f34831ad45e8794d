"""Trains a tiny model with a training backup, for the kill tests (tests/test_backup.py).

    python backup_kill_run.py BACKUP_DIR EPOCHS

One step per epoch on a 4M-parameter model, so that most of the time goes
into writing the backup (48 MB: weights and Adam's two moments) and a kill
at a random instant lands inside that write. Prints `resumed <epoch>
<optimizer iterations>` once the backup is restored, and `saving <n>` as
the backup of the n-th epoch of this process starts to be written.
"""

import sys

import keras
import numpy as np

from keras_mixer.training import ResumableBackup

backup_dir, epochs = sys.argv[1], int(sys.argv[2])


class Announced(ResumableBackup):
    saves = 0

    def _save_model(self):
        self.saves += 1
        print("saving", self.saves, flush=True)
        super()._save_model()


class Report(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        print("resumed", self.model._initial_epoch or 0, int(self.model.optimizer.iterations),
              flush=True)


keras.utils.set_random_seed(0)
model = keras.Sequential([keras.Input((1000,)), keras.layers.Dense(4000),
                          keras.layers.Dropout(0.1), keras.layers.Dense(1)])
model.compile(keras.optimizers.Adam(1e-3), "mse")
x, y = np.ones((4, 1000), "float32"), np.zeros((4, 1), "float32")
model.fit(x, y, epochs=epochs, batch_size=4, verbose=0, callbacks=[Announced(backup_dir), Report()])
print("finished", int(model.optimizer.iterations), flush=True)
