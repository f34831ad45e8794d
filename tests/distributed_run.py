"""Runs `keras_mixer.training.train` in a fresh process, for the training tests.

    python distributed_run.py OUTPUT --strategy S --epochs N [--cpus 2]
        [--clipnorm C] [--kill-epoch E --kill-step B]

Trains the default digits model and writes OUTPUT/result_<worker>.npz: the
per-epoch `loss`, and `w{i}_r{r}` = weight i as held by replica r. Without
stochastic depth (replicas would draw other masks than one process), and
with a global clip norm (default 0.05) small enough to clip every step, so
the equality checks also cover clipping of the summed gradient across
replicas (`keras_mixer.training.clip_across_replicas`).
With --kill-epoch/--kill-step the process dies with os._exit(3) right after
that batch of that epoch (0-based), as a crash would.
"""

import argparse
import os
import sys

parser = argparse.ArgumentParser()
parser.add_argument("output")
parser.add_argument("--strategy", default="none")
parser.add_argument("--epochs", type=int, default=3)
parser.add_argument("--batch-size", type=int, default=128)
parser.add_argument("--cpus", type=int, default=1)
parser.add_argument("--clipnorm", type=float, default=0.05)
parser.add_argument("--kill-epoch", type=int)
parser.add_argument("--kill-step", type=int)
args = parser.parse_args()

import keras  # noqa: E402
import numpy as np  # noqa: E402

if args.cpus > 1:
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * args.cpus
    )

from keras_mixer.training import run as training_run  # noqa: E402


class Crash(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.epoch == args.kill_epoch and batch == args.kill_step:
            sys.stdout.flush()
            os._exit(3)


if args.kill_epoch is not None:
    make_callbacks = training_run.make_callbacks
    training_run.make_callbacks = lambda *a, **k: make_callbacks(*a, **k) + [Crash()]


def replica_values(variable):
    value = variable.value
    if keras.config.backend() == "tensorflow":
        import tensorflow as tf

        if isinstance(value, tf.distribute.DistributedValues):
            return [component.numpy() for component in value.values]
    if keras.config.backend() == "jax":
        return [np.asarray(shard.data) for shard in value.addressable_shards]
    return [keras.ops.convert_to_numpy(value)]


result = training_run.train(
    epochs=args.epochs,
    batch_size=args.batch_size,
    strategy=args.strategy,
    output_dir=args.output,
    recipe_overrides={"drop_path_rate": 0.0, "global_clipnorm": args.clipnorm},
    verbose=0,
)
arrays = {"loss": np.array(result.history["loss"]),
          "replicas": np.array(result.distribution.num_replicas)}
for index, variable in enumerate(result.model.weights):
    for replica, value in enumerate(replica_values(variable)):
        arrays[f"w{index}_r{replica}"] = value
np.savez(os.path.join(args.output, f"result_{result.distribution.worker_index}.npz"), **arrays)
