"""Checkpoint formats: detected from the file's first bytes, read into NumPy arrays.

Formats: Keras `.weights.h5` (HDF5), NumPy `.npz` (the official Flax Mixer
checkpoints), safetensors (timm), and PyTorch zip checkpoints (`.pth`,
`.bin`: official ResMLP and timm). None of the readers runs code from the file.
"""

import os
import zipfile

import numpy as np

from keras_mixer.weights.npz_file import read_npz
from keras_mixer.weights.pth import load_state_dict
from keras_mixer.weights.safetensors_file import read_safetensors

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
ZIP_SIGNATURE = b"PK\x03\x04"
FORMATS = ("keras", "npz", "safetensors", "pytorch")


def detect_format(path):
    """Returns one of `FORMATS` from the file's content, or raises a ValueError."""
    with open(path, "rb") as handle:
        head = handle.read(16)
    if head.startswith(HDF5_SIGNATURE):
        return "keras"
    if head.startswith(ZIP_SIGNATURE):
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
        except zipfile.BadZipFile as error:
            raise ValueError(f"Cannot read checkpoint {path!r}: corrupt zip archive ({error}).") from None
        if any(name.endswith("data.pkl") for name in names):
            return "pytorch"
        if names and all(name.endswith(".npy") for name in names):
            return "npz"
        raise ValueError(
            f"Cannot read checkpoint {path!r}: a zip archive that is neither a NumPy "
            f".npz nor a PyTorch checkpoint."
        )
    if len(head) >= 9 and head[8:9] == b"{":
        return "safetensors"
    if head[:1] == b"\x80":
        raise ValueError(
            f"Cannot read checkpoint {path!r}: a bare pickle (PyTorch's legacy "
            f"format). Re-save it with a recent torch.save (zip format); bare "
            f"pickles are never loaded."
        )
    raise ValueError(
        f"Cannot read checkpoint {path!r}: unknown format; expected a Keras "
        f".weights.h5, a NumPy .npz, a .safetensors or a PyTorch .pth/.bin file."
    )


def read_checkpoint(path, lazy=False):
    """Returns `(format, {key: ndarray})` for a non-Keras checkpoint file.

    Every reader checks the file's structure, sizes and dtypes first. With
    `lazy`, `.npz` arrays are returned unread (`npz_file.NpyMember`: shape,
    dtype, ndim; `numpy.asarray` reads one), so keys and shapes can be
    checked before any array data is read.
    """
    path = os.fspath(path)
    checkpoint_format = detect_format(path)
    readers = {"npz": read_npz, "safetensors": read_safetensors, "pytorch": load_state_dict}
    if checkpoint_format not in readers:
        raise ValueError(f"{path!r} is a Keras weights file, not a foreign checkpoint.")
    state = readers[checkpoint_format](path)
    if not lazy:
        state = {key: np.asarray(value) for key, value in state.items()}
    return checkpoint_format, state
