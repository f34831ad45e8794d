"""Timing timm's models in PyTorch on the same images: the reference we compare with."""

import contextlib

import numpy as np

from keras_mixer.benchmark import gpu
from keras_mixer.benchmark.flops import TRAINING_FACTOR
from keras_mixer.benchmark.machine import peaks
from keras_mixer.benchmark.machine import reset_peaks
from keras_mixer.benchmark.ours import random_images
from keras_mixer.benchmark.timing import summarize
from keras_mixer.benchmark.timing import time_calls
from keras_mixer.benchmark.timm_import import import_timm

def timm_inputs(images, preprocessing):
    """0-255 NHWC images as timm takes them: NCHW float32 tensors normalised by
    the family's `registry.Preprocessing` (timm's checkpoints use the same)."""
    import torch

    normalised = (images - np.asarray(preprocessing.mean)) / np.asarray(preprocessing.std)
    return torch.from_numpy(np.ascontiguousarray(normalised.transpose(0, 3, 1, 2), "float32"))


def _autocast(dtype, device):
    import torch

    if dtype == "bfloat16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _timed(function, repeats, device, compiled):
    """`time_calls` of `function`, waiting for `device` in each call.

    A compiled model gets two more untimed warm-up calls, so compilation
    (in the first call, `first_call_s`) is not in images/s.
    """
    def call():
        function()
        gpu.synchronize(device)

    return time_calls(call, repeats, warmup=3 if compiled else 1)


def measure(spec, dtype, flops, *, batches, train_batches, repeats, latency_repeats,
            tasks=("inference", "training"), skip=None, device="cpu", compiled=False):
    """Rows of timm's model for `spec` in `dtype` (bfloat16 through torch.autocast).

    `device` "gpu" runs on CUDA with model and inputs moved there once before
    timing; `compiled` times `torch.compile(model)` instead of the model.
    """
    import torch

    timm = import_timm()
    torch.manual_seed(0)
    target = gpu.torch_device(device)
    model = spec.build_timm(timm).to(target)
    run = torch.compile(model, dynamic=False) if compiled else model
    size = spec.timm_kwargs.get("img_size", 224)
    rows = []
    model.eval()
    for batch in batches if "inference" in tasks else ():
        reason = skip and skip("inference", batch, flops)
        if reason:
            rows.append({"task": "inference", "form": "train", "batch": batch, "skipped": reason})
            continue
        x = timm_inputs(random_images((batch, size, size, 3), seed=batch), spec.preprocessing).to(target)

        def predict():
            with torch.inference_mode(), _autocast(dtype, target):
                return run(x)

        reset_peaks("torch", device)
        first, times = _timed(predict, latency_repeats if batch == 1 else repeats, target,
                              compiled)
        rows.append({
            "task": "inference", "form": "train", "batch": batch, "first_call_s": first,
            **peaks("torch", device), **summarize(times, batch),
        })
    if "training" in tasks and train_batches:
        model.train()
        # Fused AdamW on CUDA, as timm trains there; the default (foreach) on the CPU.
        fused = {"fused": True} if target.type == "cuda" else {}
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, **fused)
    for batch in train_batches if "training" in tasks else ():
        reason = skip and skip("training", batch, flops)
        rows.append(
            {"task": "training", "form": "train", "batch": batch, "skipped": reason}
            if reason else _training_row(run, optimizer, dtype, spec, batch, repeats, device,
                                         compiled)
        )
    for row in rows:
        row["gflop_per_image"] = flops * (TRAINING_FACTOR if row["task"] == "training" else 1) / 1e9
    return rows


def _training_row(run, optimizer, dtype, spec, batch, repeats, device, compiled):
    """One row: zero_grad, forward (`run`), cross-entropy, backward, AdamW step."""
    import torch

    target = gpu.torch_device(device)
    size = spec.timm_kwargs.get("img_size", 224)
    x = timm_inputs(random_images((batch, size, size, 3), seed=batch), spec.preprocessing).to(target)
    classes = spec.timm_kwargs.get("num_classes", 1000)
    y = torch.from_numpy(np.random.default_rng(batch).integers(0, classes, batch)).to(target)

    def step():
        optimizer.zero_grad(set_to_none=True)
        with _autocast(dtype, target):
            loss = torch.nn.functional.cross_entropy(run(x), y)
        loss.backward()
        optimizer.step()

    reset_peaks("torch", device)
    first, times = _timed(step, repeats, target, compiled)
    return {
        "task": "training", "form": "train", "batch": batch, "first_call_s": first,
        **peaks("torch", device), **summarize(times, batch),
    }
