"""Exports and serving under faults: real races and kills, bad targets, hostile images.

One tiny 16x16 ResMLP is exported once per module and shared. The staging
protocol does not depend on the backend (the subprocesses always export with
TensorFlow), so the race, kill and memory tests run on the TensorFlow pass only.
"""

import io
import json
import os
import signal
import struct
import subprocess
import sys
import time
import zlib

import keras
import numpy as np
import pytest
from conftest import randomize_weights
from conftest import random_images
from PIL import Image

import keras_mixer
from keras_mixer import staging
from keras_mixer.cli import main
from keras_mixer.export import export_saved_model
from keras_mixer.export.eval_policy import MAX_ASPECT_RATIO
from keras_mixer.export.eval_policy import MAX_PIXELS

tf = pytest.importorskip("tensorflow")

SIZE = 16
TENSORFLOW_ONLY = pytest.mark.skipif(
    keras.config.backend() != "tensorflow",
    reason="the staging protocol and the serving graph's bounds do not depend on the backend",
)
SUBPROCESS_ENV = dict(os.environ, KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="3", OMP_NUM_THREADS="1")


def encode_png(height, width, format="PNG"):
    buffer = io.BytesIO()
    Image.fromarray(np.full((height, width, 3), 120, "uint8")).save(buffer, format=format)
    return buffer.getvalue()


