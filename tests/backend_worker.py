"""Run under a chosen KERAS_BACKEND: predict every job of a JSON list and save the outputs
(cross-backend tests). A job loads a `.keras` file (`"model"`) or builds a family's model
with saved weights (`"family"`, `"arguments"`, `"weights"`), then predicts `"inputs"`
(a `.npy` file) into `"output"`."""

import json
import sys

import keras
import numpy as np

import keras_mixer


def load(job):
    if "model" in job:
        return keras.saving.load_model(job["model"])
    builder = keras_mixer.registry.family_info(job["family"]).builder
    return builder(weights=job["weights"], **job["arguments"])


def main(jobs_path):
    with open(jobs_path) as handle:
        jobs = json.load(handle)
    for job in jobs:
        outputs = load(job).predict(np.load(job["inputs"]), verbose=0)
        np.save(job["output"], outputs)


if __name__ == "__main__":
    main(*sys.argv[1:])
