"""The papers' training recipes as data: optimizer, schedule, loss, augmentation.

- "mixer" (MLP-Mixer, Tolstikhin et al. 2021): Adam with decoupled weight
  decay (AdamW), beta 0.9 / 0.999, linear warm-up then linear decay, gradient
  clipping at global norm 1.0.
- "deit" (ResMLP trained with DeiT's recipe, Touvron et al. 2021): LAMB,
  learning rate 5e-3 at batch 2048 scaled linearly with the batch, weight
  decay 0.2 not applied to Affine alpha/beta, layer-scale gamma, biases or
  norms, cosine decay after a 5-epoch warm-up, label smoothing 0.1,
  RandAugment, MixUp 0.8, CutMix 1.0, random erasing 0.25, stochastic
  depth 0.1; DeiT's model EMA (decay 0.99996) and repeated augmentation
  (3 copies of each image per epoch) from facebookresearch/deit main.py.
- "finetune": fine-tuning a pretrained model at another resolution or on
  another, smaller data set: AdamW at 1e-5 for a batch of 512, 20
  epochs (5 of warm-up) with cosine decay, weight decay 0.1, label smoothing
  0.1, RandAugment, MixUp 0.8 / CutMix 1.0, no random erasing, no repeated
  augmentation, as in DeiT III's fine-tuning commands (facebookresearch/deit
  README_revenge.md: learning rate 1e-5 unscaled on 8 GPUs x 64 images);
  DeiT's own 224 -> 384 fine-tune (README_deit.md) is as short and gentle:
  30 epochs at 5e-6 for a batch of 512.
- "digits": the small-data recipe the CLI uses for scikit-learn's digits.
"""

import dataclasses

import keras

from keras_mixer.arguments import one_of
from keras_mixer.arguments import positive_int
from keras_mixer.arguments import probability
from keras_mixer.training.augmentation import AUGMENTATIONS
from keras_mixer.training.augmentation import make_augmentation
from keras_mixer.training.optimizers import AdamW
from keras_mixer.training.optimizers import Lamb
from keras_mixer.training.schedules import WarmupDecay

# Substrings of the variable names that get no weight decay: Affine and
# layer-scale (alpha, beta), LayerNorm (gamma, beta) and every bias.
NO_WEIGHT_DECAY = ("alpha", "beta", "gamma", "bias")
OPTIMIZERS = ("adamw", "lamb")


