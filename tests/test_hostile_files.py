"""Hostile checkpoint files, each built here: refused with a ValueError naming the
file and the field, in bounded time and memory, the model left untouched.

The file-format checks are backend-independent and run once, in the
TensorFlow pass; the tests that assign into a model run on every backend.
"""

import io
import json
import signal
import struct
import tracemalloc
import zipfile

import h5py
import keras
import numpy as np
import pytest

from conftest import randomize_weights
from keras_mixer.weights import load_state_dict
from keras_mixer.weights import load_weights
from keras_mixer.weights.readers import read_checkpoint
from keras_mixer.weights.safetensors_file import read_safetensors
from test_parity import _deit_state
from test_parity import flax_mixer_params
from test_weights import TOKENS
from test_weights import small_mixer
from test_weights import small_resmlp

once = pytest.mark.skipif(
    keras.config.backend() != "tensorflow",
    reason="file checks are backend-independent: they run once, in the tensorflow pass",
)


# --- building files by hand (no torch, no safetensors library needed) ------------------


def _int(value):
    return b"J" + struct.pack("<i", value)


def _str(text):
    data = text.encode()
    return b"X" + struct.pack("<I", len(data)) + data


def _tuple(items):
    return b"(" + b"".join(items) + b"t"


def _global(module, name):
    return b"c" + f"{module}\n{name}\n".encode()


def _ordered_dict():
    return _global("collections", "OrderedDict") + b")R"


def _tensor(key, numel, offset, size, stride, storage="FloatStorage"):
    """Pickle opcodes of `_rebuild_tensor_v2(storage, offset, size, stride, ...)`."""
    pid = _tuple([_str("storage"), _global("torch", storage), _str(key), _str("cpu"), _int(numel)])
    arguments = _tuple([
        pid + b"Q", _int(offset), _tuple(map(_int, size)), _tuple(map(_int, stride)),
        b"\x89", _ordered_dict(),
    ])
    return _global("torch._utils", "_rebuild_tensor_v2") + arguments + b"R"


def _state_pickle(tensors, prologue=b""):
    """A protocol-2 pickle of an OrderedDict `{key: tensor opcodes}`."""
    body = b"\x80\x02" + prologue + _ordered_dict()
    for key, tensor in tensors.items():
        body += _str(key) + tensor + b"s"
    return body + b"."


def _write_pth(path, data_pkl, storages):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", data_pkl)
        archive.writestr("archive/byteorder", "little")
        archive.writestr("archive/version", "3\n")
        for key, array in storages.items():
            archive.writestr(f"archive/data/{key}", np.asarray(array, "<f4").tobytes())
    return str(path)


def _pth_of(path, state):
    """A `.pth` of float32 arrays, each in its own contiguous storage."""
    tensors, storages = {}, {}
    for index, (key, array) in enumerate(state.items()):
        strides = [int(np.prod(array.shape[i + 1:])) for i in range(array.ndim)]
        tensors[key] = _tensor(str(index), array.size, 0, array.shape, strides)
        storages[str(index)] = array.reshape(-1)
    return _write_pth(path, _state_pickle(tensors), storages)


def _write_safetensors(path, header, data=b"", length=None):
    encoded = header if isinstance(header, bytes) else json.dumps(header).encode()
    with open(path, "wb") as handle:
        handle.write(struct.pack("<Q", len(encoded) if length is None else length) + encoded + data)
    return str(path)


def _safetensors_of(path, state, dtypes=None):
    header, data = {}, b""
    for key, array in state.items():
        raw = np.asarray(array, "<f4").tobytes()
        header[key] = {"dtype": (dtypes or {}).get(key, "F32"), "shape": list(array.shape),
                       "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    return _write_safetensors(path, header, data)


def _npy(header, data=b""):
    stream = io.BytesIO()
    np.lib.format.write_array_header_1_0(stream, header)
    return stream.getvalue() + data


def _patch_declared_size(path, member, size):
    """Rewrites the uncompressed size a zip declares for `member` (local and central headers)."""
    data = bytearray(open(path, "rb").read())
    name = member.encode()
    for signature, name_at, size_at in ((b"PK\x03\x04", 30, 22), (b"PK\x01\x02", 46, 24)):
        start = 0
        while (start := data.find(signature, start)) >= 0:
            if data[start + name_at:start + name_at + len(name)] == name:
                data[start + size_at:start + size_at + 4] = struct.pack("<I", size)
            start += 4
    open(path, "wb").write(bytes(data))


class _Deadline:
    """Fails the block if it runs longer than `seconds` (SIGALRM; pure-Python loops stop)."""

    def __init__(self, seconds):
        self.seconds = seconds

    def _expire(self, *unused):
        raise TimeoutError(f"took longer than {self.seconds} s")

    def __enter__(self):
        self.previous = signal.signal(signal.SIGALRM, self._expire)
        signal.setitimer(signal.ITIMER_REAL, self.seconds)

    def __exit__(self, *unused):
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, self.previous)


