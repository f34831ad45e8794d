"""The recipes' optimizers, with the variables spared from weight decay kept in their config.

`keras.optimizers.AdamW(...).exclude_from_weight_decay(var_names=...)` is not
part of the optimizer's config: a model saved after `fit` and loaded again
would decay the Affine and layer-scale parameters, norms and biases too.
These subclasses take the names as an argument and save them.
"""

import keras


class _SparesWeightDecay:
    def __init__(self, *args, no_weight_decay=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.no_weight_decay = tuple(no_weight_decay)
        if self.no_weight_decay:
            self.exclude_from_weight_decay(var_names=list(self.no_weight_decay))

    def get_config(self):
        return {**super().get_config(), "no_weight_decay": list(self.no_weight_decay)}


@keras.saving.register_keras_serializable(package="keras_mixer")
class AdamW(_SparesWeightDecay, keras.optimizers.AdamW):
    """`keras.optimizers.AdamW` sparing variables whose names contain `no_weight_decay`.

    Example:

    >>> from keras_mixer.training.optimizers import AdamW
    >>> AdamW(weight_decay=0.1, no_weight_decay=["bias"]).get_config()["no_weight_decay"]
    ['bias']
    """


@keras.saving.register_keras_serializable(package="keras_mixer")
class Lamb(_SparesWeightDecay, keras.optimizers.Lamb):
    """`keras.optimizers.Lamb` sparing variables whose names contain `no_weight_decay`.

    Example:

    >>> from keras_mixer.training.optimizers import Lamb
    >>> Lamb(no_weight_decay=["gamma"]).no_weight_decay
    ('gamma',)
    """
