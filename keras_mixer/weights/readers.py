"""Checkpoint formats: detected from the file's first bytes, read into NumPy arrays.

Formats: Keras `.weights.h5` (HDF5), NumPy `.npz` (the official Flax Mixer
checkpoints), safetensors (timm), and PyTorch zip checkpoints (`.pth`,
`.bin`: official ResMLP and timm). None of the readers runs code from the file.
"""

import json
import os
import struct
import zipfile

import numpy as np

from keras_mixer.weights.pth import load_state_dict

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
ZIP_SIGNATURE = b"PK\x03\x04"
SAFETENSORS_DTYPES = {
    "F64": "<f8", "F32": "<f4", "F16": "<f2", "BF16": "<u2",
    "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1", "U8": "u1", "BOOL": "?",
}
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


def read_npz(path):
    """Reads an `.npz` without pickles; '/'-joined Flax names are kept as keys."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {key: np.asarray(archive[key]) for key in archive.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as error:
        raise ValueError(f"Cannot read NumPy checkpoint {path!r}: {error}.") from None


def read_safetensors(path):
    """Parses a safetensors file (JSON header + raw little-endian tensors)."""
    size = os.path.getsize(path)

    def fail(reason):
        raise ValueError(f"Cannot read safetensors checkpoint {path!r}: {reason}.")

    with open(path, "rb") as handle:
        if size < 8:
            fail("the file is shorter than its 8-byte header length")
        (header_size,) = struct.unpack("<Q", handle.read(8))
        if 8 + header_size > size:
            fail(f"the header claims {header_size} bytes but the file has {size}")
        try:
            header = json.loads(handle.read(header_size))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            fail(f"corrupt header ({error})")
        data = handle.read()
    tensors = {}
    for key, entry in header.items():
        if key == "__metadata__":
            continue
        try:
            dtype = np.dtype(SAFETENSORS_DTYPES[entry["dtype"]])
            begin, end = entry["data_offsets"]
            shape = tuple(entry["shape"])
        except (KeyError, TypeError, ValueError):
            fail(f"corrupt header entry {key!r}")
        count = int(np.prod(shape)) if shape else 1
        if end > len(data) or end - begin != count * dtype.itemsize or begin < 0:
            fail(f"tensor {key!r} lies outside the file (truncated?)")
        array = np.frombuffer(data[begin:end], dtype).reshape(shape)
        if entry["dtype"] == "BF16":
            array = (array.astype(np.uint32) << 16).view(np.float32)
        tensors[key] = array
    return tensors


def read_checkpoint(path):
    """Returns `(format, {key: ndarray})` for a non-Keras checkpoint file."""
    path = os.fspath(path)
    checkpoint_format = detect_format(path)
    readers = {"npz": read_npz, "safetensors": read_safetensors, "pytorch": load_state_dict}
    if checkpoint_format not in readers:
        raise ValueError(f"{path!r} is a Keras weights file, not a foreign checkpoint.")
    return checkpoint_format, readers[checkpoint_format](path)
