"""One switch for data-parallel training: tf.distribute strategies or JAX DataParallel."""

import contextlib
import json
import os

import keras

STRATEGIES = ("auto", "none", "mirrored", "multiworker", "tpu", "jax-dp")
_TENSORFLOW_ONLY = ("mirrored", "multiworker", "tpu")


class Distribution:
    """A chosen way of spreading training over devices and workers.

    Attributes:
        name: one of `STRATEGIES` after resolving "auto".
        num_replicas: replicas that each take a slice of a global batch.
        worker_index: this process' index among the workers (0 when alone).
        num_workers: number of worker processes.
        strategy: the `tf.distribute.Strategy`, or None.
        keras_distribution: the `keras.distribution.Distribution`, or None.
    """

    def __init__(self, name, strategy=None, keras_distribution=None,
                 worker_index=0, num_workers=1):
        self.name = name
        self.strategy = strategy
        self.keras_distribution = keras_distribution
        self.worker_index = worker_index
        self.num_workers = num_workers
        if strategy is not None:
            self.num_replicas = strategy.num_replicas_in_sync
        elif keras_distribution is not None:
            self.num_replicas = len(keras_distribution.device_mesh.devices.flatten())
        else:
            self.num_replicas = 1

    @property
    def is_chief(self):
        """Whether this worker writes the shared outputs (plots, exports)."""
        return self.worker_index == 0

    def scope(self):
        """Context in which to build and compile the model."""
        if self.strategy is not None:
            return self.strategy.scope()
        if self.keras_distribution is not None:
            return self.keras_distribution.scope()
        return contextlib.nullcontext()

    def check_batch_size(self, batch_size):
        """Raises a ValueError unless `batch_size` splits evenly over the replicas."""
        if batch_size % self.num_replicas:
            raise ValueError(
                f"batch size {batch_size} is not divisible by the {self.num_replicas} "
                f"replicas of the {self.name!r} strategy; expected a multiple of "
                f"{self.num_replicas}."
            )

    def __repr__(self):
        return (f"Distribution({self.name!r}, replicas={self.num_replicas}, "
                f"worker={self.worker_index}/{self.num_workers})")


def _tf_config():
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return None
    try:
        config = json.loads(raw)
    except json.JSONDecodeError as error:
        raise ValueError(f"TF_CONFIG is not valid JSON ({error}); expected a cluster spec.")
    return config


def _multiworker():
    import tensorflow as tf

    config = _tf_config()
    if config is None or "cluster" not in config or "task" not in config:
        raise ValueError(
            "strategy 'multiworker' needs TF_CONFIG with a 'cluster' and a 'task' "
            "entry; it is not set or incomplete."
        )
    workers = config["cluster"].get("worker", [])
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    return Distribution("multiworker", strategy, worker_index=int(config["task"]["index"]),
                        num_workers=max(len(workers), 1))


def _tpu():
    import tensorflow as tf

    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, RuntimeError) as error:
        raise ValueError(f"strategy 'tpu' found no TPU ({error}).") from None
    return Distribution("tpu", tf.distribute.TPUStrategy(resolver))


def _mirrored():
    import tensorflow as tf

    devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
    return Distribution(
        "mirrored", tf.distribute.MirroredStrategy([device.name for device in devices])
    )


def _jax_data_parallel():
    distribution = keras.distribution.DataParallel()
    return Distribution("jax-dp", keras_distribution=distribution)


def _auto():
    backend = keras.config.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        if _tf_config() is not None:
            return _multiworker()
        if os.environ.get("TPU_NAME") or os.environ.get("COLAB_TPU_ADDR"):
            return _tpu()
        if len(tf.config.list_logical_devices("GPU")) > 1:
            return _mirrored()
    elif backend == "jax":
        import jax

        if jax.device_count() > 1:
            return _jax_data_parallel()
    return Distribution("none")


def get_distribution(name="auto"):
    """Returns the `Distribution` called `name` for the current backend.

    Args:
        name: "auto" (TF_CONFIG -> multiworker, a TPU -> tpu, several GPUs ->
            mirrored on TensorFlow; several devices -> jax-dp on JAX; else
            none), "none", "mirrored" (all local GPUs, else all logical CPUs), "multiworker"
            (workers from TF_CONFIG), "tpu", or "jax-dp"
            (`keras.distribution.DataParallel` over all JAX devices).

    Example:

    >>> from keras_mixer.training import get_distribution
    >>> get_distribution("none").num_replicas
    1
    """
    if name not in STRATEGIES:
        raise ValueError(f"Unknown strategy {name!r}; expected one of {STRATEGIES}.")
    backend = keras.config.backend()
    if name in _TENSORFLOW_ONLY and backend != "tensorflow":
        raise ValueError(
            f"strategy {name!r} needs the tensorflow backend (KERAS_BACKEND="
            f"tensorflow); the backend is {backend!r}."
        )
    if name == "jax-dp" and backend != "jax":
        raise ValueError(
            f"strategy 'jax-dp' needs the jax backend (KERAS_BACKEND=jax); the "
            f"backend is {backend!r}."
        )
    builders = {
        "auto": _auto,
        "none": lambda: Distribution("none"),
        "mirrored": _mirrored,
        "multiworker": _multiworker,
        "tpu": _tpu,
        "jax-dp": _jax_data_parallel,
    }
    return builders[name]()
