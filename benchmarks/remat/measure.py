"""Training memory per image with and without `remat=True`, one subprocess per backend, setting and batch.

Usage: python benchmarks/remat/measure.py [--model MLPMixerB16] [--batches 4,12] [--out FILE]

Each subprocess builds the model, runs two training steps and reports its
peak resident memory (Linux VmHWM). The weights, optimizer state, compiled
code and allocator caches are the same at every batch size, so the slope of
the peak between two batch sizes is what one more image costs while
training: its activations kept for the backward pass (and temporaries).
`remat=True` keeps only each block's input. Linux only.
"""

import argparse
import json
import os
import subprocess
import sys

STEP = r"""
import json, re, sys, time
import numpy as np, keras, keras_mixer

def kb(field):
    return int(re.search(field + r":\s+(\d+)", open("/proc/self/status").read()).group(1))

name, batch, remat = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
model = getattr(keras_mixer, name)(remat=remat)
model.compile(keras.optimizers.AdamW(1e-4), "categorical_crossentropy")
size = model.input_shape[1]
images = np.random.default_rng(0).integers(0, 256, (batch, size, size, 3)).astype("float32")
labels = np.eye(1000, dtype="float32")[np.arange(batch)]
model.train_on_batch(images, labels)
started = time.perf_counter()
model.train_on_batch(images, labels)
print(json.dumps({"step_s": time.perf_counter() - started, "peak_mb": kb("VmHWM") / 1024}))
"""


def measure(backend, model, batch, remat):
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run([sys.executable, "-c", STEP, model, str(batch), "1" if remat else "0"],
                            env=env, capture_output=True, text=True, timeout=3600)
    if result.returncode:
        raise RuntimeError(f"{backend} remat={remat} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="MLPMixerB16")
    parser.add_argument("--batches", default="4,12", help="two batch sizes")
    parser.add_argument("--backends", default="tensorflow,jax,torch")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results.json"))
    args = parser.parse_args()
    small, large = (int(batch) for batch in args.batches.split(","))
    rows = []
    for backend in args.backends.split(","):
        row = {"backend": backend, "model": args.model, "batches": [small, large]}
        for remat in (False, True):
            runs = [measure(backend, args.model, batch, remat) for batch in (small, large)]
            row["remat" if remat else "plain"] = {
                "peak_mb": [run["peak_mb"] for run in runs],
                "mb_per_image": (runs[1]["peak_mb"] - runs[0]["peak_mb"]) / (large - small),
                "step_s_at_large": runs[1]["step_s"],
            }
        plain, remat = row["plain"], row["remat"]
        row["saved_per_image"] = 1 - remat["mb_per_image"] / plain["mb_per_image"]
        row["slowdown"] = remat["step_s_at_large"] / plain["step_s_at_large"]
        rows.append(row)
        print(f"{backend:10} {args.model} training memory per image {plain['mb_per_image']:6.1f} MB -> "
              f"{remat['mb_per_image']:6.1f} MB ({row['saved_per_image']:.0%} saved); peak at batch {large} "
              f"{plain['peak_mb'][1]:.0f} -> {remat['peak_mb'][1]:.0f} MB; step {plain['step_s_at_large']:.1f} s -> "
              f"{remat['step_s_at_large']:.1f} s", flush=True)
    staged = args.out + ".partial"
    with open(staged, "w") as file:
        json.dump(rows, file, indent=1)
    os.replace(staged, args.out)


if __name__ == "__main__":
    main()
