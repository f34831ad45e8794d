"""A functional `keras.Model` that knows what it is: its family, variant and builder arguments.

Every builder returns a `keras_mixer.models.Model`. Its `spec` travels with
it through `.keras` save and load and through the inference rewrites
(`fuse_for_inference`, `reparameterize`), so nothing downstream guesses a
model's family from its layers: the export reads the evaluation transform
from it, the weights loaders the family, `save_preset` the arguments.
"""

import contextlib

import keras

from keras_mixer.spec import ModelSpec


def remat_scope(layer_names):
    """A `keras.RematScope` recomputing the layers named `layer_names` in the backward pass.

    Layers made inside it keep their activations only at their boundaries
    while training; with no names it changes nothing.

    Example:

    >>> import keras
    >>> with remat_scope(["block_0"]):
    ...     block = keras.layers.Dense(4, name="block_0")
    >>> block._remat_mode.layer_names
    ['block_0']
    """
    if not layer_names:
        return contextlib.nullcontext()
    return keras.RematScope(mode="list_of_layers", layer_names=list(layer_names))


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
    # the config is the graph's plus "spec" and "remat_layers" (the blocks a
    # builder made with `remat=True`, remade the same way on loading).
    # `keras.models.clone_model` makes a copy without a spec; `with_spec`
    # gives it one.
    def __init__(self, *args, spec=None, remat_layers=(), **kwargs):
        super().__init__(*args, **kwargs)
        if isinstance(spec, dict):
            spec = ModelSpec.from_config(spec)
        if spec is not None and not isinstance(spec, ModelSpec):
            raise ValueError(f"spec={spec!r} is not supported; expected a ModelSpec or None.")
        self.spec = spec
        self.remat_layers = tuple(remat_layers)

    def get_config(self):
        config = super().get_config()
        if self.spec is not None:
            config["spec"] = self.spec.get_config()
        if self.remat_layers:
            config["remat_layers"] = list(self.remat_layers)
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        with remat_scope(config.get("remat_layers")):
            return super().from_config(config, custom_objects=custom_objects)


def with_spec(model, spec):
    """`model`'s graph as a `Model` carrying `spec` (compiled the same way)."""
    wrapped = Model(model.inputs, model.outputs, name=model.name, spec=spec,
                    remat_layers=getattr(model, "remat_layers", ()))
    if model.compiled:
        wrapped.compile_from_config(model.get_compile_config())
    return wrapped
