"""Learning-rate schedule of both papers: linear warm-up, then linear or cosine decay."""

import math

import keras
from keras import ops

DECAYS = ("linear", "cosine")


@keras.saving.register_keras_serializable(package="keras_mixer")
class WarmupDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Rises linearly from 0 to `peak` over `warmup_steps`, then decays to `final`.

    The decay ("linear" as in MLP-Mixer, "cosine" as in DeiT/ResMLP) runs
    from the end of the warm-up to `total_steps` and stays at `final` after.

    Example:

    >>> from keras_mixer.training import WarmupDecay
    >>> schedule = WarmupDecay(1e-3, total_steps=100, warmup_steps=10)
    >>> [round(float(schedule(step)), 6) for step in (0, 5, 10, 55, 100)]
    [0.0, 0.0005, 0.001, 0.0005, 0.0]
    """

    def __init__(self, peak, total_steps, warmup_steps=0, decay="cosine", final=0.0):
        if decay not in DECAYS:
            raise ValueError(f"decay={decay!r} is not supported; expected one of {DECAYS}.")
        if not 0 <= warmup_steps < total_steps:
            raise ValueError(
                f"warmup_steps={warmup_steps} with total_steps={total_steps} is not "
                f"supported; expected 0 <= warmup_steps < total_steps."
            )
        self.peak = float(peak)
        self.total_steps = int(total_steps)
        self.warmup_steps = int(warmup_steps)
        self.decay = decay
        self.final = float(final)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        warmup = self.peak * step / max(self.warmup_steps, 1)
        progress = ops.clip(
            (step - self.warmup_steps) / (self.total_steps - self.warmup_steps), 0.0, 1.0
        )
        if self.decay == "cosine":
            remaining = 0.5 * (1.0 + ops.cos(math.pi * progress))
        else:
            remaining = 1.0 - progress
        decayed = self.final + (self.peak - self.final) * remaining
        return ops.where(step < self.warmup_steps, warmup, decayed)

    def get_config(self):
        return {
            "peak": self.peak,
            "total_steps": self.total_steps,
            "warmup_steps": self.warmup_steps,
            "decay": self.decay,
            "final": self.final,
        }
