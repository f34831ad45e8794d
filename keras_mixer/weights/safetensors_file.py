"""safetensors checkpoints (timm): a JSON header checked field by field, then raw tensors.

The file is an 8-byte little-endian header length, a JSON object
`{key: {"dtype", "shape", "data_offsets"}}` (plus an optional
`"__metadata__"` object), then the tensors' bytes. Every field is checked
before any tensor is read: the header length against the file and
`MAX_HEADER_BYTES`, each dtype against the real number types, each shape
(non-negative integers), each offset pair (integers inside the data, no two
tensors overlapping, exactly the bytes the dtype and shape need). Any
malformed field is a `ValueError` naming the file, the tensor and the field.

Example:

>>> import json, os, struct, tempfile
>>> header = json.dumps({"w": {"dtype": "F32", "shape": [2.0], "data_offsets": [0, 8]}}).encode()
>>> path = os.path.join(tempfile.mkdtemp(), "w.safetensors")
>>> _ = open(path, "wb").write(struct.pack("<Q", len(header)) + header + bytes(8))
>>> read_safetensors(path)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
ValueError: Checkpoint '...w.safetensors', array 'w': shape [2.0] is not a list of at most 32 non-negative integers.
"""

import json
import os
import struct

import numpy as np

from keras_mixer.weights.bounds import check_shape
from keras_mixer.weights.bounds import element_count
from keras_mixer.weights.bounds import is_count
from keras_mixer.weights.bounds import short

SAFETENSORS_DTYPES = {
    "F64": "<f8", "F32": "<f4", "F16": "<f2", "BF16": "<u2",
    "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1", "U8": "u1", "BOOL": "?",
}
MAX_HEADER_BYTES = 100 << 20  # the limit of the safetensors library itself


def _fail(path, field, reason):
    raise ValueError(f"Cannot read safetensors checkpoint {path!r}: {field}: {reason}.")


def _read_header(handle, path, size):
    """Returns `(header dict, header length)` after checking the length and the JSON."""
    if size < 8:
        _fail(path, "header length", f"the file has {size} bytes, fewer than the 8 of the length")
    (length,) = struct.unpack("<Q", handle.read(8))
    if length > MAX_HEADER_BYTES:
        _fail(path, "header length", f"{length} bytes; a header has at most {MAX_HEADER_BYTES}")
    if 8 + length > size:
        _fail(path, "header length", f"{length} bytes, but the file has {size - 8} after the length")
    try:
        header = json.loads(handle.read(length))
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        _fail(path, "header", f"not valid JSON ({str(error)[:200]})")
    if not isinstance(header, dict):
        _fail(path, "header", f"a JSON {type(header).__name__}, expected an object")
    if not isinstance(header.get("__metadata__", {}), dict):
        _fail(path, "__metadata__", "expected an object")
    return header, length


def _check_entry(key, entry, path, data_size):
    """Returns `(dtype name, shape, begin, end)` of one checked header entry."""
    field = f"tensor {key!r}"
    if not isinstance(entry, dict):
        _fail(path, field, f"{short(entry)}, expected an object with dtype, shape and data_offsets")
    name = entry.get("dtype")
    if not isinstance(name, str) or name not in SAFETENSORS_DTYPES:
        _fail(path, f"{field} dtype", f"{short(name)} is not a real number type, one of "
              f"{sorted(SAFETENSORS_DTYPES)}")
    shape = check_shape(entry.get("shape"), path, key)
    offsets = entry.get("data_offsets")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(map(is_count, offsets))):
        _fail(path, f"{field} data_offsets", f"{short(offsets)}, expected two non-negative integers")
    begin, end = offsets
    needed = element_count(shape) * np.dtype(SAFETENSORS_DTYPES[name]).itemsize
    if not begin <= end <= data_size or end - begin != needed:
        _fail(path, f"{field} data_offsets", f"[{begin}, {end}] for {needed} bytes of shape "
              f"{shape} {name}, in a data section of {data_size} bytes (truncated?)")
    return name, shape, begin, end


def read_safetensors(path):
    """Returns `{key: ndarray}` of a safetensors file, every header field checked first."""
    size = os.path.getsize(path)
    with open(path, "rb") as handle:
        header, length = _read_header(handle, path, size)
        data_size = size - 8 - length
        entries = {
            key: _check_entry(key, entry, path, data_size)
            for key, entry in header.items() if key != "__metadata__"
        }
        previous_key, previous_end = None, 0
        for key, (_, _, begin, end) in sorted(entries.items(), key=lambda item: item[1][2:]):
            if begin < previous_end:
                _fail(path, f"tensor {key!r} data_offsets", f"[{begin}, {end}] overlaps "
                      f"tensor {previous_key!r}, which ends at {previous_end}")
            previous_key, previous_end = key, max(end, previous_end)
        tensors = {}
        for key, (name, shape, begin, end) in entries.items():
            handle.seek(8 + length + begin)
            data = handle.read(end - begin)
            if len(data) != end - begin:
                _fail(path, f"tensor {key!r}", "the file is shorter than its header says")
            array = np.frombuffer(data, SAFETENSORS_DTYPES[name]).reshape(shape)
            if name == "BF16":
                array = (array.astype(np.uint32) << 16).view(np.float32)
            tensors[key] = array
    return tensors
