"""The GPU side of the benchmark: finding a GPU, what each framework sees, peak memory.

`visible_gpus` and `gpu_info` ask `nvidia-smi` (bounded in time and output,
every field checked) and import no framework, so the runner can choose the
device before any worker starts. The other functions import their framework
when called, inside a worker.
"""

import os
import shutil
import subprocess

SMI_SECONDS = 10
SMI_MAX_CHARS = 100_000


def _nvidia_smi(*arguments):
    """`nvidia-smi`'s stdout lines, or [] when it is missing, fails, hangs or says nothing."""
    command = shutil.which("nvidia-smi")
    if command is None:
        return []
    try:
        completed = subprocess.run([command, *arguments], stdout=subprocess.PIPE,
                                   stderr=subprocess.DEVNULL, text=True, errors="replace",
                                   timeout=SMI_SECONDS)
    except (OSError, subprocess.SubprocessError):
        return []
    if completed.returncode:
        return []
    return [line.strip() for line in completed.stdout[:SMI_MAX_CHARS].splitlines()
            if line.strip()]


def visible_gpus():
    """Names of the NVIDIA GPUs this process may use (`nvidia-smi -L`); [] if none.

    `CUDA_VISIBLE_DEVICES` set to nothing or -1 hides them all, as it does
    from JAX and torch.

    Example:

    >>> from keras_mixer.benchmark.gpu import visible_gpus
    >>> isinstance(visible_gpus(), list)
    True
    """
    if os.environ.get("CUDA_VISIBLE_DEVICES", "0").strip() in ("", "-1"):
        return []
    return [line.partition(":")[2].split("(UUID")[0].strip()
            for line in _nvidia_smi("-L") if line.startswith("GPU ")]


def gpu_info():
    """`[{"name", "memory_mib", "driver"}]` of each GPU `nvidia-smi` reports ([] if none)."""
    found = []
    for line in _nvidia_smi("--query-gpu=name,memory.total,driver_version",
                            "--format=csv,noheader,nounits"):
        fields = [field.strip() for field in line.split(",")]
        if len(fields) != 3 or not fields[1].isdigit():
            continue
        found.append({"name": fields[0][:200], "memory_mib": int(fields[1]),
                      "driver": fields[2][:50]})
    return found


def framework_gpu(backend):
    """`(description, None)` of the GPU `backend` computes on, or `(None, why not)`.

    `backend` is "jax", "torch" or "tensorflow"; a framework that is not
    installed, or that sees no GPU, gives the reason.
    """
    try:
        if backend == "jax":
            import jax

            devices = [d for d in jax.devices() if d.platform == "gpu"]
            if devices:
                return f"{devices[0].device_kind} (jax {jax.__version__})", None
        elif backend == "torch":
            import torch

            if torch.cuda.is_available():
                return (f"{torch.cuda.get_device_name(0)} (torch {torch.__version__}, "
                        f"CUDA {torch.version.cuda})"), None
        else:
            import tensorflow as tf

            devices = tf.config.list_physical_devices("GPU")
            if devices:
                return f"{devices[0].name} (tensorflow {tf.__version__})", None
    except (ImportError, RuntimeError) as error:
        return None, f"{backend} cannot run here ({type(error).__name__}: {error})"
    return None, f"{backend} sees no GPU"


def torch_device(device):
    """The torch device for the benchmark's `device` ("cpu" or "gpu")."""
    import torch

    return torch.device("cuda" if device == "gpu" else "cpu")


def synchronize(torch_device_):
    """Waits for the queued work of `torch_device_` (a no-op on the CPU)."""
    import torch

    if torch_device_.type == "cuda":
        torch.cuda.synchronize(torch_device_)


def reset_peak(backend):
    """Resets `backend`'s GPU peak-memory counter where it can (not JAX's)."""
    if backend == "torch":
        import torch

        torch.cuda.reset_peak_memory_stats()
    elif backend == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.reset_memory_stats("GPU:0")


def peak(backend):
    """`{"gpu_peak_memory_mb", "gpu_peak_scope"}` of `backend`'s first GPU.

    torch's and TensorFlow's peak is the row's own (reset by `reset_peak`);
    JAX's is the process's high-water mark so far (`peak_bytes_in_use`, which
    JAX cannot reset), so its scope is "process".
    """
    if backend == "torch":
        import torch

        return {"gpu_peak_memory_mb": torch.cuda.max_memory_allocated() / 2**20,
                "gpu_peak_scope": "row"}
    if backend == "tensorflow":
        import tensorflow as tf

        value = tf.config.experimental.get_memory_info("GPU:0")["peak"]
        return {"gpu_peak_memory_mb": value / 2**20, "gpu_peak_scope": "row"}
    import jax

    stats = jax.devices()[0].memory_stats() or {}
    value = stats.get("peak_bytes_in_use")
    return {"gpu_peak_memory_mb": None if value is None else value / 2**20,
            "gpu_peak_scope": "process"}
