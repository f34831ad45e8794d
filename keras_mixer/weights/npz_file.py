"""NumPy `.npz` checkpoints (the official Flax MLP-Mixer files), read header first.

An `.npz` is a zip of `.npy` files. Each member's header (dtype, shape) is
read and checked against the member's real size before any array data is
read, so a file of a few hundred bytes cannot declare a 37 GiB array and
have it allocated; arrays are read later, one at a time, only when the
checkpoint's keys have been checked (`numpy.asarray(member)`). Pickled
(object) arrays are never read.

Example:

>>> import numpy as np, os, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "w.npz")
>>> np.savez(path, **{"stem/kernel": np.ones((2, 3), "float32")})
>>> member = read_npz(path)["stem/kernel"]
>>> member.shape, member.dtype, float(np.asarray(member).sum())
((2, 3), dtype('float32'), 6.0)
"""

import zipfile

import numpy as np

from keras_mixer.weights.bounds import check_dtype
from keras_mixer.weights.bounds import check_shape
from keras_mixer.weights.bounds import check_zip_members
from keras_mixer.weights.bounds import element_count

HEADER_READERS = {
    (1, 0): np.lib.format.read_array_header_1_0,
    (2, 0): np.lib.format.read_array_header_2_0,
}


class NpyMember:
    """One checked array of an `.npz`: `shape`, `dtype`, `ndim`; its data is
    read by `numpy.asarray(member)`."""

    def __init__(self, path, name, shape, dtype, fortran_order, offset):
        self.path, self.name = path, name
        self.shape, self.dtype, self.fortran_order, self.offset = shape, dtype, fortran_order, offset
        self.ndim = len(shape)

    def __array__(self, dtype=None, copy=None):
        size = element_count(self.shape) * self.dtype.itemsize
        try:
            with zipfile.ZipFile(self.path) as archive, archive.open(self.name) as handle:
                if archive.getinfo(self.name).file_size != self.offset + size:
                    raise ValueError("the file changed since its header was read")
                handle.read(self.offset)
                data = handle.read(size)
        except (OSError, KeyError, EOFError, zipfile.BadZipFile, ValueError) as error:
            raise ValueError(f"Cannot read NumPy checkpoint {self.path!r}, array {self.name!r}: {error}.") from None
        array = np.frombuffer(data, self.dtype).reshape(self.shape, order="F" if self.fortran_order else "C")
        return array if dtype is None else array.astype(dtype)


def _read_header(archive, info, path):
    """Returns the checked `NpyMember` of one zip member."""
    if not info.filename.endswith(".npy"):
        raise ValueError(f"member {info.filename!r} is not an .npy array")
    key = info.filename[: -len(".npy")]
    with archive.open(info) as handle:
        version = np.lib.format.read_magic(handle)
        if version not in HEADER_READERS:
            raise ValueError(f"array {key!r}: .npy format version {version} is not read")
        shape, fortran_order, dtype = HEADER_READERS[version](handle)
        offset = handle.tell()
    check_dtype(dtype, path, key)
    shape = check_shape(shape, path, key)
    declared = element_count(shape) * dtype.itemsize
    if offset + declared != info.file_size:
        raise ValueError(
            f"array {key!r} declares shape {shape} of {dtype} ({declared} bytes), but "
            f"its member holds {info.file_size - offset} bytes of data"
        )
    return key, NpyMember(path, info.filename, shape, dtype, fortran_order, offset)


def read_npz(path):
    """Returns `{key: NpyMember}` of an `.npz` ('/'-joined Flax names are kept
    as keys), every header checked and no array data read; raises a
    `ValueError` naming the file and the array for any malformed member."""
    try:
        with zipfile.ZipFile(path) as archive:
            check_zip_members(archive, path)
            members = dict(_read_header(archive, info, path) for info in archive.infolist())
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as error:
        message = str(error)
        if not message.startswith(("Cannot read", "Checkpoint")):
            message = f"Cannot read NumPy checkpoint {path!r}: {message}."
        raise ValueError(message) from None
    return members
