"""Reading PyTorch checkpoints (`.pth`, `.bin`) without ever running code from them.

A PyTorch checkpoint is a zip archive holding a pickle (`data.pkl`) and one
raw file per tensor storage. Unpickling can call any importable function, so
a checkpoint from the internet is untrusted input. Two equally safe routes:

- with torch installed: `torch.load(path, weights_only=True)`, torch's own
  restricted unpickler;
- without torch (TensorFlow- or JAX-only installs): `RestrictedUnpickler`
  below, which resolves only the handful of globals a state dict needs
  (`OrderedDict`, the tensor-rebuild functions and the typed storages) to
  local NumPy functions and refuses every other global before anything runs.
"""

import collections
import io
import pickle
import re
import zipfile

import numpy as np

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


class _Storage:
    """A storage class named by the pickle: only its dtype is kept."""

    def __init__(self, name):
        self.name = name
        self.dtype = np.dtype(STORAGE_DTYPES[name])


def _rebuild_tensor(storage, offset, size, stride, *unused):
    array, name = storage
    count = int(np.prod(size)) if len(size) else 1
    if count and offset + sum((n - 1) * s for n, s in zip(size, stride)) >= len(array):
        raise ValueError("a tensor reaches past the end of its storage")
    itemsize = array.dtype.itemsize
    view = np.lib.stride_tricks.as_strided(
        array[offset:], shape=tuple(size), strides=tuple(s * itemsize for s in stride)
    )
    view = np.array(view)
    if name == "BFloat16Storage":
        view = (view.astype(np.uint32) << 16).view(np.float32)
    return view


def _rebuild_parameter(data, *unused):
    return data


SAFE_GLOBALS = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    **{("torch", name): _Storage(name) for name in STORAGE_DTYPES},
}


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickles a state dict; any global outside `SAFE_GLOBALS` is refused.

    `archive` and `prefix` locate the storages (`<prefix>data/<key>`).
    """

    def __init__(self, data, archive, prefix):
        super().__init__(io.BytesIO(data))
        self.archive = archive
        self.prefix = prefix

    def find_class(self, module, name):
        if (module, name) not in SAFE_GLOBALS:
            raise pickle.UnpicklingError(
                f"the pickle asks for the global {module}.{name}, which a "
                f"plain state dict never needs; refusing to load it"
            )
        return SAFE_GLOBALS[(module, name)]

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"unexpected persistent id {pid!r}")
        storage, key, numel = pid[1], pid[2], pid[4]
        if not isinstance(storage, _Storage):
            raise pickle.UnpicklingError(f"unexpected storage type {storage!r}")
        raw = self.archive.read(f"{self.prefix}data/{key}")
        if len(raw) < numel * storage.dtype.itemsize:
            raise pickle.UnpicklingError(f"storage {key} is shorter than its {numel} elements")
        return np.frombuffer(raw, storage.dtype, count=numel), storage.name


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
        return (tensor.float() if tensor.dtype == torch.bfloat16 else tensor).numpy()

    state = torch.load(path, map_location="cpu", weights_only=True)
    return _to_numpy(_unwrap(state), convert)


def _load_restricted(path):
    with zipfile.ZipFile(path) as archive:
        pickles = [name for name in archive.namelist() if name.endswith("data.pkl")]
        if len(pickles) != 1:
            raise ValueError("not a PyTorch zip checkpoint (no single data.pkl inside)")
        prefix = pickles[0][: -len("data.pkl")]
        byteorder = f"{prefix}byteorder"
        if byteorder in archive.namelist() and archive.read(byteorder) != b"little":
            raise ValueError("big-endian checkpoints are not supported")
        return RestrictedUnpickler(archive.read(pickles[0]), archive, prefix).load()


def _to_numpy(state, convert):
    """Flattens nested dicts of tensors to `{dotted key: ndarray}`."""
    flat = {}

    def visit(prefix, value):
        if isinstance(value, dict):
            for key, item in value.items():
                visit(f"{prefix}.{key}" if prefix else str(key), item)
        elif isinstance(value, np.ndarray):
            flat[prefix] = value
        elif type(value).__name__ in ("Tensor", "Parameter"):
            flat[prefix] = convert(value)
        elif not isinstance(value, (int, float, str, bool, type(None), list, tuple)):
            raise ValueError(f"entry {prefix!r} holds a {type(value).__name__}, not a tensor")

    visit("", state)
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
            truncated or corrupt, or its pickle asks for anything but
            tensors (e.g. a crafted file that would run code). Nothing from
            the file is executed in any case.

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
            state = _to_numpy(_unwrap(_load_restricted(path)), None)
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
