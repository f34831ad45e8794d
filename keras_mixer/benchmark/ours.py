"""Timing keras_mixer models in the current Keras backend: inference and training."""

import warnings

import keras
import numpy as np

from keras_mixer.benchmark.flops import TRAINING_FACTOR
from keras_mixer.benchmark.flops import forward_flops
from keras_mixer.benchmark.machine import peaks
from keras_mixer.benchmark.machine import reset_peaks
from keras_mixer.benchmark.timing import summarize
from keras_mixer.benchmark.timing import time_calls

POLICIES = {"float32": "float32", "bfloat16": "mixed_bfloat16"}
AGREEMENT_IMAGES = 32


def random_images(shape, seed=0):
    """Random 0-255 RGB pixels of `shape`, float32 (what the models take)."""
    return np.random.default_rng(seed).integers(0, 256, shape).astype("float32")


def build(spec, dtype, weights_from=None):
    """Builds `spec` under `dtype`'s Keras policy, with the weights of `weights_from` if given.

    A zero-initialised head (Mixer's) gets small random values, so top-1
    agreement between forms and dtypes is not trivially perfect.
    """
    if dtype not in POLICIES:
        raise ValueError(f"dtype {dtype!r} is not supported; expected one of {sorted(POLICIES)}.")
    keras.config.set_dtype_policy(POLICIES[dtype])
    try:
        keras.utils.set_random_seed(0)
        model = spec.build()
    finally:
        keras.config.set_dtype_policy("float32")
    if weights_from is not None:
        model.set_weights(weights_from.get_weights())
    elif "head" in [layer.name for layer in model.layers]:
        head = model.get_layer("head")
        if not np.any(keras.ops.convert_to_numpy(head.kernel)):
            std = head.kernel.shape[0] ** -0.5
            head.kernel.assign(np.random.default_rng(0).normal(0, std, head.kernel.shape))
    return model


def device_tensor(array):
    """`array` as a tensor of the current backend on its default device (the GPU if any).

    Converted once before timing, so no host-to-device copy is timed (Keras'
    torch backend puts tensors on CUDA when it is available).
    """
    return keras.ops.convert_to_tensor(array)


def inference_form(model, form):
    """`model` as built ("train"), fused ("fused"), or fused with int8 Dense kernels ("int8").

    "int8" is Keras' own `Model.quantize("int8")` on the fused model: the
    channel-mixing `Dense` kernels become int8 with per-channel scales and
    inputs are quantised on the fly; the token maps stay in floating point.
    """
    import keras_mixer

    if form == "train":
        return model
    subject = keras_mixer.fuse_for_inference(model)
    if form == "int8":
        with warnings.catch_warnings():  # one per layer without weights to quantise
            warnings.filterwarnings("ignore", message=".*does not have a `quantize` method")
            subject.quantize("int8")
    return subject


def inference_rows(model, form, batches, repeats, latency_repeats, reference, device="cpu"):
    """One row per batch size: images/s, latency, first-call time and peak memory.

    `reference` is `(images, top-1 classes)` of the float32 training form;
    the row reports the fraction of those images this model classifies alike.
    """
    rows = []
    images, classes = reference
    agreement = float(np.mean(np.argmax(model.predict_on_batch(images), -1) == classes))
    for batch in batches:
        x = device_tensor(random_images((batch,) + tuple(model.input_shape[1:]), seed=batch))
        reset_peaks(keras.config.backend(), device)
        # predict_on_batch returns NumPy: each timed call waits for the device.
        first, times = time_calls(
            lambda: model.predict_on_batch(x), latency_repeats if batch == 1 else repeats
        )
        rows.append({
            "task": "inference", "form": form, "batch": batch, "first_call_s": first,
            **peaks(keras.config.backend(), device), "top1_agreement": agreement,
            **summarize(times, batch),
        })
    return rows


def training_row(model, batch, repeats, jit_compile, device="cpu"):
    """Images/s of `train_on_batch` (one AdamW step per batch) on random labelled images."""
    model.compile(
        optimizer=keras.optimizers.AdamW(1e-4),
        loss="sparse_categorical_crossentropy",
        jit_compile=jit_compile,
    )
    x = device_tensor(random_images((batch,) + tuple(model.input_shape[1:]), seed=batch))
    y = device_tensor(np.random.default_rng(batch).integers(0, model.output_shape[-1], batch))
    reset_peaks(keras.config.backend(), device)
    # train_on_batch returns the loss as a Python float: each timed call waits for the device.
    first, times = time_calls(lambda: model.train_on_batch(x, y), repeats)
    return {
        "task": "training", "form": "train", "batch": batch, "first_call_s": first,
        **peaks(keras.config.backend(), device), **summarize(times, batch),
    }


def measure(spec, dtype, *, batches, train_batches, repeats, latency_repeats, forms, jit_compile,
            tasks=("inference", "training"), skip=None, device="cpu"):
    """All rows of one model in one dtype on the current backend.

    `tasks` picks "inference" and/or "training"; `forms` picks inference
    forms of `inference_form` ("train", "fused", "int8"). `jit_compile` is
    passed to `Model.compile` ("auto" keeps Keras' default for the
    backend). `skip(task, batch, flops)` may return a reason to skip a row.
    `device` ("cpu" or "gpu") adds the GPU's peak memory to each row.
    """
    reference_model = build(spec, "float32")
    flops = forward_flops(reference_model)
    images = random_images((AGREEMENT_IMAGES,) + tuple(reference_model.input_shape[1:]), seed=7)
    reference = (images, np.argmax(reference_model.predict_on_batch(images), -1))
    model = reference_model if dtype == "float32" else build(spec, dtype, reference_model)
    rows = []
    for form in forms if "inference" in tasks else ():
        subject = inference_form(model, form)
        subject.compile(jit_compile=jit_compile)
        kept = [b for b in batches if not (skip and skip("inference", b, flops))]
        rows += inference_rows(subject, form, kept, repeats, latency_repeats, reference, device)
        rows += [
            {"task": "inference", "form": form, "batch": b, "skipped": skip("inference", b, flops)}
            for b in batches if b not in kept
        ]
    for batch in train_batches if "training" in tasks else ():
        reason = skip and skip("training", batch, flops)
        rows.append(
            {"task": "training", "form": "train", "batch": batch, "skipped": reason}
            if reason else training_row(model, batch, repeats, jit_compile, device)
        )
    for row in rows:
        row["gflop_per_image"] = flops * (TRAINING_FACTOR if row["task"] == "training" else 1) / 1e9
    return rows
