"""Exporting models for serving: versioned SavedModels for TF Serving, TFLite and ONNX."""

from keras_mixer.export.eval_policy import EvalPolicy
from keras_mixer.export.eval_policy import eval_policy_for
from keras_mixer.export.onnx import export_onnx
from keras_mixer.export.saved_model import export_saved_model
from keras_mixer.export.signatures import SIGNATURE_NAMES
from keras_mixer.export.tflite import export_tflite
from keras_mixer.export.tflite import saved_model_to_tflite
from keras_mixer.staging import next_version

__all__ = [
    "EvalPolicy",
    "SIGNATURE_NAMES",
    "eval_policy_for",
    "export_onnx",
    "export_saved_model",
    "export_tflite",
    "next_version",
    "saved_model_to_tflite",
]
