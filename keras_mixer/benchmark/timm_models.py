"""Timing timm's models in PyTorch on the same images: the reference we compare with."""

import contextlib

import numpy as np

from keras_mixer.benchmark.flops import TRAINING_FACTOR
from keras_mixer.benchmark.machine import peak_memory_mb
from keras_mixer.benchmark.machine import reset_peak_memory
from keras_mixer.benchmark.ours import random_images
from keras_mixer.benchmark.timing import summarize
from keras_mixer.benchmark.timing import time_calls
from keras_mixer.benchmark.timm_import import import_timm

# timm's ImageNet normalisation of its resmlp_* and mixer_* checkpoints.
MEANS = {"resmlp": (0.485, 0.456, 0.406), "mixer": (0.5, 0.5, 0.5)}
STDS = {"resmlp": (0.229, 0.224, 0.225), "mixer": (0.5, 0.5, 0.5)}


def timm_inputs(images, timm_name):
    """0-255 NHWC images as timm takes them: normalised NCHW float32 tensors."""
    import torch

    family = timm_name.split("_")[0]
    normalised = (images / 255.0 - np.asarray(MEANS[family])) / np.asarray(STDS[family])
    return torch.from_numpy(np.ascontiguousarray(normalised.transpose(0, 3, 1, 2), "float32"))


def _autocast(dtype):
    import torch

    if dtype == "bfloat16":
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def measure(spec, dtype, flops, *, batches, train_batch, repeats, latency_repeats,
            tasks=("inference", "training"), skip=None):
    """Rows of timm's model for `spec` in `dtype` (bfloat16 through torch.autocast)."""
    import torch

    timm = import_timm()
    torch.manual_seed(0)
    model = spec.build_timm(timm)
    size = spec.timm_kwargs.get("img_size", 224)
    rows = []
    model.eval()
    for batch in batches if "inference" in tasks else ():
        reason = skip and skip("inference", batch, flops)
        if reason:
            rows.append({"task": "inference", "form": "train", "batch": batch, "skipped": reason})
            continue
        x = timm_inputs(random_images((batch, size, size, 3), seed=batch), spec.timm)

        def predict():
            with torch.inference_mode(), _autocast(dtype):
                return model(x)

        reset_peak_memory()
        first, times = time_calls(predict, latency_repeats if batch == 1 else repeats)
        rows.append({
            "task": "inference", "form": "train", "batch": batch, "first_call_s": first,
            "peak_memory_mb": peak_memory_mb(), **summarize(times, batch),
        })
    reason = skip and skip("training", train_batch, flops)
    if "training" in tasks:
        rows.append(
            {"task": "training", "form": "train", "batch": train_batch, "skipped": reason}
            if reason else _training_row(model, dtype, spec, train_batch, repeats)
        )
    for row in rows:
        row["gflop_per_image"] = flops * (TRAINING_FACTOR if row["task"] == "training" else 1) / 1e9
    return rows


def _training_row(model, dtype, spec, batch, repeats):
    import torch

    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    size = spec.timm_kwargs.get("img_size", 224)
    x = timm_inputs(random_images((batch, size, size, 3), seed=batch), spec.timm)
    classes = spec.timm_kwargs.get("num_classes", 1000)
    y = torch.from_numpy(np.random.default_rng(batch).integers(0, classes, batch))

    def step():
        optimizer.zero_grad(set_to_none=True)
        with _autocast(dtype):
            loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()

    reset_peak_memory()
    first, times = time_calls(step, repeats)
    return {
        "task": "training", "form": "train", "batch": batch, "first_call_s": first,
        "peak_memory_mb": peak_memory_mb(), **summarize(times, batch),
    }
