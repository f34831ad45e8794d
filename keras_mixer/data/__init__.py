"""Data that ships with the dependencies, ready for the models."""

from keras_mixer.data.digits import load_digits

__all__ = ["load_digits"]
