"""Speed of keras_mixer models against timm and against the machine's matmul peak.

`run_benchmark(Settings(...))` measures, in one worker process per Keras
backend and one for timm (threads pinned equally), inference images/s at
each batch size with p50/p99 latency, training images/s (one AdamW step
per batch), the resident-memory high-water mark, in float32 and bfloat16,
plus the float32/bfloat16 matmul peak of each framework; GFLOP/s come from
`forward_flops`. `write_report` writes CSV, JSON and a PNG chart. The
`keras-mixer benchmark` command runs it all; see benchmarks/README.md.
"""

from keras_mixer.benchmark.flops import forward_flops
from keras_mixer.benchmark.models import MODELS
from keras_mixer.benchmark.report import table
from keras_mixer.benchmark.report import write_report
from keras_mixer.benchmark.runner import Settings
from keras_mixer.benchmark.runner import run_benchmark

__all__ = ["MODELS", "Settings", "forward_flops", "run_benchmark", "table", "write_report"]
