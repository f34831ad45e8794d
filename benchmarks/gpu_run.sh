#!/bin/bash
# The GPU benchmark (issue 16), for one call on a lent GPU machine:
#
#   bash benchmarks/gpu_run.sh OUT
#
# run from the repository root with keras_mixer importable (TensorFlow is not
# needed). Writes into OUT: results.csv/json (rewritten as each result arrives,
# so a run cut short keeps its rows), results.png, log.txt; and the same in
# OUT/sweep for the second part. Every worker process is stopped after
# WORKER_SECONDS (its rows so far kept), so the whole run stays under
# 5 x WORKER_SECONDS plus start-up: under 7 minutes at the default 75.
#
# Part 1, the table: ResMLP-S12 and Mixer-B/16, bfloat16, inference at
# batch 256 (fused form), training at 128; Keras on JAX, Keras on torch eager
# then jit_compile=True, timm eager, timm + torch.compile.
# Part 2, the sweep (JAX only): bfloat16 and float32, batches 64-1024,
# training at 128 and 512.
#
# Overrides for a smoke run elsewhere: DEVICE (gpu), MODELS, WORKER_SECONDS,
# PYTHON (python).
set -u -o pipefail
OUT=${1:?usage: bash benchmarks/gpu_run.sh OUT_FOLDER}
DEVICE=${DEVICE:-gpu}
MODELS=${MODELS:-ResMLP12,MLPMixerB16}
WORKER_SECONDS=${WORKER_SECONDS:-75}
PYTHON=${PYTHON:-python}
mkdir -p "$OUT/sweep"

benchmark() {
    "$PYTHON" -c 'import sys; from keras_mixer.cli import main; sys.exit(main(sys.argv[1:]))' \
        benchmark --device "$DEVICE" --models "$MODELS" --worker-seconds "$WORKER_SECONDS" "$@"
}

{
    echo "== $(date -u) part 1: the issue's table"
    nvidia-smi -L || true
    benchmark --backends jax,torch --dtypes bfloat16 --batches 256 --train-batches 128 \
        --forms fused --jit xla,on --timm-compiled --output "$OUT"
    code=$?
    echo "== $(date -u) part 1 exit $code"
} 2>&1 | tee "$OUT/log.txt"
{
    echo "== $(date -u) part 2: the JAX sweep"
    benchmark --backends jax --no-timm --dtypes bfloat16,float32 --batches 64,256,1024 \
        --train-batches 128,512 --forms fused --jit xla --output "$OUT/sweep"
    code=$?
    echo "== $(date -u) part 2 exit $code"
} 2>&1 | tee "$OUT/sweep/log.txt"