def _peak_bytes(function, *args):
    """Runs `function(*args)`, expecting a ValueError; returns (error, peak traced bytes).
    NumPy and the C unpickler report their allocations to tracemalloc."""
    tracemalloc.start()
    try:
        with pytest.raises(ValueError) as error:
            function(*args)
        return error.value, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _weights(model):
    return [np.array(variable) for variable in model.weights]


def _assert_untouched(model, before):
    for value, variable in zip(before, model.weights):
        np.testing.assert_array_equal(value, np.array(variable))


# --- PyTorch: the restricted reader ------------------------------------------------------


@once
def test_hand_built_pth_reads_exactly(tmp_path):
    """The files below differ from this good one in one field each."""
    state = {"t": np.arange(6, dtype="float32").reshape(2, 3)}
    path = _pth_of(tmp_path / "good.pth", state)
    transposed = _write_pth(
        tmp_path / "t.pth", _state_pickle({"t": _tensor("0", 6, 0, (3, 2), (1, 3))}), {"0": state["t"]}
    )
    np.testing.assert_array_equal(load_state_dict(path, use_torch=False)["t"], state["t"])
    np.testing.assert_array_equal(load_state_dict(transposed, use_torch=False)["t"], state["t"].T)


VIEWS = {
    # name: (numel, offset, size, stride, words the error must use)
    "negative stride": (6, 0, (6,), (-1,), "negative strides are refused"),
    "past the end": (6, 2, (2, 3), (3, 1), "reaches past the end of its 6 elements"),
    "offset past the end": (6, 6, (1,), (1,), "reaches past the end"),
    "view bomb (stride 0)": (1, 0, (1 << 20, 1 << 20), (0, 0), "overlaps itself"),
    "overlapping rows": (6, 0, (3, 3), (1, 1), "overlaps itself"),
    "float size": (6, 0, None, (1,), "expected a count and two tuples"),
}


@once
@pytest.mark.parametrize("use_torch", [False, True], ids=["restricted-unpickler", "torch.load"])
@pytest.mark.parametrize("view", sorted(VIEWS))
def test_pth_tensor_views_are_checked_against_their_storage(tmp_path, view, use_torch):
    if use_torch:
        pytest.importorskip("torch")
    numel, offset, size, stride, words = VIEWS[view]
    if size is None:  # a float where a size belongs
        tensor = _tensor("0", numel, offset, (), stride).replace(b"(t(J", b"(G" + struct.pack(">d", 6.0) + b"t(J")
    else:
        tensor = _tensor("0", numel, offset, size, stride)
    path = _write_pth(tmp_path / "view.pth", _state_pickle({"w": tensor}), {"0": np.ones(numel)})
    error, peak = _peak_bytes(load_state_dict, path, use_torch)
    assert path in str(error) and peak < 1 << 20
    if not use_torch:  # torch.load refuses most of these itself, in its own words
        assert "storage '0'" in str(error) and words in str(error)


@once
def test_pth_storage_sizes_are_checked_before_reading(tmp_path):
    tensor = _tensor("0", 1 << 30, 0, (4,), (1,))  # declares 4 GiB, holds 16 bytes
    path = _write_pth(tmp_path / "short.pth", _state_pickle({"w": tensor}), {"0": np.ones(4)})
    error, peak = _peak_bytes(load_state_dict, path, False)
    assert "declares 1073741824 elements" in str(error) and "holds 16 bytes" in str(error)
    assert peak < 1 << 20
    path = _pth_of(tmp_path / "bomb.pth", {"w": np.ones(4, "float32")})
    _patch_declared_size(path, "archive/data.pkl", 0x7FFFFFF0)  # a zip that lies about a size
    error, peak = _peak_bytes(load_state_dict, path, False)
    assert "'archive/data.pkl' declares 2147483632 bytes" in str(error) and peak < 1 << 20


