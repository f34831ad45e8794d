"""Reading PyTorch checkpoints (`.pth`, `.bin`) without ever running code from them.

A PyTorch checkpoint is a zip archive holding a pickle (`data.pkl`) and one
raw file per tensor storage. Unpickling can call any importable function, so
a checkpoint from the internet is untrusted input. Two equally safe routes:

- with torch installed: `torch.load(path, weights_only=True)`, torch's own
  restricted unpickler;
- without torch (TensorFlow- or JAX-only installs, or `use_torch=False`):
  `RestrictedUnpickler` below, which resolves only the handful of globals a
  state dict needs (`OrderedDict`, the tensor-rebuild functions and the
  typed storages) to objects made afresh for each load, refuses every other
  global before anything runs, and checks every tensor's offset, size and
  strides against its storage, and every storage's size against its file.

Both routes check the archive's members first and flatten the result in
bounded work (a dict met twice, too deep or too many values is refused);
the bounds are the constants below and in `bounds.py`.
"""

import collections
import contextlib
import io
import itertools
import pickle
import pickletools
import re
import zipfile

import numpy as np

from keras_mixer.weights.bounds import MAX_DIMS
from keras_mixer.weights.bounds import check_dtype
from keras_mixer.weights.bounds import check_zip_members
from keras_mixer.weights.bounds import element_count
from keras_mixer.weights.bounds import is_count
from keras_mixer.weights.bounds import short

# Storage classes a state dict may name, with the NumPy dtype of their bytes.
# bfloat16 has no NumPy dtype: it is read as uint16 and widened to float32.
STORAGE_DTYPES = {
    "DoubleStorage": "<f8",
    "FloatStorage": "<f4",
    "HalfStorage": "<f2",
    "BFloat16Storage": "<u2",
    "LongStorage": "<i8",
    "IntStorage": "<i4",
    "ShortStorage": "<i2",
    "CharStorage": "i1",
    "ByteStorage": "u1",
    "BoolStorage": "?",
}
# Bounds on what a file may make the reader do (docs/weights.md, "Safety").
MAX_PICKLE_BYTES = 64 << 20  # data.pkl: a state dict's pickle is kilobytes
MAX_ENTRIES = 1_000_000  # values visited when flattening the state dict
MAX_DEPTH = 32  # nesting of dicts
MAX_KEY_LENGTH = 1024
TENSOR_BYTES_PER_STORAGE_BYTE = 4  # tensors may share storages (tied weights), boundedly
MEMO_OPCODES = ("PUT", "BINPUT", "LONG_BINPUT")


class _StorageType:
    """A storage class named by the pickle: a fresh, attribute-less marker per load."""

    __slots__ = ()


class _Storage:
    """A storage read from the archive: its elements and its class name."""

    __slots__ = ("array", "name", "key")

    def __init__(self, array, name, key):
        self.array = array
        self.name = name
        self.key = key


def _check_pickle(data):
    """Refuses pickles whose memo indices or frames could make the C unpickler
    allocate far beyond the pickle's size; walks the opcodes once (linear)."""
    for count, (opcode, argument, _) in enumerate(pickletools.genops(data), 1):
        if opcode.name in MEMO_OPCODES and not (is_count(argument) and argument < count):
            raise ValueError(f"the pickle stores memo entry {short(argument)} after {count} opcodes")
        if opcode.name == "FRAME" and argument > len(data):
            raise ValueError(f"the pickle declares a frame of {argument} bytes in {len(data)}")


