"""Checks of builder and layer arguments: each returns the value or raises a ValueError.

Every error names the argument, the value given and what was expected, so
`token_mixing_dim=0`, `layer_scale_init=nan` or `dropout_rate="0.1"` fail
early and clearly instead of deep inside a build. Booleans are not numbers
here (`True` is an `int` in Python, but `depth=True` is a mistake).

Example:

>>> from keras_mixer import arguments
>>> arguments.positive_int("depth", 12)
12
>>> arguments.positive_int("depth", 2.5)
Traceback (most recent call last):
...
ValueError: depth=2.5 is not supported; expected a positive integer.
"""

import math
import numbers


def _fail(name, value, expected):
    raise ValueError(f"{name}={value!r} is not supported; expected {expected}.")


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def positive_int(name, value):
    """`value` as an int >= 1."""
    if not _is_int(value) or value < 1:
        _fail(name, value, "a positive integer")
    return int(value)


def positive_int_pair(name, value):
    """`value` (an int, or a pair of them) as a pair `(height, width)` of ints >= 1."""
    pair = value if isinstance(value, (tuple, list)) else (value, value)
    if len(pair) != 2 or not all(_is_int(item) and item >= 1 for item in pair):
        _fail(name, value, "a positive integer or a pair (height, width) of positive integers")
    return tuple(int(item) for item in pair)


def optional_positive_int(name, value):
    """None, or `value` as an int >= 1."""
    return None if value is None else positive_int(name, value)


def finite_float(name, value, expected="a finite number"):
    """`value` as a finite float (an int or float, not a bool or string)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        _fail(name, value, expected)
    return float(value)


def positive_float(name, value):
    """`value` as a finite float > 0."""
    value_ = finite_float(name, value, "a finite number > 0")
    if value_ <= 0:
        _fail(name, value, "a finite number > 0")
    return value_


def probability(name, value):
    """`value` as a float in [0, 1): a dropout or stochastic-depth rate."""
    value_ = finite_float(name, value, "a number in [0, 1)")
    if not 0.0 <= value_ < 1.0:
        _fail(name, value, "a number in [0, 1)")
    return value_


def fraction(name, value):
    """`value` as a float in [0, 1]."""
    value_ = finite_float(name, value, "a number in [0, 1]")
    if not 0.0 <= value_ <= 1.0:
        _fail(name, value, "a number in [0, 1]")
    return value_


def boolean(name, value):
    """`value`, which must be True or False."""
    if not isinstance(value, bool):
        _fail(name, value, "True or False")
    return value


def one_of(name, value, choices):
    """`value`, which must be one of `choices`."""
    if not any(value is choice or (type(value) is type(choice) and value == choice)
               for choice in choices):
        _fail(name, value, f"one of {tuple(choices)}")
    return value


def activation(name, value):
    """`value`, which must be None, a callable or a name `keras.activations.get` knows."""
    import keras

    if value is None or callable(value):
        return value
    try:
        keras.activations.get(value)
    except (ValueError, TypeError):
        _fail(name, value, "None, a callable or a keras.activations name such as 'softmax'")
    return value