@once
def test_pth_reference_bomb_is_refused_in_bounded_time(tmp_path):
    """Under 1 KB: 30 levels of dicts, each holding the previous one twice
    (memo references), 2**30 leaves if walked naively."""
    levels = 30
    bomb = b"\x80\x02}q\x00"
    for level in range(1, levels + 1):
        bomb += b"}" + _str("a") + b"h" + bytes([level - 1]) + b"s" + _str("b") + b"h" + bytes([level - 1]) + b"sq" + bytes([level])
    bomb += b"."
    assert len(bomb) < 1024
    path = _write_pth(tmp_path / "bomb.pth", bomb, {})
    with _Deadline(2):
        with pytest.raises(ValueError, match="met twice.*reference bomb"):
            load_state_dict(path, use_torch=False)


BOUNDS = {  # limit lowered to 10 in the test: (opcodes after the top dict, words)
    "MAX_ENTRIES": (b"".join(_str(f"k{i}") + b"Ns" for i in range(12)), "more than 10 entries"),
    "MAX_DEPTH": (b"".join(_str("k") + b"}" for _ in range(12)) + b"s" * 12, "nested deeper than 10"),
}


@once
@pytest.mark.parametrize("bound", sorted(BOUNDS))
def test_pth_state_dict_entries_and_depth_are_bounded(tmp_path, monkeypatch, bound):
    from keras_mixer.weights import pth

    monkeypatch.setattr(pth, bound, 10)
    opcodes, words = BOUNDS[bound]
    path = _write_pth(tmp_path / "big.pth", b"\x80\x02}" + opcodes + b".", {})
    with pytest.raises(ValueError, match=words):
        load_state_dict(path, use_torch=False)


def _shared_storage(tmp_path, monkeypatch):
    """Five full views of one 4-element storage: 5x its bytes (at most 4x are read)."""
    tensors = {f"w{i}": _tensor("0", 4, 0, (4,), (1,)) for i in range(5)}
    return _write_pth(tmp_path / "shared.pth", _state_pickle(tensors), {"0": np.ones(4)})


def _big_pickle(tmp_path, monkeypatch):
    from keras_mixer.weights import pth

    monkeypatch.setattr(pth, "MAX_PICKLE_BYTES", 16)
    return _pth_of(tmp_path / "big.pth", {"w": np.ones(4, "float32")})


def _long_frame(tmp_path, monkeypatch):
    frame = b"\x95" + struct.pack("<Q", 1 << 40)  # protocol 4 FRAME declaring 1 TiB
    return _write_pth(tmp_path / "frame.pth", b"\x80\x04" + frame + b"N.", {})


@once
@pytest.mark.parametrize("build, words", [
    (_shared_storage, "the tensors would take 80 bytes from storages of 16; at most 4x"),
    (_big_pickle, "data.pkl declares"),
    (_long_frame, "declares a frame of 1099511627776 bytes"),
], ids=["tensors sharing a storage", "pickle size", "frame size"])
def test_pth_totals_are_bounded(tmp_path, monkeypatch, build, words):
    path = build(tmp_path, monkeypatch)
    error, peak = _peak_bytes(load_state_dict, path, False)
    assert path in str(error) and words in str(error) and peak < 1 << 20


@once
def test_pth_memo_index_bomb_is_refused_without_allocating(tmp_path):
    """A 10-byte pickle storing one memo entry at index 2**32-1: the C
    unpickler would size its memo table to twice that (64 GiB)."""
    path = _write_pth(tmp_path / "memo.pth", b"\x80\x02N" + b"r" + struct.pack("<I", 0xFFFFFFFF) + b".", {})
    error, peak = _peak_bytes(load_state_dict, path, False)
    assert "memo entry 4294967295" in str(error) and peak < 1 << 20


@once
def test_rejected_hostile_pickle_changes_nothing_for_the_next_load(tmp_path):
    """The hostile pickle sets attributes (BUILD) on the float32 storage class
    and the rebuild function it may name (a shared storage class renamed
    bfloat16 would silently widen every later float32 tensor), then asks for
    os.system and is refused."""
    state = {"t": np.arange(6, dtype="float32").reshape(2, 3)}
    good = _pth_of(tmp_path / "good.pth", state)
    tamper = b""
    for module, name in (("torch", "FloatStorage"), ("torch._utils", "_rebuild_tensor_v2")):
        tamper += _global(module, name) + b"}(" + _str("name") + _str("BFloat16Storage") + b"ub0"
    hostile = _write_pth(tmp_path / "hostile.pth", _state_pickle({}, tamper + _global("os", "system") + b"0"), {})
    with pytest.raises(ValueError) as error:  # at the BUILD (no attributes) or at os.system
        load_state_dict(hostile, use_torch=False)
    assert hostile in str(error.value)
    np.testing.assert_array_equal(load_state_dict(good, use_torch=False)["t"], state["t"])


# --- NumPy .npz ------------------------------------------------------------------------


