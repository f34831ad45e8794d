"""The machine a benchmark runs on: CPU, GPU, versions, thread pinning, memory, matmul peak."""

import datetime
import importlib.metadata
import os
import platform
import time

# CPU flags that decide which matmul kernels can run.
FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "amx_tile", "amx_bf16",
         "amx_int8")
PACKAGES = ("keras", "tensorflow-cpu", "tensorflow", "jax", "jaxlib", "jax-cuda12-plugin",
            "jax-cuda13-plugin", "torch", "triton", "timm", "numpy")


def cpu_info():
    """`{"model", "cores", "flags"}` from /proc/cpuinfo (best effort off Linux)."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo") as file:
            for line in file:
                key, _, value = line.partition(":")
                if key.strip() == "model name":
                    model = value.strip()
                elif key.strip() == "flags":
                    flags = set(value.split())
    except OSError:
        pass
    return {"model": model, "cores": os.cpu_count(), "flags": [f for f in FLAGS if f in flags]}


def versions():
    """Installed versions of Python and the packages the benchmark touches."""
    found = {"python": platform.python_version()}
    for package in PACKAGES:
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            continue
    return found


def machine_info(device="cpu"):
    """CPU, versions, the UTC date and, on `device` "gpu", the GPUs (`gpu.gpu_info`)."""
    from keras_mixer.benchmark import gpu

    info = {
        "cpu": cpu_info(),
        "versions": versions(),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "platform": platform.platform(),
    }
    if device == "gpu":
        info["gpus"] = gpu.gpu_info()
    return info


def thread_environment(threads):
    """Environment variables that pin every framework's thread pools to `threads`."""
    return {
        "OMP_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
        "TF_NUM_INTRAOP_THREADS": str(threads),
        "TF_NUM_INTEROP_THREADS": "1",
        "XLA_FLAGS": f"--xla_cpu_multi_thread_eigen=true intra_op_parallelism_threads={threads}",
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }


def pin_threads(backend, threads):
    """Pins this process to `threads` cores and sets `backend`'s thread pools.

    Call before the backend runs anything. The environment variables of
    `thread_environment` must already be set when the backend is imported.
    """
    if hasattr(os, "sched_setaffinity"):
        available = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, available[:threads])
    if backend == "torch":
        import torch

        torch.set_num_threads(threads)
        torch.set_num_interop_threads(1)
    elif backend == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)


def reset_peak_memory():
    """Resets this process's resident-memory high-water mark (Linux; no-op elsewhere)."""
    try:
        with open("/proc/self/clear_refs", "w") as file:
            file.write("5")
    except OSError:
        pass


def reset_peaks(backend, device):
    """Resets the resident-memory high-water mark and, on the GPU, `backend`'s GPU peak."""
    from keras_mixer.benchmark import gpu

    reset_peak_memory()
    if device == "gpu":
        gpu.reset_peak(backend)


def peaks(backend, device):
    """`{"peak_memory_mb"}` (resident memory) and, on the GPU, `gpu.peak(backend)`."""
    from keras_mixer.benchmark import gpu

    found = {"peak_memory_mb": peak_memory_mb()}
    if device == "gpu":
        found.update(gpu.peak(backend))
    return found


def peak_memory_mb():
    """Resident-memory high-water mark of this process in MiB (VmHWM, or ru_maxrss)."""
    try:
        with open("/proc/self/status") as file:
            for line in file:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _matmul(backend, dtype, size, device="cpu"):
    """A function multiplying two `size x size` matrices of `dtype` natively in `backend`.

    The product runs on the backend's default device (JAX, TensorFlow) or on
    `device` (torch); each call waits for its result.
    """
    import numpy as np

    values = np.random.default_rng(0).standard_normal((size, size)).astype("float32")
    if backend == "torch":
        import torch

        from keras_mixer.benchmark import gpu

        target = gpu.torch_device(device)
        matrix = torch.from_numpy(values).to(target, getattr(torch, dtype))

        def run():
            with torch.inference_mode():
                torch.matmul(matrix, matrix)
            gpu.synchronize(target)

        return run
    if backend == "tensorflow":
        import tensorflow as tf

        matrix = tf.cast(tf.constant(values), dtype)
        product = tf.function(lambda a: tf.matmul(a, a), jit_compile=True)
        return lambda: product(matrix).numpy()
    import jax
    import jax.numpy as jnp

    matrix = jnp.asarray(values, dtype=dtype)
    product = jax.jit(lambda a: a @ a)
    return lambda: product(matrix).block_until_ready()


def matmul_peak(backend, dtype="float32", size=4096, repeats=3, budget_s=2.0, device="cpu"):
    """`(GFLOP/s, size)`: best rate of a square matrix product in `backend`.

    Sizes double from 512 up to `size`; a size whose single product takes
    longer than `budget_s` is the last one tried (a CPU without native
    bfloat16 kernels can be 100x slower in bfloat16). The best of `repeats`
    runs at the last size is reported. `device` "gpu" runs torch's on CUDA.

    Example:

    >>> from keras_mixer.benchmark.machine import matmul_peak
    >>> rate, size = matmul_peak("jax", "float32", size=64, repeats=2)
    >>> rate > 0, size
    (True, 64)
    """
    tried = min(size, 512)
    while True:
        run = _matmul(backend, dtype, tried, device)
        run()
        start = time.perf_counter()
        run()
        best = time.perf_counter() - start
        if tried >= size or best > budget_s:
            break
        tried = min(2 * tried, size)
    for _ in range(repeats - 1):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return 2 * tried**3 / best / 1e9, tried