def png_declaring(height, width, rows):
    """A PNG whose header declares `height x width` RGB and whose data holds only `rows` rows."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    compressor, row = zlib.compressobj(), bytes(1 + 3 * width)
    data = b"".join(compressor.compress(row) for _ in range(rows)) + compressor.flush()
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def is_complete_saved_model(path):
    names = ("saved_model.pb", "variables/variables.index", "variables/variables.data-00000-of-00001")
    return all(os.path.isfile(os.path.join(path, name)) for name in names)


def numeric_versions(base_dir):
    return sorted(entry for entry in os.listdir(base_dir) if entry.isdigit())


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    keras.utils.set_random_seed(0)
    model = keras_mixer.ResMLP(patch_size=4, embed_dim=8, depth=1, input_shape=(SIZE, SIZE, 3), classes=3)
    randomize_weights(model, scale=0.2)
    folder = tmp_path_factory.mktemp("faults")
    model_file = str(folder / "tiny.keras")
    model.save(model_file)
    path = export_saved_model(model, str(folder / "saved_models" / "tiny"))
    return {"model": model, "model_file": model_file, "path": path, "loaded": tf.saved_model.load(path)}


def export_command(model_file, base_dir):
    return [sys.executable, "-m", "keras_mixer.cli", "export", model_file, str(base_dir), "--no-fuse"]


# --- transactions: races, kills, leftovers --------------------------------------------------


@TENSORFLOW_ONLY
@pytest.mark.slow
def test_two_processes_racing_into_a_new_folder_both_succeed(exported, tmp_path):
    base_dir = tmp_path / "new" / "tiny"
    processes = [
        subprocess.Popen(export_command(exported["model_file"], base_dir), env=SUBPROCESS_ENV,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    results = [process.communicate(timeout=300) for process in processes]
    for process, (out, err) in zip(processes, results):
        assert process.returncode == 0, err
    reported = sorted(out.split("Exported SavedModel to ")[1].split(" (")[0] for out, _ in results)
    assert reported == [str(base_dir / "1"), str(base_dir / "2")]
    assert sorted(os.listdir(base_dir)) == ["1", "2"]  # both intact, no leftovers
    for version in ("1", "2"):
        assert is_complete_saved_model(base_dir / version)


def wait_and_kill(process, base_dir, point):
    """SIGKILLs `process` as soon as its export reaches `point` (polled every ~1 ms)."""

    def reached():
        if not base_dir.is_dir():
            return False
        entries = os.listdir(base_dir)
        if point == "renamed":
            return bool(numeric_versions(base_dir))
        for entry in entries:
            if entry.startswith(".version-incomplete-"):
                version = base_dir / entry / "version"
                if point == "staging" or (point == "writing" and version.is_dir()):
                    return True
                if point == "variables" and (version / "variables").is_dir() and os.listdir(version / "variables"):
                    return True
        return False

    deadline = time.monotonic() + 240
    while not reached():
        assert process.poll() is None and time.monotonic() < deadline, f"the export ended before {point!r}"
        time.sleep(0.001)
    process.send_signal(signal.SIGKILL)
    process.wait()


@TENSORFLOW_ONLY
@pytest.mark.slow
def test_killed_exports_leave_nothing_served_and_are_cleaned(exported, tmp_path):
    base_dir = tmp_path / "tiny"
    for point in ("staging", "variables", "renamed"):
        process = subprocess.Popen(export_command(exported["model_file"], base_dir), env=SUBPROCESS_ENV,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_and_kill(process, base_dir, point)
        versions = numeric_versions(base_dir)
        assert all(is_complete_saved_model(base_dir / version) for version in versions), point
        if point != "renamed":
            assert versions == [] and len(os.listdir(base_dir)) >= 1, point  # a hidden leftover only
    finished = numeric_versions(base_dir)
    assert finished == ["1"]  # the kill after the rename keeps that version
    path = export_saved_model(exported["model"], str(base_dir))
    assert path == str(base_dir / "2")
    assert sorted(os.listdir(base_dir)) == ["1", "2"]  # every dead export's leftovers removed
    assert is_complete_saved_model(base_dir / "1") and is_complete_saved_model(base_dir / "2")


def leftover_name(host_tag, pid):
    return f".version-incomplete-{host_tag}-{pid}-x1y2"


def test_only_dead_or_day_old_staging_folders_are_removed(tmp_path):
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()
    try:
        here = staging._host_tag()
        other = "0" * 8 if here != "0" * 8 else "1" * 8
        names = {
            "live": leftover_name(here, sleeper.pid),
            "mine": leftover_name(here, os.getpid()),
            "dead": leftover_name(here, finished.pid),
            "other_host": leftover_name(other, finished.pid),
            "other_host_old": leftover_name(other, finished.pid + 1),
            "live_but_old": leftover_name(here, sleeper.pid).replace("x1y2", "old"),
        }
        for name in names.values():
            (tmp_path / name).mkdir()
            (tmp_path / name / "version").mkdir()
        for key in ("other_host_old", "live_but_old"):
            old = time.time() - staging.STALE_SECONDS - 60
            os.utime(tmp_path / names[key], (old, old))
        for name in ("1", ".hidden", "notes-incomplete-1-2"):
            (tmp_path / name).mkdir()
        removed = staging.remove_leftovers(str(tmp_path))
    finally:
        sleeper.kill()
        sleeper.wait()
    assert sorted(removed) == sorted(names[key] for key in ("dead", "other_host_old", "live_but_old"))
    kept = {names[key] for key in ("live", "mine", "other_host")} | {"1", ".hidden", "notes-incomplete-1-2"}
    assert set(os.listdir(tmp_path)) == kept


def test_a_lost_race_takes_the_next_version(exported, tmp_path, monkeypatch):
    """Another export finishes version 1 while this one writes: this one becomes 2, 1 untouched."""
    import keras_mixer.export.saved_model as saved_model_module

    base_dir = tmp_path / "tiny"

    def write_while_another_finishes(model, path, **arguments):
        os.makedirs(path)
        (base_dir / "1").mkdir()
        (base_dir / "1" / "saved_model.pb").write_bytes(b"the other export")
        with open(os.path.join(path, "saved_model.pb"), "wb") as handle:
            handle.write(b"this export")

    # The listing that picks the number is read before the other export's rename lands.
    monkeypatch.setattr(staging, "next_version", lambda base_dir: 1)
    monkeypatch.setattr(saved_model_module, "write_serving_archive", write_while_another_finishes)
    monkeypatch.setattr(saved_model_module, "run_under_backend",
                        lambda backend, step, model, **a: write_while_another_finishes(model, **a))
    assert export_saved_model(exported["model"], str(base_dir), fuse=False) == str(base_dir / "2")
    assert (base_dir / "1" / "saved_model.pb").read_bytes() == b"the other export"
    assert (base_dir / "2" / "saved_model.pb").read_bytes() == b"this export"
    (base_dir / "1" / "saved_model.pb").unlink()
    (base_dir / "1").rmdir()
    with pytest.raises(ValueError, match="appeared while writing"):
        export_saved_model(exported["model"], str(base_dir), version=1, fuse=False)
    assert (base_dir / "1" / "saved_model.pb").read_bytes() == b"the other export"
    assert sorted(os.listdir(base_dir)) == ["1", "2"]


def unwritable_folder(tmp_path):
    if os.geteuid() == 0:  # root writes through permissions; sysfs refuses even root
        return "/sys/keras_mixer_test"
    folder = tmp_path / "read_only"
    folder.mkdir(mode=0o500)
    return str(folder / "model")


@pytest.mark.parametrize(
    "target, arguments, message",
    [
        ("{file}", {}, "is a file; expected a folder"),
        ("{file}/model", {}, "it would be inside the file"),
        ("{read_only}", {}, "is not writable"),
        ("", {}, "expected a non-empty folder path"),
        ("{tmp}/model", {"version": 2**63}, "expected an integer from 1 to 9223372036854775807"),
        ("{tmp}/model", {"version": 0}, "version=0"),
    ],
)
def test_bad_targets_fail_before_any_work(exported, tmp_path, monkeypatch, target, arguments, message):
    import keras_mixer.export.saved_model as saved_model_module

    def no_work(*args, **kwargs):
        raise AssertionError("export work started before the target was checked")

    monkeypatch.setattr(saved_model_module, "fuse_for_inference", no_work)
    (tmp_path / "file").write_text("not a folder")
    base_dir = target.format(file=tmp_path / "file", read_only=unwritable_folder(tmp_path), tmp=tmp_path)
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(ValueError, match=message):
        export_saved_model(exported["model"], base_dir, **arguments)
    assert sorted(os.listdir(tmp_path)) == before


# --- serving: the image shape and the cost of a decoded image --------------------------------


@pytest.mark.parametrize("signature, dtype", [("serving_default", "float32"), ("serving_uint8", "uint8")])
@pytest.mark.parametrize("shape", [(1, 2 * SIZE, 2 * SIZE, 3), (2, SIZE, SIZE, 1), (1, SIZE, 4 * SIZE, 3)])
def test_image_signatures_refuse_the_wrong_image_size(exported, signature, dtype, shape):
    function = exported["loaded"].signatures[signature]
    with pytest.raises(tf.errors.InvalidArgumentError, match=rf"images must have shape \(batch, {SIZE}, {SIZE}, 3\)"):
        function(images=tf.zeros(shape, dtype))
    good = function(images=tf.constant(random_images((2, SIZE, SIZE, 3)).astype(dtype)))
    assert good["probabilities"].shape == (2, 3)


def test_model_signature_refuses_the_wrong_image_size(exported):
    with pytest.raises(tf.errors.InvalidArgumentError, match=f"{SIZE}, {SIZE}, 3"):
        exported["loaded"].signatures["predict_probabilities"](images=tf.zeros((1, 2 * SIZE, 2 * SIZE, 3)))


@pytest.mark.parametrize(
    "shape, error",
    [
        ((60, 600), None),  # exactly 10:1 (a panorama) is served
        ((600, 60), None),
        ((3000, 4000), None),  # a 12 MP photo
        ((60, 601), f"longer than {MAX_ASPECT_RATIO}:1"),
        ((5000, 1), f"longer than {MAX_ASPECT_RATIO}:1"),
        ((7072, 7072), f"more than {MAX_PIXELS} pixels"),
    ],
)
def test_bytes_signature_bounds_the_image(exported, shape, error):
    function = exported["loaded"].signatures["serving_bytes"]
    image_bytes = tf.constant([encode_png(*shape)])
    if error is None:
        assert function(image_bytes=image_bytes)["probabilities"].shape == (1, 3)
    else:
        with pytest.raises(tf.errors.InvalidArgumentError, match=error):
            function(image_bytes=image_bytes)


@pytest.mark.parametrize(
    "image, error",
    [
        (encode_png(30, 40, "JPEG"), None),
        (encode_png(30, 40, "BMP"), None),
        (encode_png(30, 40, "GIF"), "expected a JPEG, PNG or BMP image"),
        (b"not an image", "expected a JPEG, PNG or BMP image"),
        (b"", "expected a JPEG, PNG or BMP image"),
        # The header is read before decoding: a decoder would fail on the missing rows instead.
        (png_declaring(8000, 8000, rows=1), f"more than {MAX_PIXELS} pixels: height.*8000.*width.*8000"),
        (png_declaring(1, 5000, rows=0), f"longer than {MAX_ASPECT_RATIO}:1"),
        (encode_png(600, 60, "BMP"), None),
        (encode_png(601, 60, "BMP"), f"longer than {MAX_ASPECT_RATIO}:1"),
        (encode_png(60, 601, "JPEG"), f"longer than {MAX_ASPECT_RATIO}:1"),
    ],
    ids=["jpeg", "bmp", "gif", "text", "empty", "png bomb", "png 1x5000", "bmp 10:1", "bmp tall", "jpeg wide"],
)
def test_bytes_signature_checks_the_header_before_decoding(exported, image, error):
    function = exported["loaded"].signatures["serving_bytes"]
    if error is None:
        assert function(image_bytes=tf.constant([image]))["probabilities"].shape == (1, 3)
    else:
        with pytest.raises(tf.errors.InvalidArgumentError, match=error):
            function(image_bytes=tf.constant([image]))


SERVER = """
import json, re, sys
import tensorflow as tf