@once
def test_npz_size_bomb_is_refused_from_its_header(tmp_path):
    """256 bytes declaring a 37 GiB array: refused before any array is read."""
    path = str(tmp_path / "bomb.npz")
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("stem/kernel.npy", _npy({"descr": "<f4", "fortran_order": False,
                                                  "shape": (100_000, 100_000)}, bytes(8)))
    assert 200 < len(open(path, "rb").read()) < 400
    model = small_mixer()
    for function, args in ((read_checkpoint, (path,)), (load_weights, (model, path))):
        error, peak = _peak_bytes(function, *args)
        assert path in str(error) and "'stem/kernel'" in str(error)
        assert "declares shape (100000, 100000)" in str(error) and peak < 1 << 20
    good = str(tmp_path / "good.npz")
    np.savez(good, w=np.ones(4, "float32"))
    _patch_declared_size(good, "w.npy", 0x7FFFFFF0)
    error, peak = _peak_bytes(read_checkpoint, good)
    assert "'w.npy' declares 2147483632 bytes from" in str(error) and peak < 1 << 20


@once
def test_npz_keys_are_checked_before_any_array_is_read(tmp_path, monkeypatch):
    from keras_mixer.weights import npz_file

    params = flax_mixer_params(np.random.default_rng(0), TOKENS)
    params["extra"] = np.zeros(3, "float32")
    path = str(tmp_path / "extra.npz")
    np.savez(path, **params)

    def no_reading(*unused, **ignored):
        raise AssertionError("an array was read before the keys were checked")

    monkeypatch.setattr(npz_file.NpyMember, "__array__", no_reading)
    with pytest.raises(ValueError, match="extra: found shape \\(3,\\), which model .* has no place for"):
        load_weights(small_mixer(), path)


# --- dtypes: checked before anything is assigned (every backend) -----------------------


def _strings_in_npz(tmp_path):
    params = flax_mixer_params(np.random.default_rng(0), TOKENS)
    params["head/bias"] = np.full(params["head/bias"].shape, "x")  # the last weight assigned
    path = str(tmp_path / "strings.npz")
    np.savez(path, **params)
    return small_mixer(), path, "'head/bias': dtype <U1"


def _strings_in_h5(tmp_path):
    path = str(tmp_path / "strings.weights.h5")
    randomize_weights(small_resmlp(), seed=3).save_weights(path)
    with h5py.File(path, "a") as handle:
        shape = handle["layers/dense/vars/1"].shape
        del handle["layers/dense/vars/1"]
        handle["layers/dense/vars/1"] = np.full(shape, b"x")
    return small_resmlp(), path, "'layers/dense/vars/1': dtype |S1"


def _complex_in_safetensors(tmp_path):
    state = _deit_state(np.random.default_rng(0), TOKENS)
    path = _safetensors_of(tmp_path / "complex.safetensors", state, {"head.bias": "C64"})
    return small_resmlp(), path, "tensor 'head.bias' dtype: 'C64' is not a real number type"


def _complex_in_pth(tmp_path):
    torch = pytest.importorskip("torch")
    state = {key: torch.from_numpy(value) for key, value in _deit_state(np.random.default_rng(0), TOKENS).items()}
    state["head.bias"] = state["head.bias"].to(torch.complex64)
    path = str(tmp_path / "complex.pth")
    torch.save(state, path)
    return small_resmlp(), path, "'head.bias': dtype complex64"


@pytest.mark.parametrize("build", [_strings_in_npz, _strings_in_h5, _complex_in_safetensors, _complex_in_pth],
                         ids=["npz", "h5", "safetensors", "pth"])
def test_non_number_dtype_is_refused_before_anything_is_assigned(tmp_path, build):
    model, path, words = build(tmp_path)
    before = _weights(model)
    with pytest.raises(ValueError) as error:
        load_weights(model, path)
    assert path in str(error.value) and words in str(error.value)
    _assert_untouched(model, before)


@once
def test_restricted_reader_refuses_non_number_storages(tmp_path):
    tensor = _tensor("0", 2, 0, (2,), (1,), storage="ComplexFloatStorage")
    path = _write_pth(tmp_path / "complex.pth", _state_pickle({"w": tensor}), {"0": np.ones(4)})
    with pytest.raises(ValueError, match="torch.ComplexFloatStorage.*refusing"):
        load_state_dict(path, use_torch=False)


# --- safetensors headers ---------------------------------------------------------------

W = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}
HEADERS = {
    # name: (header, data, declared header length or None, field, words)
    "float shape": ({"w": {**W, "shape": [2.0]}}, 8, None, "array 'w': shape [2.0]", "non-negative integers"),
    "negative dim": ({"w": {**W, "shape": [-2]}}, 8, None, "array 'w': shape [-2]", "non-negative integers"),
    "string offsets": ({"w": {**W, "data_offsets": ["0", "8"]}}, 8, None, "'w' data_offsets", "two non-negative"),
    "offsets past the end": ({"w": {**W, "data_offsets": [0, 8]}}, 4, None, "'w' data_offsets", "truncated"),
    "size not the shape's": ({"w": {**W, "data_offsets": [0, 4]}}, 8, None, "'w' data_offsets", "for 8 bytes"),
    "overlapping": ({"w": W, "v": {**W, "data_offsets": [4, 12]}}, 12, None, "'v' data_offsets", "overlaps"),
    "unknown dtype": ({"w": {**W, "dtype": "STR"}}, 8, None, "'w' dtype", "not a real number type"),
    "entry not an object": ({"w": [1, 2]}, 8, None, "tensor 'w'", "expected an object"),
    "non-dict JSON": ([1, 2, 3], 0, None, "header", "a JSON list"),
    "metadata not an object": ({"__metadata__": 3}, 0, None, "__metadata__", "expected an object"),
    "invalid JSON": (b"{not json", 0, None, "header", "not valid JSON"),
    "deeply nested JSON": (b"[" * 100_000 + b"]" * 100_000, 0, None, "header", "not valid JSON"),
    "length past the file": ({"w": W}, 8, 1 << 20, "header length", "but the file has 69 after the length"),
    "huge header length": ({"w": W}, 8, None, "header length", "a header has at most 32"),
}


@once
@pytest.mark.parametrize("name", sorted(HEADERS))
def test_malformed_safetensors_header_names_the_file_and_field(tmp_path, monkeypatch, name):
    from keras_mixer.weights import safetensors_file

    if name == "huge header length":  # a 32-byte bound stands for the real 100 MiB one
        monkeypatch.setattr(safetensors_file, "MAX_HEADER_BYTES", 32)
    header, data, length, field, words = HEADERS[name]
    path = _write_safetensors(tmp_path / "bad.safetensors", header, bytes(data), length)
    with pytest.raises(ValueError) as error:
        read_safetensors(path)
    message = str(error.value)
    assert path in message and field in message and words in message, message


# --- Keras .weights.h5 -----------------------------------------------------------------


def _h5_pointing_elsewhere(tmp_path, kind):
    """A good weights file whose head bias is replaced by something that reads
    another file (or, for "size bomb", declares 4 TiB it does not store)."""
    secret = str(tmp_path / "secret.h5")
    with h5py.File(secret, "w") as handle:
        handle["data"] = np.full(5, 7.0, "float32")
    raw = tmp_path / "secret.raw"
    raw.write_bytes(np.full(5, 7.0, "float32").tobytes())
    path = str(tmp_path / f"{kind.replace(' ', '_')}.weights.h5")
    small_resmlp().save_weights(path)
    key = "layers/dense/vars/1"
    with h5py.File(path, "a") as handle:
        del handle[key]
        if kind == "external link":
            handle[key] = h5py.ExternalLink(secret, "/data")
        elif kind == "soft link":
            handle[key] = h5py.SoftLink("/layers/dense/vars/0")
        elif kind == "virtual dataset":
            layout = h5py.VirtualLayout(shape=(5,), dtype="float32")
            layout[:] = h5py.VirtualSource(secret, "data", shape=(5,))
            handle.create_virtual_dataset(key, layout)
        elif kind == "external storage":
            handle.create_dataset(key, shape=(5,), dtype="float32", external=[(str(raw), 0, 20)])
        else:
            handle.create_dataset(key, shape=(1 << 20, 1 << 20), dtype="float32")
    return path


H5_FAULTS = {
    "external link": "is a ExternalLink",
    "soft link": "is a SoftLink",
    "virtual dataset": "virtual or stored in external files",
    "external storage": "virtual or stored in external files",
    "size bomb": "declares shape (1048576, 1048576) (4398046511104 bytes) but stores 0 bytes",
}


@once
@pytest.mark.parametrize("kind", sorted(H5_FAULTS))
def test_h5_reading_other_files_or_declaring_unstored_data_is_refused(tmp_path, kind):
    path = _h5_pointing_elsewhere(tmp_path, kind)
    model = small_resmlp()
    before = _weights(model)
    error, peak = _peak_bytes(load_weights, model, path)
    assert path in str(error) and "layers/dense/vars/1" in str(error) and H5_FAULTS[kind] in str(error)
    assert peak < 16 << 20
    _assert_untouched(model, before)
