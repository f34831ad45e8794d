"""GPU probe (ran on an H200 on 2026-12-04; results in layouts_h200_2026-12-04.json): where does ResMLP-S12's time go on JAX, and which layout is fastest.

python benchmarks/gpu_probes/layouts.py OUT [--small]   (--small: CPU smoke test at tiny sizes)
"""
import json
import os
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "jax")
import jax
import jax.numpy as jnp
import numpy as np

OUT = sys.argv[1]
SMALL = "--small" in sys.argv
RESULTS = []
TAG = os.environ.get("EXPLORE_TAG", "main")
QUICK = bool(os.environ.get("EXPLORE_QUICK"))


def log(**row):
    row["tag"] = TAG
    RESULTS.append(row)
    print(json.dumps(row), flush=True)
    with open(os.path.join(OUT, f"explore_{TAG}.json"), "w") as f:
        json.dump(RESULTS, f, indent=1)


def bench(fn, *args, repeats=10, warmup=2):
    for _ in range(warmup):
        jax.block_until_ready(fn(*args))
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - t)
    return float(np.median(times))


# ---------------------------------------------------------------- peaks
if not SMALL and not QUICK:
    n = 8192
    a = jax.random.normal(jax.random.key(0), (n, n), jnp.bfloat16)
    b = jax.random.normal(jax.random.key(1), (n, n), jnp.bfloat16)
    mm = jax.jit(lambda a, b: a @ b)
    t = bench(mm, a, b)
    log(what="peak_bf16", tflops=2 * n**3 / t / 1e12)
    x = jax.random.normal(jax.random.key(0), (1 << 28,), jnp.float32)
    cp = jax.jit(lambda x: x * 1.0001)
    t = bench(cp, x)
    log(what="copy_bw", tb_s=2 * x.size * 4 / t / 1e12)
    del a, b, x

# ---------------------------------------------------------------- pure JAX ResMLP-S12 (fused form)
S, C, H, P, DEPTH = (196, 384, 1536, 16, 12) if not SMALL else (16, 32, 128, 4, 2)
IMG = 224 if not SMALL else 16
CLASSES = 1000
BATCH = 256 if not SMALL else 4
TRAIN_BATCH = 128 if not SMALL else 4
dt = jnp.bfloat16
rng = np.random.default_rng(0)


def w(*shape, s=0.02):
    return jnp.asarray(rng.normal(0, s, shape), jnp.float32)


params = {
    "stem": w(P * P * 3, C), "stem_b": w(C),
    "blocks": [dict(A=w(S, S), scale=1 + w(C), tb=w(S, C), w1=w(C, H), b1=w(H), w2=w(H, C), b2=w(C))
               for _ in range(DEPTH)],
    "head": w(C, CLASSES), "head_b": w(CLASSES),
}


def patches(x):
    b = x.shape[0]
    g = IMG // P
    x = x.reshape(b, g, P, g, P, 3).transpose(0, 1, 3, 2, 4, 5).reshape(b, g * g, P * P * 3)
    return x


def make_forward(layout, token, approximate):
    def gelu(v):
        return jax.nn.gelu(v, approximate=approximate)

    def forward(p, x):
        x = x.astype(dt)
        t = patches(x) @ p["stem"].astype(dt) + p["stem_b"].astype(dt)  # (B,S,C)
        if layout == "sbc":
            t = t.transpose(1, 0, 2)
        for blk in p["blocks"]:
            A = blk["A"].astype(dt)
            if layout == "sbc":
                s, b, c = t.shape
                y = (A.T @ t.reshape(s, b * c)).reshape(s, b, c)
                y = y * blk["scale"].astype(dt) + blk["tb"].astype(dt)[:, None, :]
            else:
                if token == "einsum":
                    y = jnp.einsum("bsc,st->btc", t, A)
                elif token == "bmm":
                    y = jnp.matmul(jnp.broadcast_to(A.T, (t.shape[0],) + A.shape), t)
                elif token == "transpose":
                    y = jnp.swapaxes(jnp.swapaxes(t, 1, 2) @ A, 1, 2)
                y = y * blk["scale"].astype(dt) + blk["tb"].astype(dt)
            t = t + y
            h = gelu(t @ blk["w1"].astype(dt) + blk["b1"].astype(dt))
            t = t + h @ blk["w2"].astype(dt) + blk["b2"].astype(dt)
        pooled = t.mean(axis=0 if layout == "sbc" else 1)
        return pooled.astype(jnp.float32) @ p["head"] + p["head_b"]

    return forward