def check_view(offset, size, stride, numel, described):
    """Raises unless the view `size`/`stride` at `offset` (checked counts) lies
    inside a storage of `numel` elements without negative strides and without
    overlapping itself; returns the furthest element it reaches from `offset`."""
    if any(type(step) is not int or step < 0 for step in stride):
        raise ValueError(f"{described} has stride {short(stride)}; negative strides are refused")
    reach = 0  # each step, smallest first, must pass all the elements before it
    if element_count(size):
        for step, length in sorted((s, n) for n, s in zip(size, stride) if n > 1):
            if step <= reach:
                raise ValueError(
                    f"{described} (size {short(size)}, stride {short(stride)}) "
                    f"overlaps itself; a saved weight never does"
                )
            reach += (length - 1) * step
        if offset + reach >= numel:
            raise ValueError(
                f"{described} (offset {offset}, size {short(size)}, stride "
                f"{short(stride)}) reaches past the end of its {numel} elements"
            )
    return reach


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickles a state dict; any global outside a handful is refused.

    `archive` and `prefix` locate the storages (`<prefix>data/<key>`). Each
    instance resolves the allowed globals (`collections.OrderedDict`,
    `torch._utils._rebuild_tensor_v2` / `_rebuild_parameter`, the typed
    storages in `STORAGE_DTYPES`) to objects of its own, made for this load:
    nothing a hostile pickle does to them (e.g. BUILD setting attributes)
    can reach another load. Every tensor's offset, size and strides are
    checked against its storage before it is read.
    """

    def __init__(self, data, archive, prefix):
        super().__init__(io.BytesIO(data))
        self.archive = archive
        self.prefix = prefix
        self.storages = {}
        self.storage_bytes = 0
        self.tensor_bytes = 0
        markers = {name: _StorageType() for name in STORAGE_DTYPES}
        self.storage_names = {id(marker): name for name, marker in markers.items()}

        def new_dict(*args):
            return collections.OrderedDict(*args)

        def rebuild_tensor(storage, offset, size, stride, *unused):
            return self.rebuild_tensor(storage, offset, size, stride)

        def rebuild_parameter(data, *unused):
            return data

        self.safe_globals = {
            ("collections", "OrderedDict"): new_dict,
            ("torch._utils", "_rebuild_tensor_v2"): rebuild_tensor,
            ("torch._utils", "_rebuild_parameter"): rebuild_parameter,
            **{("torch", name): marker for name, marker in markers.items()},
        }

    def find_class(self, module, name):
        if (module, name) not in self.safe_globals:
            raise pickle.UnpicklingError(
                f"the pickle asks for the global {module}.{name}, which a "
                f"plain state dict never needs; refusing to load it"
            )
        return self.safe_globals[(module, name)]

    def persistent_load(self, pid):
        if not (type(pid) is tuple and len(pid) == 5 and pid[0] == "storage"):
            raise ValueError(f"persistent id {short(pid)} is not a storage reference")
        marker, key, _, numel = pid[1:]
        name = self.storage_names.get(id(marker)) if type(marker) is _StorageType else None
        if name is None or type(key) is not str or not is_count(numel):
            raise ValueError(
                f"storage reference {short(key)} has type {short(marker)} and "
                f"{short(numel)} elements; expected a storage class, a key and a count"
            )
        if key in self.storages:
            storage = self.storages[key]
            if (storage.name, storage.array.size) != (name, numel):
                raise ValueError(f"storage {key!r} is referenced with two types or sizes")
            return storage
        try:
            info = self.archive.getinfo(f"{self.prefix}data/{key}")
        except KeyError:
            raise ValueError(f"storage {key!r} has no file data/{key} in the archive") from None
        dtype = np.dtype(STORAGE_DTYPES[name])
        if info.file_size != numel * dtype.itemsize:
            raise ValueError(
                f"storage {key!r} declares {numel} elements of {dtype.itemsize} bytes, "
                f"but its file data/{key} holds {info.file_size} bytes"
            )
        self.storage_bytes += info.file_size
        storage = _Storage(np.frombuffer(self.archive.read(info), dtype), name, key)
        self.storages[key] = storage
        return storage

    def rebuild_tensor(self, storage, offset, size, stride):
        """A copy of the strided view `size`/`stride` at `offset` of `storage`,
        refused unless it lies inside the storage without overlapping itself."""
        if type(storage) is not _Storage:
            raise ValueError(f"a tensor's storage is {short(storage)}, not one of the archive's")
        described = f"a tensor of storage {storage.key!r}"
        if not (isinstance(size, tuple) and isinstance(stride, tuple) and len(size) == len(stride)
                and len(size) <= MAX_DIMS and all(map(is_count, size)) and is_count(offset)):
            raise ValueError(
                f"{described} has offset {short(offset)}, size {short(size)} and stride "
                f"{short(stride)}; expected a count and two tuples of at most {MAX_DIMS} counts"
            )
        array = storage.array
        count, reach = element_count(size), check_view(offset, size, stride, array.size, described)
        self.tensor_bytes += count * array.itemsize
        if self.tensor_bytes > TENSOR_BYTES_PER_STORAGE_BYTE * self.storage_bytes:
            raise ValueError(
                f"the tensors would take {self.tensor_bytes} bytes from storages of "
                f"{self.storage_bytes}; at most {TENSOR_BYTES_PER_STORAGE_BYTE}x are read"
            )
        view = np.lib.stride_tricks.as_strided(
            array[offset:offset + reach + 1] if count else array[:0],
            shape=size, strides=tuple(s * array.itemsize for s in stride),
        )
        view = np.array(view)
        if storage.name == "BFloat16Storage":
            view = (view.astype(np.uint32) << 16).view(np.float32)
        return view


def _torch_available():
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def _load_with_torch(path):
    import torch

    def convert(tensor):
        tensor = tensor.detach()
        numel = tensor.untyped_storage().nbytes() // tensor.element_size()
        check_view(tensor.storage_offset(), tuple(tensor.shape), tensor.stride(), numel, "a tensor")
        return (tensor.float() if tensor.dtype == torch.bfloat16 else tensor).numpy()

    with _open_archive(path):
        pass  # its members and pickle size are checked before torch reads it
    state = torch.load(path, map_location="cpu", weights_only=True)
    return _flatten(_unwrap(state), convert, path)


@contextlib.contextmanager
def _open_archive(path):
    """Yields `(archive, data.pkl info, storage prefix)` of a PyTorch zip
    checkpoint whose members and pickle size have been checked."""
    with zipfile.ZipFile(path) as archive:
        check_zip_members(archive, path)
        pickles = [info for info in archive.infolist() if info.filename.endswith("data.pkl")]
        if len(pickles) != 1:
            raise ValueError("not a PyTorch zip checkpoint (no single data.pkl inside)")
        if pickles[0].file_size > MAX_PICKLE_BYTES:
            raise ValueError(
                f"data.pkl declares {pickles[0].file_size} bytes; a state dict's "
                f"pickle is at most {MAX_PICKLE_BYTES}"
            )
        prefix = pickles[0].filename[: -len("data.pkl")]
        byteorder = f"{prefix}byteorder"
        if byteorder in archive.namelist() and archive.read(byteorder) != b"little":
            raise ValueError("big-endian checkpoints are not supported")
        yield archive, pickles[0], prefix


def _load_restricted(path):
    with _open_archive(path) as (archive, pickle_info, prefix):
        data = archive.read(pickle_info)
        _check_pickle(data)
        return RestrictedUnpickler(data, archive, prefix).load()


def _flatten(state, convert, path):
    """Flattens nested dicts of tensors to `{dotted key: ndarray}`, in bounded
    work: each dict is visited once (a dict met twice is refused: a
    reference bomb would otherwise take time doubling per level), at most
    `MAX_DEPTH` deep and `MAX_ENTRIES` values; every array's dtype is checked."""
    flat, seen, visits = {}, set(), itertools.count()

    def visit(prefix, value, depth):
        if next(visits) > MAX_ENTRIES:
            raise ValueError(f"the state dict has more than {MAX_ENTRIES} entries")
        if isinstance(value, dict):
            if id(value) in seen:
                raise ValueError(
                    f"entry {prefix[:MAX_KEY_LENGTH]!r} is a dict met twice (a reference "
                    f"bomb?); a state dict is a tree"
                )
            if depth > MAX_DEPTH:
                raise ValueError(f"entry {prefix[:MAX_KEY_LENGTH]!r} is nested deeper than {MAX_DEPTH}")
            seen.add(id(value))
            for key, item in value.items():
                if type(key) not in (str, int) or len(str(key)) > MAX_KEY_LENGTH:
                    raise ValueError(f"a key under {prefix!r} is {short(key)}, not a short string")
                visit(f"{prefix}.{key}" if prefix else str(key), item, depth + 1)
        elif isinstance(value, np.ndarray):
            check_dtype(value.dtype, path, prefix)
            flat[prefix] = value
        elif type(value).__name__ in ("Tensor", "Parameter"):
            visit(prefix, convert(value), depth)
        elif not isinstance(value, (int, float, str, bool, type(None), list, tuple)):
            raise ValueError(f"entry {prefix!r} holds a {type(value).__name__}, not a tensor")

    visit("", state, 0)
    return flat


