"""GPU probe, prepared and not yet run (no GPU was lent for it): A/B of the GELU form and XLA's Triton GEMMs on the Keras models (JAX).

python benchmarks/gpu_probes/gelu_and_keras_overhead.py OUT TAG [--small]
Measures, interleaved in one process: fused inference with the new GELU (the
library's) and the old one (keras.ops.gelu), via predict_on_batch and via a
jitted stateless call; training via train_on_batch and via a jitted stateless
train step (so Keras' per-call overhead shows).
"""
import json
import os
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "jax")
import jax
import keras
import numpy as np

import keras_mixer
from keras_mixer.layers import fused_mixer_block
from keras_mixer.layers import gelu as G
from keras_mixer.layers import mlp

OUT, TAG = sys.argv[1], sys.argv[2]
SMALL = "--small" in sys.argv
ROWS = []


def log(**row):
    row["tag"] = TAG
    ROWS.append(row)
    print(json.dumps(row), flush=True)
    with open(os.path.join(OUT, f"ab_{TAG}.json"), "w") as f:
        json.dump(ROWS, f, indent=1)


def median_time(fn, repeats=10):
    jax.block_until_ready(fn())
    jax.block_until_ready(fn())
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def use_gelu(fn):
    mlp.gelu = fn
    fused_mixer_block.gelu = fn


OLD = lambda v, approximate=False: keras.ops.gelu(v, approximate=approximate)  # noqa: E731
rng = np.random.default_rng(0)
MODELS = os.environ.get("AB_MODELS", "ResMLP12,MLPMixerB16").split(",")
TRAIN = os.environ.get("AB_TRAIN", "1") == "1"
for name in MODELS:
    if SMALL and name == "MLPMixerB16":
        continue
    kwargs = dict(input_shape=(32, 32, 3), classes=10) if SMALL else {}
    batch, train_batches = (4, (4,)) if SMALL else (256, (128, 512))
    size = kwargs.get("input_shape", (224, 224, 3))
    x = jax.device_put(rng.integers(0, 256, (max(batch, *train_batches),) + size).astype("float32"))
    keras.config.set_dtype_policy("mixed_bfloat16")
    keras.utils.set_random_seed(0)
    model = getattr(keras_mixer, name)(**kwargs)
    keras.config.set_dtype_policy("float32")
    fused = keras_mixer.fuse_for_inference(model)
    tv = [v.value for v in fused.trainable_variables]
    ntv = [v.value for v in fused.non_trainable_variables]
    xb = x[:batch]
    calls = {}
    for label, fn in (("old_gelu", OLD), ("new_gelu", G.gelu)):
        use_gelu(fn)
        f = jax.jit(lambda tv, ntv, x: fused.stateless_call(tv, ntv, x)[0])
        jax.block_until_ready(f(tv, ntv, xb))
        calls[label] = f
    use_gelu(G.gelu)
    out_old = np.asarray(calls["old_gelu"](tv, ntv, xb), "float32")
    out_new = np.asarray(calls["new_gelu"](tv, ntv, xb), "float32")
    log(what="gelu_agreement", model=name,
        max_rel=float(np.max(np.abs(out_old - out_new)) / np.max(np.abs(out_old))))
    times = {k: [] for k in calls}
    for _ in range(3):
        for k, f in calls.items():
            times[k].append(median_time(lambda: f(tv, ntv, xb), repeats=5))
    for k, v in times.items():
        log(what="fused_stateless", model=name, gelu=k, batch=batch, img_s=batch / min(v))
    fused.compile(jit_compile=True)
    t = median_time(lambda: fused.predict_on_batch(xb))
    log(what="fused_predict_on_batch", model=name, gelu="new_gelu", batch=batch, img_s=batch / t)
    for tb in train_batches if TRAIN else ():
        labels = jax.device_put(rng.integers(0, model.output_shape[-1], tb))
        xt = x[:tb]
        model.compile(optimizer=keras.optimizers.AdamW(1e-4), jit_compile=True,
                      loss="sparse_categorical_crossentropy")
        t = median_time(lambda: model.train_on_batch(xt, labels))
        log(what="train_on_batch", model=name, batch=tb, img_s=tb / t)
        optimizer = model.optimizer
        loss_fn = keras.losses.SparseCategoricalCrossentropy()

        def step(tv, ntv, ov, x, y):
            def loss(tv):
                logits, ntv2 = model.stateless_call(tv, ntv, x, training=True)
                return loss_fn(y, logits), ntv2
            (value, ntv2), grads = jax.value_and_grad(loss, has_aux=True)(tv)
            tv, ov = optimizer.stateless_apply(ov, grads, tv)
            return tv, ntv2, ov, value

        jstep = jax.jit(step, donate_argnums=(0, 1, 2))
        state = [[v.value for v in model.trainable_variables],
                 [v.value for v in model.non_trainable_variables],
                 [v.value for v in optimizer.variables]]

        def run_step():
            state[0], state[1], state[2], value = jstep(state[0], state[1], state[2], xt, labels)
            return value

        if name != "ResMLP12" or tb != 128:
            continue
        t = median_time(run_step)
        log(what="train_stateless_donated", model=name, batch=tb, img_s=tb / t)
print("AB DONE")
