"""Data-parallel `fit` matches one process, and a crashed run resumes exactly.

Each run is a fresh process (tests/distributed_run.py) training the default
digits model for two epochs: multi-worker TF (two workers on 127.0.0.1),
MirroredStrategy over two logical CPUs, JAX DataParallel over two host
devices, each against a single-process run with the same global batch and
seed; and runs killed with os._exit in the middle of an epoch, restarted.
"""

import json
import os
import socket
import subprocess
import sys

import keras
import numpy as np
import pytest

from conftest import relative_error
from keras_mixer.training.backup import read_pointer

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "distributed_run.py")
COMMON_ARGS = ("--epochs", "2", "--batch-size", "256")  # 5 steps per epoch
CRASH_ARGS = ("--kill-epoch", "1", "--kill-step", "2")
CRASH_CODE = 3
TIMEOUT = 900

pytestmark = pytest.mark.slow
tensorflow_only = pytest.mark.skipif(
    keras.config.backend() != "tensorflow",
    reason="tf.distribute strategies run only on the tensorflow backend",
)


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def _env(**extra):
    env = dict(os.environ)
    env.pop("TF_CONFIG", None)
    root = os.path.dirname(HERE)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    env.update(extra)
    return env


def _launch(output, *args, env=None):
    return subprocess.Popen(
        [sys.executable, SCRIPT, str(output), *COMMON_ARGS, *args],
        env=env or _env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def _finish(processes, returncode=0):
    for process in processes:
        output, _ = process.communicate(timeout=TIMEOUT)
        assert process.returncode == returncode, output[-4000:]


def _results(output, workers=1):
    return [dict(np.load(os.path.join(output, f"result_{index}.npz"))) for index in range(workers)]


def _weights(result, replica=0):
    count = len([key for key in result if key.startswith("w") and key.endswith("_r0")])
    return [result[f"w{index}_r{replica}"] for index in range(count)]


def _launch_workers(output, *args):
    hosts = [f"127.0.0.1:{port}" for port in _free_ports(2)]
    return [
        _launch(output, "--strategy", "multiworker", *args, env=_env(TF_CONFIG=json.dumps(
            {"cluster": {"worker": hosts}, "task": {"type": "worker", "index": index}}
        )))
        for index in range(2)
    ]


def _assert_same_weights(actual, expected, tolerance):
    assert len(actual) == len(expected)
    for got, want in zip(actual, expected):
        assert relative_error(got, want) <= tolerance


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Runs every process this backend needs, independent ones side by side.

    First the uninterrupted single process, the data-parallel run of this
    backend and (on TensorFlow) the crashing runs; then the restarts of the
    crashed runs. Returns the output folder of each run by name.

    Resuming is checked in the TensorFlow pass only, single process and
    multi-worker: the backup and the data stream it restores are the same
    code on every backend (`ResumableBackup`, the tf.data stream), and CI
    time does not allow the three-process run twice more.
    """
    backend = keras.config.backend()
    folders = {
        name: tmp_path_factory.mktemp(name)
        for name in ("single", "single_resumed", "multi_worker_resumed", "replicas")
    }
    first = {"single": [_launch(folders["single"], "--strategy", "none")]}
    if backend == "tensorflow":
        first["single_crash"] = [_launch(folders["single_resumed"], "--strategy", "none", *CRASH_ARGS)]
        first["multi_worker_crash"] = _launch_workers(folders["multi_worker_resumed"], *CRASH_ARGS)
        first["replicas"] = [_launch(folders["replicas"], "--strategy", "mirrored", "--cpus", "2")]
    if backend == "jax":
        env = _env(XLA_FLAGS="--xla_force_host_platform_device_count=2")
        first["replicas"] = [_launch(folders["replicas"], "--strategy", "jax-dp", env=env)]
    for name, processes in first.items():
        _finish(processes, CRASH_CODE if name.endswith("crash") else 0)
    if backend == "tensorflow":
        for name, workers in (("single_resumed", 1), ("multi_worker_resumed", 2)):
            for index in range(workers):  # each crashed run left one backup per worker
                backup = folders[name] / "backup" / f"worker_{index}"
                assert read_pointer(str(backup))["epoch"] == 1
        _finish([_launch(folders["single_resumed"], "--strategy", "none")]
                + _launch_workers(folders["multi_worker_resumed"]))
    return folders


def _csv_losses(folder):
    return np.array([float(line.split(",")[2]) for line in
                     (folder / "history.csv").read_text().splitlines()[1:]])


@tensorflow_only
def test_multi_worker_fit_matches_single_process_and_resumes(runs):
    """Two workers, killed in the middle of epoch 2 and restarted: both end
    with the same weights, equal to one process with the same global batch,
    and the logged loss curve (epoch 1 before, epoch 2 after the crash) is
    the single process' curve."""
    single = _results(runs["single"])[0]
    first, second = _results(runs["multi_worker_resumed"], workers=2)
    assert int(first["replicas"]) == 2
    _assert_same_weights(_weights(second), _weights(first), 0.0)
    np.testing.assert_allclose(_csv_losses(runs["multi_worker_resumed"]),
                               _csv_losses(runs["single"]), rtol=1e-5)
    np.testing.assert_allclose(single["loss"], _csv_losses(runs["single"]), rtol=1e-6)
    _assert_same_weights(_weights(first), _weights(single), 1e-4)


@pytest.mark.skipif(
    keras.config.backend() != "tensorflow",
    reason="resuming is checked once, in the TensorFlow pass (see the runs fixture)",
)
def test_single_process_resumes_after_a_crash(runs):
    resumed = _results(runs["single_resumed"])[0]
    _assert_same_weights(_weights(resumed), _weights(_results(runs["single"])[0]), 1e-6)
    np.testing.assert_allclose(_csv_losses(runs["single_resumed"]),
                               _csv_losses(runs["single"]), rtol=1e-6)


def _assert_replicas_match(runs):
    result, single = _results(runs["replicas"])[0], _results(runs["single"])[0]
    assert int(result["replicas"]) == 2
    _assert_same_weights(_weights(result, replica=1), _weights(result, replica=0), 0.0)
    np.testing.assert_allclose(result["loss"], single["loss"], rtol=1e-5)
    _assert_same_weights(_weights(result), _weights(single), 1e-4)


@tensorflow_only
def test_mirrored_over_two_cpus_matches_single_process(runs):
    _assert_replicas_match(runs)


@pytest.mark.skipif(
    keras.config.backend() != "jax", reason="keras.distribution.DataParallel is tested on jax"
)
def test_jax_data_parallel_over_two_devices_matches_single_process(runs):
    _assert_replicas_match(runs)