def _unwrap(state):
    """Official and timm training checkpoints wrap the weights in {"model": ...}."""
    for key in ("model", "state_dict", "model_state"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            return state[key]
    return state


def load_state_dict(path, use_torch=None):
    """Reads a PyTorch checkpoint safely; returns `{key: numpy.ndarray}`.

    Args:
        path: a `.pth` / `.bin` file written by `torch.save` (zip format).
        use_torch: None uses `torch.load(weights_only=True)` when torch is
            installed and the restricted NumPy unpickler otherwise; True or
            False forces one route.

    Raises:
        ValueError: the file is not a readable PyTorch zip checkpoint, is
            truncated or corrupt, its pickle asks for anything but
            tensors (e.g. a crafted file that would run code), a tensor
            lies outside its storage or overlaps itself, a declared size
            differs from the archive's, an array is not of numbers, or a
            bound is exceeded. The message names the file and the field.
            Nothing from the file is executed in any case.

    Example:

    >>> import numpy as np, tempfile, os, torch
    >>> path = os.path.join(tempfile.mkdtemp(), "w.pth")
    >>> torch.save({"fc.weight": torch.ones(2, 3)}, path)
    >>> state = load_state_dict(path, use_torch=False)
    >>> state["fc.weight"].shape, state["fc.weight"].dtype
    ((2, 3), dtype('float32'))
    """
    path = str(path)
    if use_torch is None:
        use_torch = _torch_available()
    try:
        if use_torch:
            state = _load_with_torch(path)
        else:
            state = _flatten(_unwrap(_load_restricted(path)), None, path)
    except (pickle.UnpicklingError, zipfile.BadZipFile, EOFError, KeyError, RuntimeError,
            OSError, ValueError, TypeError, AttributeError) as error:
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        refused = re.search(r"(?:unsupported|Unsupported global:) GLOBAL (\S+)", str(error))
        if refused:
            message = (
                f"the pickle asks for the global {refused.group(1)}, which a plain "
                f"state dict never needs; refusing to load it"
            )
        raise ValueError(
            f"Cannot read PyTorch checkpoint {path!r}: {message}. Only plain "
            f"state dicts are loaded, and nothing from the file was executed."
        ) from None
    return state