@dataclasses.dataclass(frozen=True)
class Recipe:
    """A training set-up; `dataclasses.replace(recipe, epochs=5)` changes one part.

    The learning rate is `learning_rate * batch_size / reference_batch_size`
    (the linear scaling rule), warmed up over `warmup_epochs`.

    Example:

    >>> from keras_mixer.training import Recipe
    >>> optimizer = Recipe("mine", optimizer="lamb", ema_momentum=0.999).make_optimizer(100, 10, 64)
    >>> type(optimizer).__name__, optimizer.use_ema, optimizer.ema_momentum
    ('Lamb', True, 0.999)
    """

    name: str
    optimizer: str = "adamw"
    learning_rate: float = 1e-3
    reference_batch_size: int = 4096
    weight_decay: float = 0.1
    beta_1: float = 0.9
    beta_2: float = 0.999
    global_clipnorm: float | None = 1.0
    warmup_epochs: float = 5.0
    decay: str = "linear"
    epochs: int = 300
    batch_size: int = 4096
    label_smoothing: float = 0.0
    rand_augment: tuple | None = None  # (num_ops, factor) of keras.layers.RandAugment
    mixup_alpha: float = 0.0
    cutmix_factor: float = 0.0
    random_erasing: float = 0.0
    drop_path_rate: float = 0.0
    # Exponential moving average of the weights (the optimizer's `use_ema`):
    # `fit` ends with the averaged weights. None: off.
    ema_momentum: float | None = None
    # Repeated augmentation (DeiT's RASampler): each image of an epoch comes
    # this many times in a row, each copy augmented on its own, and the epoch
    # keeps its length (so it holds 1/repeats of the images). 1: off.
    repeated_augmentation: int = 1
    # The library of RandAugment, MixUp and CutMix: "keras" (core) or "keras_cv".
    augmentation: str = "keras"

    def __post_init__(self):
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(
                f"optimizer={self.optimizer!r} is not supported; expected one of {OPTIMIZERS}."
            )
        if self.ema_momentum is not None:
            probability("ema_momentum", self.ema_momentum)
        positive_int("repeated_augmentation", self.repeated_augmentation)
        one_of("augmentation", self.augmentation, AUGMENTATIONS)

    def scaled_learning_rate(self, batch_size):
        return self.learning_rate * batch_size / self.reference_batch_size

    def make_optimizer(self, steps_per_epoch, epochs=None, batch_size=None):
        """The optimizer with its warm-up/decay schedule for this many steps."""
        epochs = self.epochs if epochs is None else epochs
        batch_size = self.batch_size if batch_size is None else batch_size
        total = max(int(steps_per_epoch * epochs), 2)
        warmup = min(int(steps_per_epoch * self.warmup_epochs), total - 1)
        schedule = WarmupDecay(
            self.scaled_learning_rate(batch_size), total, warmup, decay=self.decay
        )
        common = dict(
            learning_rate=schedule,
            weight_decay=self.weight_decay,
            beta_1=self.beta_1,
            beta_2=self.beta_2,
            global_clipnorm=self.global_clipnorm,
            no_weight_decay=NO_WEIGHT_DECAY,
        )
        if self.ema_momentum is not None:
            common.update(use_ema=True, ema_momentum=self.ema_momentum)
        if self.optimizer == "lamb":
            return Lamb(**common)
        return AdamW(**common)

    def make_loss(self):
        """Cross-entropy on one-hot (possibly mixed) labels, with smoothing."""
        return keras.losses.CategoricalCrossentropy(label_smoothing=self.label_smoothing)

    def make_augmentation(self, seed=None):
        """`(image_layers, mixing_layers)`: see `augmentation.make_augmentation`."""
        return make_augmentation(self, seed)


RECIPES = {
    "mixer": Recipe(
        name="mixer",
        optimizer="adamw",
        learning_rate=3e-3,
        reference_batch_size=4096,
        weight_decay=0.1,
        warmup_epochs=10_000 / 312,  # 10k steps of batch 4096 on ImageNet-1k
        decay="linear",
        epochs=300,
        batch_size=4096,
    ),
    "deit": Recipe(
        name="deit",
        optimizer="lamb",
        learning_rate=5e-3,
        reference_batch_size=2048,
        weight_decay=0.2,
        global_clipnorm=None,
        warmup_epochs=5,
        decay="cosine",
        epochs=400,
        batch_size=2048,
        label_smoothing=0.1,
        rand_augment=(2, 0.9),
        mixup_alpha=0.8,
        cutmix_factor=1.0,
        random_erasing=0.25,
        drop_path_rate=0.1,
        ema_momentum=0.99996,
        repeated_augmentation=3,
    ),
    "finetune": Recipe(
        name="finetune",
        optimizer="adamw",
        learning_rate=1e-5,
        reference_batch_size=512,
        weight_decay=0.1,
        global_clipnorm=None,
        warmup_epochs=5,
        decay="cosine",
        epochs=20,
        batch_size=512,
        label_smoothing=0.1,
        rand_augment=(2, 0.9),
        mixup_alpha=0.8,
        cutmix_factor=1.0,
        drop_path_rate=0.1,
    ),
    "digits": Recipe(
        name="digits",
        optimizer="adamw",
        learning_rate=2e-3,
        reference_batch_size=64,
        weight_decay=0.05,
        warmup_epochs=3,
        decay="cosine",
        epochs=60,
        batch_size=64,
        label_smoothing=0.1,
        drop_path_rate=0.1,
    ),
}


def get_recipe(name, **overrides):
    """Returns the named `Recipe`, with any field replaced by `overrides`.

    Example:

    >>> from keras_mixer.training import get_recipe
    >>> recipe = get_recipe("deit", batch_size=256)
    >>> recipe.optimizer, round(recipe.scaled_learning_rate(256), 6)
    ('lamb', 0.000625)
    """
    if name not in RECIPES:
        raise ValueError(f"Unknown recipe {name!r}; expected one of {sorted(RECIPES)}.")
    return dataclasses.replace(RECIPES[name], **overrides)