def memory_kb(field):
    return int(re.search(field + r":\\s+(\\d+)", open("/proc/self/status").read()).group(1))

serve = tf.saved_model.load(sys.argv[1]).signatures["serving_bytes"]
serve(image_bytes=tf.constant([open(sys.argv[2], "rb").read()]))
with open("/proc/self/clear_refs", "w") as peak:
    peak.write("5")  # resets the peak (VmHWM) to the current RSS, so loading's peak does not hide ours
before = memory_kb("VmRSS")
outcomes = []
for path in sys.argv[3:]:
    try:
        serve(image_bytes=tf.constant([open(path, "rb").read()]))
        outcomes.append("served")
    except tf.errors.InvalidArgumentError as error:
        outcomes.append(error.message)
print(json.dumps({"outcomes": outcomes, "peak_growth_mb": (memory_kb("VmHWM") - before) / 1024}))
"""


def animated_gif(frames, side):
    buffer = io.BytesIO()
    images = [Image.new("L", (side, side), 255 * (index % 2)).convert("P") for index in range(frames)]
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:])
    return buffer.getvalue()


@TENSORFLOW_ONLY
@pytest.mark.slow
def test_tiny_hostile_images_cost_a_server_little_memory(exported, tmp_path):
    """Measured in a serving subprocess (peak RSS, Linux). Before the limits, a 1 x 5000 PNG (under 100
    bytes) grew the peak memory of a server of a 224 x 224 model by 3.7 GB, and for this 16 x 16
    model a 1 x 100000 PNG by about 350 MB. Before the header check, a 190 KB PNG declaring
    8000 x 8000 pixels was decoded (+200 MB) before being refused, and a 100 KB GIF of 12 frames
    of 3000 x 3000 cost about 100 MB (the GIF decoder holds every frame)."""
    images = {
        "good.png": encode_png(24, 32),
        "thin.png": encode_png(1, 5000),
        "thinner.png": encode_png(1, 100000),
        "bomb.png": png_declaring(8000, 8000, rows=8000),
        "bomb.gif": animated_gif(12, 3000),
    }
    for name, data in images.items():
        (tmp_path / name).write_bytes(data)
    assert max(len(data) for data in images.values()) < 300_000
    result = subprocess.run([sys.executable, "-c", SERVER, exported["path"], *(str(tmp_path / name) for name in images)],
                            env=SUBPROCESS_ENV, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    expected = [*[f"longer than {MAX_ASPECT_RATIO}:1"] * 2, f"more than {MAX_PIXELS} pixels",
                "expected a JPEG, PNG or BMP"]
    assert all(text in outcome for text, outcome in zip(expected, report["outcomes"])), report
    assert report["peak_growth_mb"] < 50, report


# --- the command line: one line, never a traceback --------------------------------------------


def one_error_line(capsys, argv, status=2):
    assert main(argv) == status
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err.strip()


@pytest.mark.parametrize(
    "argv",
    [
        ["train", "--epochs", "0"],
        ["train", "--batch-size", "0"],
        ["train", "--image-size", "0"],
        ["evaluate", "m.keras", "--batch-size", "0"],
        ["predict", "x.png", "--model", "m.keras", "--top", "0"],
        ["benchmark", "--repeats", "0"],
        ["benchmark", "--threads", "-1"],
        ["inspect", "m.keras", "--out", "o", "--image-size", "0"],
        ["export", "m.keras", "out", "--onnx-batch-size", "0"],
        ["export", "m.keras", "out", "--top-k", "zero"],
        ["export", "m.keras", "out", "--version", "0"],
        ["export", "m.keras", "out", "--version", str(2**63)],
        ["demo", "--epochs", "0"],
    ],
)
def test_arguments_are_checked_by_argparse(capsys, tmp_path, monkeypatch, argv):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and f"keras-mixer {argv[0]}: error: argument" in err
    assert "not supported; expected" in err and os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    "target, message",
    [
        ("{file}", "is a file; expected a folder"),
        ("{file}/model", "it would be inside the file"),
        ("{read_only}", "is not writable"),
        ("", "expected a non-empty folder path"),
    ],
)
def test_cli_export_to_a_bad_target(exported, capsys, tmp_path, target, message):
    (tmp_path / "file").write_text("not a folder")
    base_dir = target.format(file=tmp_path / "file", read_only=unwritable_folder(tmp_path))
    line = one_error_line(capsys, ["export", exported["model_file"], base_dir])
    assert line.startswith("keras-mixer export: error: BASE_DIR") and message in line


def test_train_checks_its_export_target_before_training(capsys, tmp_path):
    (tmp_path / "file").write_text("not a folder")
    started = time.monotonic()
    line = one_error_line(
        capsys, ["train", "--epochs", "1", "--output", str(tmp_path / "run"), "--export", str(tmp_path / "file")]
    )
    assert line.startswith("keras-mixer train: error: --export") and "is a file" in line
    assert not (tmp_path / "run").exists() and time.monotonic() - started < 30


def test_predict_refuses_an_image_bomb_from_its_header(exported, capsys, tmp_path):
    (tmp_path / "bomb.png").write_bytes(png_declaring(8000, 8000, rows=1))
    line = one_error_line(capsys, ["predict", str(tmp_path / "bomb.png"), "--model", exported["model_file"]])
    assert line.endswith(f"it declares 8000 x 8000 pixels, more than {MAX_PIXELS}); expected a PNG, JPEG or other image file.")


@pytest.mark.parametrize(
    "command, message",
    [
        (["predict", "{garbage}.png", "--model", "{model}"], "cannot be read"),
        (["evaluate", "{garbage}.keras"], "cannot be loaded"),
        (["export", "{garbage}.keras", "{tmp}/out"], "cannot be loaded"),
        (["convert", "{garbage}.npz", "{tmp}/out.weights.h5", "--model", "mixer_s16"], ""),
        (["convert", "{garbage}.pth", "{tmp}/out.weights.h5", "--model", "resmlp12"], ""),
    ],
)
def test_malformed_files_get_one_line(exported, capsys, tmp_path, command, message):
    for suffix in (".png", ".keras", ".npz", ".pth"):
        (tmp_path / f"garbage{suffix}").write_bytes(b"PK\x03\x04 this is not what it claims to be" * 3)
    argv = [part.format(garbage=tmp_path / "garbage", model=exported["model_file"], tmp=tmp_path) for part in command]
    assert main(argv) != 0
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert err.startswith(f"keras-mixer {command[0]}: error: ") and message in err
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.weights.h5").exists()


def test_an_unexpected_failure_is_one_line_too(capsys, monkeypatch):
    import keras_mixer.cli.convert as convert

    def crash(args):
        raise KeyError("something internal")

    monkeypatch.setattr(convert, "run", crash)
    line = one_error_line(capsys, ["convert", "a.npz", "b.weights.h5", "--model", "resmlp12"], status=1)
    assert line == "keras-mixer convert: error: KeyError: 'something internal'"


@TENSORFLOW_ONLY
@pytest.mark.slow
def test_python_m_keras_mixer_cli_fails_in_one_line(exported, tmp_path):
    (tmp_path / "file").write_text("not a folder")
    command = ["export", exported["model_file"], str(tmp_path / "file" / "model")]
    result = subprocess.run([sys.executable, "-m", "keras_mixer.cli", *command], env=SUBPROCESS_ENV,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("keras-mixer export: error: BASE_DIR")
    assert os.listdir(tmp_path) == ["file"]
