"""The serving signatures, written with keras' ExportArchive (TensorFlow or JAX backend).

Signatures (all take any batch size):

- `serving_default`: `images`, float32 `(batch, H, W, C)` pixels in 0-255.
- `serving_uint8`: `images`, uint8 `(batch, H, W, C)`.
- `serving_bytes`: `image_bytes`, string `(batch,)` encoded JPEG/PNG images,
  decoded, resized and centre-cropped in the graph by the model's
  evaluation policy (see `eval_policy.py`).

Each returns `probabilities` float32 `(batch, classes)`, `top_k_classes` int32
`(batch, k)`, `top_k_scores` float32 `(batch, k)` and, when the export was
given class names, `top_k_labels` string `(batch, k)`.
`predict_probabilities` is the model alone (float32 images -> `probabilities`),
the one function the backend converts; the others wrap it in TensorFlow ops.
"""

import keras

from keras_mixer.arguments import positive_int
from keras_mixer.export.eval_policy import decode_and_crop
from keras_mixer.export.eval_policy import eval_policy_for

SIGNATURE_NAMES = ("serving_default", "serving_uint8", "serving_bytes", "predict_probabilities")


def check_labels(labels, classes):
    """Returns `labels` as a list of `classes` strings, or raises a ValueError."""
    if labels is None:
        return None
    if isinstance(labels, str) or not all(isinstance(label, str) for label in labels):
        raise ValueError(f"labels={labels!r} is not supported; expected a list of {classes} strings.")
    labels = list(labels)
    if len(labels) != classes:
        raise ValueError(
            f"{len(labels)} labels were given for a model with {classes} classes; "
            f"expected one label per class."
        )
    return labels


def check_classifier(model):
    """The number of classes of `model`, or a ValueError if it is not a classifier.

    A model built with `include_top=False` (even pooled to `(batch, features)`)
    is refused: its outputs are features, and the signatures would serve them
    as class probabilities.
    """
    if len(model.inputs) != 1 or len(model.outputs) != 1 or len(model.output_shape) != 2:
        raise ValueError(
            f"Model {model.name!r} (inputs {[tuple(x.shape) for x in model.inputs]}, output "
            f"{model.output_shape}) is not supported; export expects an image classifier: "
            f"one (batch, H, W, C) input and one (batch, classes) output."
        )
    if model.layers[-1].name != "predictions":
        raise ValueError(
            f"Model {model.name!r} ends in {model.layers[-1].name!r}, not the classification head "
            f"'predictions': its outputs are features (include_top=False), not class probabilities; "
            f"export expects a classifier built with include_top=True."
        )
    return int(model.output_shape[-1])


def check_image_shape(images, image_shape):
    """TensorFlow graph: `images` unchanged, after checking it is `(batch,) + image_shape`.

    A server does not check a request against the signature's shape, and the
    model would reshape an image of the wrong size into several rows.
    """
    import tensorflow as tf

    expected = ", ".join(str(side) for side in image_shape)
    check = tf.debugging.assert_equal(
        tf.shape(images)[1:], tf.constant(image_shape, tf.int32),
        message=f"images must have shape (batch, {expected}); the shape given is x, the expected one y.",
    )
    with tf.control_dependencies([check]):
        return tf.identity(images)


def check_top_k(top_k):
    return positive_int("top_k", top_k)


def write_serving_archive(model, path, labels=None, top_k=5, crop_ratio=None):
    """Writes the serving signatures of `model` as a SavedModel at `path`.

    Needs the TensorFlow or JAX backend (keras' ExportArchive); `top_k` is
    capped at the number of classes; `crop_ratio` None takes the family's.
    """
    import tensorflow as tf

    classes = check_classifier(model)
    labels = check_labels(labels, classes)
    top_k = min(check_top_k(top_k), classes)
    policy = eval_policy_for(model, crop_ratio)
    image_shape = tuple(model.input_shape[1:])
    archive = keras.export.ExportArchive()
    archive.track(model)
    def call_model(images):
        if keras.config.backend() == "tensorflow":  # from JAX, jax2tf checks the shape itself
            images = check_image_shape(images, image_shape)
        return {"probabilities": model(images, training=False)}

    predict = archive.add_endpoint(
        "predict_probabilities",
        call_model,
        input_signature=[tf.TensorSpec((None,) + image_shape, tf.float32, name="images")],
    )
    label_table = None if labels is None else tf.constant(labels)

    def outputs(images):
        probabilities = predict(check_image_shape(images, image_shape))["probabilities"]
        scores, classes_ = tf.math.top_k(probabilities, k=top_k)
        result = {
            "probabilities": probabilities,
            "top_k_classes": tf.cast(classes_, tf.int32),
            "top_k_scores": scores,
        }
        if label_table is not None:
            result["top_k_labels"] = tf.gather(label_table, classes_)
        return result

    def add(name, function, spec):
        endpoint = tf.function(function, input_signature=[spec])
        endpoint.get_concrete_function()
        archive.add_endpoint(name, endpoint)

    add(
        "serving_default",
        lambda images: outputs(images),
        tf.TensorSpec((None,) + image_shape, tf.float32, name="images"),
    )
    add(
        "serving_uint8",
        lambda images: outputs(tf.cast(images, tf.float32)),
        tf.TensorSpec((None,) + image_shape, tf.uint8, name="images"),
    )
    add(
        "serving_bytes",
        lambda image_bytes: outputs(decode_and_crop(image_bytes, policy, image_shape[-1])),
        tf.TensorSpec((None,), tf.string, name="image_bytes"),
    )
    archive.write_out(path, verbose=False)