images = jax.device_put(jnp.asarray(rng.integers(0, 256, (BATCH, IMG, IMG, 3)), jnp.float32))
timgs = images[:TRAIN_BATCH]
labels = jax.device_put(jnp.asarray(rng.integers(0, CLASSES, TRAIN_BATCH)))
ref = None
for layout, token in (("bsc", "einsum"), ("bsc", "bmm"), ("bsc", "transpose"), ("sbc", "-")):
    for approximate in (False,) if QUICK else (False, True):
        if QUICK and token in ("bmm", "transpose"):
            continue
        f = jax.jit(make_forward(layout, token, approximate))
        out = f(params, images)
        if ref is None:
            ref = np.asarray(out, np.float32)
        err = float(np.max(np.abs(np.asarray(out) - ref)) / np.max(np.abs(ref)))
        t = bench(f, params, images)
        log(what="jax_forward", layout=layout, token=token, tanh_gelu=approximate, batch=BATCH,
            img_s=BATCH / t, ms=t * 1e3, err_vs_first=err)

        def loss(p, x, y, fwd=make_forward(layout, token, approximate)):
            logits = fwd(p, x)
            return -jnp.mean(jax.nn.log_softmax(logits)[jnp.arange(y.shape[0]), y])

        @jax.jit
        def step(p, x, y):
            l, g = jax.value_and_grad(loss)(p, x, y)
            return jax.tree.map(lambda a, b: a - 1e-4 * b, p, g), l

        t = bench(step, params, timgs, labels)
        log(what="jax_train_sgd", layout=layout, token=token, tanh_gelu=approximate,
            batch=TRAIN_BATCH, img_s=TRAIN_BATCH / t, ms=t * 1e3)
        if not QUICK and layout == "bsc" and token == "einsum" and not approximate:
            with open(os.path.join(OUT, "hlo_forward_bsc.txt"), "w") as fh:
                fh.write(f.lower(params, images).compile().as_text())
        if not QUICK and layout == "sbc" and not approximate:
            with open(os.path.join(OUT, "hlo_forward_sbc.txt"), "w") as fh:
                fh.write(f.lower(params, images).compile().as_text())

# ---------------------------------------------------------------- Keras keras_mixer as users run it
if QUICK:
    print("DONE")
    sys.exit(0)
import keras  # noqa: E402
import keras_mixer  # noqa: E402

for name, batch, tbatch in (("ResMLP12", BATCH, TRAIN_BATCH), ("MLPMixerB16", BATCH, TRAIN_BATCH)):
    keras.config.set_dtype_policy("mixed_bfloat16")
    kwargs = {} if not SMALL else dict(input_shape=(IMG, IMG, 3), classes=10)
    if SMALL and name == "MLPMixerB16":
        continue
    model = getattr(keras_mixer, name)(**kwargs)
    fused = keras_mixer.fuse_for_inference(model)
    fused.compile(jit_compile=True)
    x = images[:batch]
    t = bench(lambda: fused.predict_on_batch(x))
    log(what="keras_predict_on_batch", model=name, batch=batch, img_s=batch / t)
    tv = [v.value for v in fused.trainable_variables]
    ntv = [v.value for v in fused.non_trainable_variables]
    call = jax.jit(lambda tv, ntv, x: fused.stateless_call(tv, ntv, x, training=False)[0])
    t = bench(call, tv, ntv, x)
    log(what="keras_stateless_jit", model=name, batch=batch, img_s=batch / t)
    if name == "ResMLP12":
        with open(os.path.join(OUT, "hlo_keras_resmlp12.txt"), "w") as fh:
            fh.write(call.lower(tv, ntv, x).compile().as_text())
    model.compile(optimizer=keras.optimizers.AdamW(1e-4), jit_compile=True,
                  loss="sparse_categorical_crossentropy")
    xt = images[:tbatch]
    yt = labels[:tbatch] % model.output_shape[-1]
    t = bench(lambda: model.train_on_batch(xt, yt), repeats=10)
    log(what="keras_train_on_batch", model=name, batch=tbatch, img_s=tbatch / t)
    keras.config.set_dtype_policy("float32")
print("DONE")
