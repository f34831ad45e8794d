"""Loads a SavedModel with TensorFlow alone and prints its predictions.

Run as a script (`python tf_serving_client.py EXPORT_DIR IMAGES.npy`), it
imports neither keras nor keras_mixer: it sees the export exactly as a
TensorFlow server does.
"""

import json
import sys

import numpy as np
import tensorflow as tf


def predict(export_dir, images):
    serving = tf.saved_model.load(export_dir).signatures["serving_default"]
    outputs = serving(images=tf.constant(images, tf.float32))
    return {name: tensor.numpy().tolist() for name, tensor in outputs.items()}


if __name__ == "__main__":
    print(json.dumps(predict(sys.argv[1], np.load(sys.argv[2]))))
