"""Run under a chosen KERAS_BACKEND: build a model from a JSON config, load
weights, predict on saved images and write the outputs (cross-backend tests)."""

import json
import sys

import numpy as np

import keras_mixer


def main(spec_path, weights_path, images_path, output_path):
    with open(spec_path) as handle:
        spec = json.load(handle)
    builder = getattr(keras_mixer, spec.pop("builder"))
    model = builder(weights=weights_path, **spec)
    np.save(output_path, model.predict(np.load(images_path), verbose=0))


if __name__ == "__main__":
    main(*sys.argv[1:])
