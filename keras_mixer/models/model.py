"""A functional `keras.Model` that knows what it is: its family, variant and builder arguments.

Every builder returns a `keras_mixer.models.Model`. Its `spec` travels with
it through `.keras` save and load and through the inference rewrites
(`fuse_for_inference`, `reparameterize`), so nothing downstream guesses a
model's family from its layers: the export reads the evaluation transform
from it, the weights loaders the family, `save_preset` the arguments.
"""

import keras

from keras_mixer.spec import ModelSpec


@keras.saving.register_keras_serializable(package="keras_mixer")
class Model(keras.Model):
    """A functional model of keras_mixer with its `ModelSpec` in `spec`.

    Example:

    >>> import keras_mixer
    >>> model = keras_mixer.ResMLP12(input_shape=(32, 32, 3), classes=10)
    >>> model.spec.family, model.spec.variant, model.spec.arguments["classes"]
    ('resmlp', 'resmlp12', 10)
    >>> model.spec.eval_transform.crop_ratio
    0.9
    """

    # `(*args, **kwargs)` keeps Keras' functional serialization and cloning:
    # the config is the graph's plus "spec". `keras.models.clone_model` makes
    # a copy without a spec; `with_spec` gives it one.
    def __init__(self, *args, spec=None, **kwargs):
        super().__init__(*args, **kwargs)
        if isinstance(spec, dict):
            spec = ModelSpec.from_config(spec)
        if spec is not None and not isinstance(spec, ModelSpec):
            raise ValueError(f"spec={spec!r} is not supported; expected a ModelSpec or None.")
        self.spec = spec

    def get_config(self):
        config = super().get_config()
        if self.spec is not None:
            config["spec"] = self.spec.get_config()
        return config


def with_spec(model, spec):
    """`model`'s graph as a `Model` carrying `spec` (compiled the same way)."""
    wrapped = Model(model.inputs, model.outputs, name=model.name, spec=spec)
    if model.compiled:
        wrapped.compile_from_config(model.get_compile_config())
    return wrapped
