"""Timing a call: first call (compile included), then repeated timed calls."""

import time

import numpy as np


def time_calls(function, repeats, warmup=1):
    """Returns `(first_call_s, [seconds of each timed call])`.

    The first call (tracing and compilation included) is timed on its own;
    `warmup - 1` further untimed calls follow before the `repeats` timed ones.
    """
    start = time.perf_counter()
    function()
    first = time.perf_counter() - start
    for _ in range(max(warmup - 1, 0)):
        function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return first, times


def summarize(times, batch):
    """Images/s from the median call, and p50/p99 call latency in milliseconds."""
    seconds = np.asarray(times, "float64")
    median = float(np.median(seconds))
    return {
        "images_per_s": batch / median,
        "latency_p50_ms": 1e3 * median,
        "latency_p99_ms": 1e3 * float(np.percentile(seconds, 99)),
    }
