"""The bounds every checkpoint reader enforces on a file before it allocates or assigns.

A checkpoint file is untrusted input: its declared sizes may lie, its dtypes
may not be numbers, its structure may be built to take exponential time.
These limits hold for every format (see docs/weights.md, "Safety"):

- an array's dtype is a real number type (float, int, unsigned, bool);
  strings, objects, complex and structured dtypes are refused;
- an array has at most `MAX_DIMS` dimensions and non-negative sizes;
- a zip member may not declare more bytes than it can hold: stored members
  exactly their compressed size, deflated ones at most `MAX_DEFLATE_RATIO`
  times it (deflate's own limit is about 1032), and only these two methods.

Example:

>>> import numpy as np
>>> check_dtype(np.dtype("float16"), "w.npz", "a")
>>> check_dtype(np.dtype("<U3"), "w.npz", "a")
Traceback (most recent call last):
...
ValueError: Checkpoint 'w.npz', array 'a': dtype <U3 is not a real number type (float, int or bool); nothing was loaded.
"""

import zipfile

import numpy as np

MAX_DIMS = 32
MAX_DEFLATE_RATIO = 1032
NUMBER_KINDS = "fiub"


def check_dtype(dtype, path, key):
    """Raises unless `dtype` is a plain float, int, unsigned or bool dtype."""
    if not isinstance(dtype, np.dtype) or dtype.kind not in NUMBER_KINDS or dtype.fields:
        raise ValueError(
            f"Checkpoint {path!r}, array {key!r}: dtype {dtype} is not a real number "
            f"type (float, int or bool); nothing was loaded."
        )


def is_count(value):
    """Whether `value` is a plain non-negative int (bools and floats are not)."""
    return type(value) is int and value >= 0


def check_shape(shape, path, key):
    """Returns `shape` as a tuple after checking it lists at most `MAX_DIMS` counts."""
    if not isinstance(shape, (tuple, list)) or len(shape) > MAX_DIMS or not all(map(is_count, shape)):
        raise ValueError(
            f"Checkpoint {path!r}, array {key!r}: shape {short(shape)} is not a list of "
            f"at most {MAX_DIMS} non-negative integers."
        )
    return tuple(shape)


def element_count(shape):
    """The number of elements of a checked shape (Python ints: no overflow)."""
    count = 1
    for size in shape:
        count *= size
    return count


def check_zip_members(archive, path):
    """Raises unless every member of `archive` declares a size it can really hold."""
    names = [info.filename for info in archive.infolist()]
    if len(set(names)) != len(names):
        raise ValueError(f"Cannot read checkpoint {path!r}: a zip member name appears twice.")
    for info in archive.infolist():
        if info.compress_type == zipfile.ZIP_STORED:
            plausible = info.file_size == info.compress_size
        elif info.compress_type == zipfile.ZIP_DEFLATED:
            plausible = info.file_size <= MAX_DEFLATE_RATIO * info.compress_size + 64
        else:
            plausible = False
        if not plausible:
            raise ValueError(
                f"Cannot read checkpoint {path!r}: zip member {info.filename!r} declares "
                f"{info.file_size} bytes from {info.compress_size} bytes (compression "
                f"method {info.compress_type}); only stored members of their real size "
                f"and deflated ones of at most {MAX_DEFLATE_RATIO}x are read."
            )


def short(value, limit=60):
    """A bounded description of an untrusted value (its repr may be huge)."""
    if isinstance(value, (int, float, str, bool, type(None))) and len(repr(value)) <= limit:
        return repr(value)
    if isinstance(value, (tuple, list)) and len(value) <= 8 and all(
        isinstance(item, (int, float, str, bool, type(None))) for item in value
    ):
        text = repr(value)
        return text if len(text) <= limit else text[:limit] + "..."
    return f"a {type(value).__name__}"
