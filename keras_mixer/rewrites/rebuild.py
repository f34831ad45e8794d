"""Rebuilding a model with some layers rewritten, weights moved over, spec kept."""

import dataclasses

import keras

from keras_mixer.introspection import iter_layers
from keras_mixer.models.model import Model
from keras_mixer.models.model import with_spec


def check_model(model, operation):
    """Raises early unless `model` is a `keras.Model`, naming `operation`."""
    if not isinstance(model, keras.Model):
        raise ValueError(
            f"{operation} expects a keras.Model, got {type(model).__name__}; wrap the "
            f"layers in a functional or Sequential model."
        )


def rebuild(model, clone_function, transfer, verb, form=None, **arguments):
    """Clones `model` with `clone_function` and moves the weights over, layer by layer.

    `transfer(source, target)` sets the weights of a rewritten layer and
    returns True; every other layer keeps its weights. `verb` names the
    operation in the error raised when the model cannot be rebuilt. A
    keras_mixer model keeps its spec, with `form` and builder `arguments`
    changed where given.
    """
    try:
        clone = keras.models.clone_model(model, clone_function=clone_function, recursive=True)
    except ValueError as error:
        raise ValueError(
            f"Cannot {verb} model {model.name!r}: it could not be rebuilt from its "
            f"config ({error}). Use a functional or Sequential model."
        ) from None
    for source, target in zip(iter_layers(model), iter_layers(clone)):
        if not transfer(source, target) and not isinstance(source, keras.Model):
            target.set_weights(source.get_weights())
    if isinstance(model, Model):
        spec = model.spec
        spec = dataclasses.replace(spec, form=form or spec.form,
                                   arguments={**spec.arguments, **arguments})
        clone = with_spec(clone, spec)
    return clone
