"""weights=: formats, safety, shape checks, head handling, tags, downloads, convert."""

import dataclasses
import hashlib
import logging
import os
import pickle
import types
import zipfile

import numpy as np
import pytest

import keras_mixer
from conftest import random_images
from conftest import randomize_weights
from conftest import relative_error
from keras_mixer import registry
from keras_mixer.cli import main
from keras_mixer.weights import load_state_dict
from keras_mixer.weights.readers import read_checkpoint
from test_parity import flax_mixer_params

SIZE, PATCH, DIM, DEPTH = 32, 8, 32, 2
TOKENS = (SIZE // PATCH) ** 2


def small_mixer(**kwargs):
    kwargs.setdefault("input_shape", (SIZE, SIZE, 3))
    kwargs.setdefault("classes", 5)
    return keras_mixer.MLPMixer(
        patch_size=PATCH, embed_dim=DIM, depth=DEPTH, token_mixing_dim=DIM // 2,
        channel_mixing_dim=4 * DIM, classifier_activation=None, **kwargs
    )


def small_resmlp(**kwargs):
    kwargs.setdefault("input_shape", (SIZE, SIZE, 3))
    kwargs.setdefault("classes", 5)
    return keras_mixer.ResMLP(
        patch_size=PATCH, embed_dim=DIM, depth=DEPTH, classifier_activation=None, **kwargs
    )


@pytest.fixture
def npz_path(tmp_path):
    path = str(tmp_path / "mixer.npz")
    np.savez(path, **flax_mixer_params(np.random.default_rng(0), TOKENS))
    return path


def _weights(model):
    return [np.array(variable) for variable in model.weights]


def _assert_untouched(model, before):
    for value, variable in zip(before, model.weights):
        np.testing.assert_array_equal(value, np.array(variable))


# --- safe PyTorch reading -------------------------------------------------------------


class _RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _crafted_checkpoint(tmp_path):
    """A zip checkpoint whose data.pkl would run a shell command when unpickled."""
    marker = tmp_path / "code-ran"
    path = tmp_path / "crafted.pth"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("crafted/data.pkl", pickle.dumps({"w": _RunsCode(marker)}, protocol=2))
        archive.writestr("crafted/byteorder", "little")
        archive.writestr("crafted/version", "3\n")
    return str(path), marker


@pytest.mark.parametrize("use_torch", [True, False], ids=["torch.load", "restricted-unpickler"])
def test_crafted_pickle_is_refused_and_nothing_runs(tmp_path, use_torch):
    if use_torch:
        pytest.importorskip("torch")
    path, marker = _crafted_checkpoint(tmp_path)
    with pytest.raises(ValueError, match="posix.system.*refusing"):
        load_state_dict(path, use_torch=use_torch)
    assert not marker.exists()
    model = small_resmlp()
    before = _weights(model)
    with pytest.raises(ValueError, match="refusing"):
        keras_mixer.weights.load_weights(model, path)
    assert not marker.exists()
    _assert_untouched(model, before)


def test_restricted_reader_matches_torch_load(tmp_path):
    torch = pytest.importorskip("torch")
    state = {
        "a": torch.randn(3, 4),
        "t": torch.randn(4, 3).t(),  # non-contiguous: strides matter
        "h": torch.randn(5).half(),
        "bf": torch.randn(6).bfloat16(),
        "i": torch.arange(6).reshape(2, 3)[:, 1:],
    }
    path = str(tmp_path / "state.bin")
    torch.save({"model": state}, path)
    safe = load_state_dict(path, use_torch=False)
    reference = load_state_dict(path, use_torch=True)
    assert sorted(safe) == sorted(state)
    for key in state:
        np.testing.assert_array_equal(safe[key], reference[key])
        assert safe[key].shape == tuple(state[key].shape)


@pytest.mark.parametrize("kind", ["npz", "safetensors", "pth", "h5"])
def test_truncated_or_corrupt_files_give_clear_errors(tmp_path, npz_path, kind):
    if kind == "npz":
        source = npz_path
    elif kind == "h5":
        source = str(tmp_path / "good.weights.h5")
        small_mixer().save_weights(source)
    else:
        torch = pytest.importorskip("torch")
        source = str(tmp_path / f"good.{kind}")
        tensors = {"w": torch.randn(64, 64)}
        if kind == "safetensors":
            from safetensors.torch import save_file

            save_file(tensors, source)
        else:
            torch.save(tensors, source)
    data = open(source, "rb").read()
    suffix = ".weights.h5" if kind == "h5" else f".{kind}"
    truncated = str(tmp_path / f"truncated{suffix}")
    with open(truncated, "wb") as handle:
        handle.write(data[: len(data) * 2 // 3])
    model = small_mixer()
    before = _weights(model)
    with pytest.raises(ValueError, match="(?i)cannot read|corrupt|truncated"):
        keras_mixer.weights.load_weights(model, truncated)
    _assert_untouched(model, before)
    garbage = str(tmp_path / f"garbage{suffix}")
    with open(garbage, "wb") as handle:
        handle.write(b"not a checkpoint at all" * 10)
    with pytest.raises(ValueError, match="(?i)cannot read|unknown format"):
        keras_mixer.weights.load_weights(model, garbage)


# --- mapping and shape checks ---------------------------------------------------------


def test_wrong_shape_names_key_expected_and_found_and_leaves_model_untouched(tmp_path):
    params = flax_mixer_params(np.random.default_rng(0), TOKENS)
    params["MixerBlock_1/channel_mixing/Dense_0/kernel"] = np.zeros((DIM, 3 * DIM), "float32")
    path = str(tmp_path / "bad.npz")
    np.savez(path, **params)
    model = small_mixer()
    before = _weights(model)
    with pytest.raises(ValueError) as error:
        keras_mixer.weights.load_weights(model, path)
    message = str(error.value)
    assert "MixerBlock_1/channel_mixing/Dense_0/kernel" in message
    assert f"expected shape {(DIM, 4 * DIM)}" in message and f"found {(DIM, 3 * DIM)}" in message
    _assert_untouched(model, before)


def test_missing_key_and_other_family_are_errors(tmp_path, npz_path):
    params = flax_mixer_params(np.random.default_rng(0), TOKENS)
    del params["MixerBlock_0/LayerNorm_1/scale"]
    path = str(tmp_path / "missing.npz")
    np.savez(path, **params)
    with pytest.raises(ValueError, match="MixerBlock_0/LayerNorm_1/scale.*missing"):
        small_mixer(weights=path)
    with pytest.raises(ValueError, match="MLP-Mixer checkpoint.*is a ResMLP"):
        small_resmlp(weights=npz_path)
    with pytest.raises(ValueError, match="MixerBlock_1.*no place for"):
        keras_mixer.MLPMixer(
            patch_size=PATCH, embed_dim=DIM, depth=1, token_mixing_dim=DIM // 2,
            channel_mixing_dim=4 * DIM, input_shape=(SIZE, SIZE, 3), classes=5, weights=npz_path,
        )


def test_other_classes_load_the_body_and_keep_a_fresh_head(npz_path, caplog):
    reference = small_mixer(weights=npz_path)
    with caplog.at_level(logging.WARNING, logger="keras_mixer"):
        model = small_mixer(classes=7, weights=npz_path)
    assert "5 classes" in caplog.text and "head keeps its fresh initialisation" in caplog.text
    for variable, loaded in zip(model.weights, reference.weights):
        if variable.path.startswith("head/"):
            assert not np.any(np.array(variable))  # Mixer's head starts at zero
        else:
            np.testing.assert_array_equal(np.array(variable), np.array(loaded))
    images = random_images((2, SIZE, SIZE, 3))
    features = keras_mixer.MLPMixer(
        patch_size=PATCH, embed_dim=DIM, depth=DEPTH, token_mixing_dim=DIM // 2,
        channel_mixing_dim=4 * DIM, input_shape=(SIZE, SIZE, 3), include_top=False,
        pooling="avg", weights=npz_path,
    )
    pooled = features.predict(images, verbose=0)
    head = reference.get_layer("head")
    logits = pooled @ np.array(head.kernel) + np.array(head.bias)
    assert relative_error(logits, reference.predict(images, verbose=0)) <= 1e-5


def test_keras_file_round_trip_resolution_and_head(tmp_path):
    source = randomize_weights(small_resmlp(), seed=1)
    images = random_images((2, SIZE, SIZE, 3))
    source.compile(optimizer="adam", loss="mse")  # the file then holds optimizer state too
    source.fit(images, np.zeros((2, 5)), epochs=1, verbose=0)
    path = str(tmp_path / "resmlp.weights.h5")
    source.save_weights(path)
    same = small_resmlp(weights=path)
    np.testing.assert_allclose(same.predict(images, verbose=0), source.predict(images, verbose=0), rtol=1e-6)
    larger = small_resmlp(input_shape=(2 * SIZE, SIZE, 3), classes=3, weights=path)
    kernel = np.array(larger.get_layer("block_0").token_mixing.linear.kernel)
    assert kernel.shape == (2 * TOKENS, 2 * TOKENS)
    np.testing.assert_array_equal(
        np.array(larger.get_layer("stem").proj.kernel), np.array(source.get_layer("stem").proj.kernel)
    )


# --- tags, registry, downloads --------------------------------------------------------


def test_registry_covers_every_official_checkpoint_and_renders():
    presets = keras_mixer.list_presets()
    for model in ("resmlp12", "resmlp24", "resmlp36", "resmlpb24"):
        assert {f"{model}.imagenet", f"{model}.imagenet_distilled"} <= set(presets)
    assert "resmlpb24.imagenet22k" in presets
    for model in ("mixer_b16", "mixer_l16"):
        assert {f"{model}.imagenet", f"{model}.imagenet21k"} <= set(presets)
        # The official "imagenet" Mixer files are trained on ImageNet-1k only.
        assert keras_mixer.preset_info(f"{model}.imagenet").training_data == "ImageNet-1k"
    assert all(keras_mixer.preset_info(name).classes == 21843 for name in presets
               if name.endswith(".imagenet21k"))
    table = registry.presets_table()
    assert len(table.splitlines()) == len(presets) + 2
    assert all(keras_mixer.preset_info(name).url in table for name in presets)
    docs = os.path.join(os.path.dirname(__file__), os.pardir, "docs", "weights.md")
    assert table in open(docs).read(), "docs/weights.md is out of date: paste registry.presets_table()"


def test_unknown_tag_or_architecture_is_an_early_error():
    with pytest.raises(ValueError, match="no ResMLP checkpoint is published.*available: resmlp12"):
        small_resmlp(weights="imagenet")
    with pytest.raises(ValueError, match="expected None, one of the tags"):
        small_resmlp(weights="imagenet1k")
    with pytest.raises(ValueError, match="is a checkpoint of mixer_b16; this model is resmlp12"):
        keras_mixer.ResMLP12(weights="mixer_b16.imagenet")


def small_variant(monkeypatch, name, builder, image_size=SIZE, classes=5, **architecture):
    """Registers `builder` (a small model) as the variant `name` for one test."""
    real = registry.model_info(name)
    variant = dataclasses.replace(
        real, architecture=types.MappingProxyType(architecture), image_size=image_size,
        classes=classes, builder=builder,
    )
    monkeypatch.setitem(registry._VARIANTS, name, variant)
    return variant


def test_tag_download_is_cached_converted_once_and_partial_downloads_are_never_used(
    tmp_path, monkeypatch
):
    torch = pytest.importorskip("torch")
    from test_parity import _deit_state

    monkeypatch.setenv("KERAS_MIXER_CACHE_DIR", str(tmp_path / "cache"))
    good = tmp_path / "origin" / "resmlp_tiny.pth"
    good.parent.mkdir()
    state = _deit_state(np.random.default_rng(5), TOKENS)
    torch.save({"model": {key: torch.from_numpy(value) for key, value in state.items()}}, good)
    truncated = tmp_path / "origin" / "resmlp_truncated.pth"
    truncated.write_bytes(good.read_bytes()[:2000])
    variant = small_variant(
        monkeypatch, "resmlp12",
        lambda **kwargs: keras_mixer.ResMLP(patch_size=PATCH, embed_dim=DIM, depth=DEPTH, **kwargs),
        patch_size=PATCH, embed_dim=DIM, depth=DEPTH, layer_scale_init=0.1,
    )

    def use(url):
        entry = registry.Preset(variant, "imagenet", url, "test", "resmlp_deit", 5, "test", "test")
        monkeypatch.setattr(registry, "_PRESETS", {entry.name: entry})
        return entry

    entry = use(truncated.as_uri())
    with pytest.raises(ValueError, match="incomplete or corrupt"):
        small_resmlp(weights="imagenet")
    downloads = tmp_path / "cache" / "downloads"
    assert not list(downloads.iterdir())  # nothing kept, nothing that looks finished
    assert not list((tmp_path / "cache").glob("converted/*"))

    entry = use(good.as_uri())
    monkeypatch.setitem(registry._PRESETS, entry.name, dataclasses.replace(entry, sha256="0" * 64))
    with pytest.raises(ValueError, match="incomplete or corrupt.*its SHA-256 is [0-9a-f]{64}; the publisher's is 0000"):
        small_resmlp(weights="imagenet")
    assert not list(downloads.iterdir())
    entry = use(good.as_uri())  # the right hash passes
    entry = dataclasses.replace(entry, sha256=hashlib.sha256(good.read_bytes()).hexdigest())
    monkeypatch.setitem(registry._PRESETS, entry.name, entry)
    (downloads / (entry.filename + ".partial")).write_bytes(b"left by a killed download")
    direct = small_resmlp(weights=str(good))
    model = small_resmlp(weights="imagenet")
    images = random_images((2, SIZE, SIZE, 3))
    np.testing.assert_allclose(model.predict(images, verbose=0), direct.predict(images, verbose=0), rtol=1e-6)
    assert (downloads / entry.filename).exists()
    converted = tmp_path / "cache" / "converted" / "resmlp12_imagenet.weights.h5"
    assert converted.exists()
    good.unlink()  # cached from now on: no download, no conversion
    stamp = converted.stat().st_mtime_ns
    again = small_resmlp(weights="imagenet", classes=2, input_shape=(SIZE, 2 * SIZE, 3))
    assert converted.stat().st_mtime_ns == stamp
    assert again.output_shape == (None, 2)


# --- keras-mixer convert --------------------------------------------------------------


def test_convert_command_writes_loadable_weights(tmp_path, npz_path, monkeypatch, capsys):
    small_variant(
        monkeypatch, "mixer_b16",
        lambda **kwargs: keras_mixer.MLPMixer(
            patch_size=PATCH, embed_dim=DIM, depth=DEPTH, token_mixing_dim=DIM // 2,
            channel_mixing_dim=4 * DIM, **kwargs
        ),
        patch_size=PATCH, embed_dim=DIM, depth=DEPTH, token_mixing_dim=DIM // 2,
        channel_mixing_dim=4 * DIM,
    )
    destination = str(tmp_path / "converted.weights.h5")
    assert main(["convert", npz_path, destination, "--model", "mixer_b16"]) == 0
    assert "tanh GELU" in capsys.readouterr().out
    model = small_mixer(weights=destination)
    assert model.get_layer("block_0").gelu_approximate  # recorded in the file
    reference = small_mixer(weights=npz_path)
    images = random_images((2, SIZE, SIZE, 3))
    np.testing.assert_allclose(model.predict(images, verbose=0), reference.predict(images, verbose=0), rtol=1e-6)
    assert main(["convert", str(tmp_path / "nope.npz"), destination, "--model", "mixer_b16"]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["convert", npz_path, destination, "--model", "resmlp12"]) == 2
    assert "is a ResMLP" in capsys.readouterr().err


def test_read_checkpoint_detects_formats(tmp_path, npz_path):
    assert read_checkpoint(npz_path)[0] == "npz"


# --- converters: one module per layout, found automatically ---------------------------

RENAMED = '''
from keras_mixer.weights.converters.resmlp_deit import resmlp_rules
from keras_mixer.weights.layouts import Layout

LAYOUT = Layout("resmlp_renamed", "a ResMLP under other key names", "resmlp",
                "blocks.0.tokens.weight", resmlp_rules("embed", "tokens", "mlp", "s1", "s2"))
'''


def _package(tmp_path, monkeypatch, name, files):
    folder = tmp_path / name
    folder.mkdir()
    (folder / "__init__.py").write_text("")
    for module, text in files.items():
        (folder / f"{module}.py").write_text(text)
    monkeypatch.syspath_prepend(str(tmp_path))
    return __import__(name)


def test_a_new_converter_module_is_discovered_and_loads_through_the_shared_path(tmp_path, monkeypatch):
    from keras_mixer.weights import converters
    from keras_mixer.weights.foreign import load_checkpoint_state
    from test_parity import _deit_state

    package = _package(tmp_path, monkeypatch, "extra_converters", {"resmlp_renamed": RENAMED})
    (layout,) = converters.discover(package)
    assert layout.name == "resmlp_renamed"
    monkeypatch.setattr(converters, "LAYOUTS", converters.LAYOUTS + (layout,))
    state = _deit_state(np.random.default_rng(0), TOKENS)
    names = {"patch_embed.proj": "embed", ".attn.": ".tokens.", ".gamma_1": ".s1", ".gamma_2": ".s2"}
    renamed = {}
    for key, value in state.items():
        for old, new in names.items():
            key = key.replace(old, new)
        renamed[key] = value
    expected = load_checkpoint_state(small_resmlp(), state)
    model = load_checkpoint_state(small_resmlp(classes=3), renamed)  # head tolerance too
    for variable, loaded in zip(model.weights, expected.weights):
        if not variable.path.startswith("head/"):
            np.testing.assert_array_equal(np.array(variable), np.array(loaded))


@pytest.mark.parametrize("package, text, message", [
    ("no_layout", "LAYOUT = None", "has LAYOUT=None; expected a keras_mixer.weights.layouts.Layout named 'bad'"),
    ("misnamed", RENAMED, "has LAYOUT=Layout\\(name='resmlp_renamed'.*named 'bad'"),
])
def test_a_converter_module_must_hold_one_layout_named_after_it(tmp_path, monkeypatch, package, text, message):
    from keras_mixer.weights import converters

    package = _package(tmp_path, monkeypatch, package, {"bad": text})
    with pytest.raises(ValueError, match=message):
        converters.discover(package)


def test_every_converter_loads_a_registered_family_and_every_family_has_one():
    from keras_mixer.weights.converters import LAYOUTS

    families = {layout.family for layout in LAYOUTS}
    assert families == set(registry.list_families())
    assert len({(layout.signature, layout.gated) for layout in LAYOUTS}) == len(LAYOUTS)


def test_two_converters_with_one_signature_are_refused(tmp_path, monkeypatch):
    from keras_mixer.weights import converters

    again = RENAMED.replace('"resmlp_renamed"', '"resmlp_again"')
    package = _package(tmp_path, monkeypatch, "twice", {"resmlp_renamed": RENAMED, "resmlp_again": again})
    with pytest.raises(ValueError, match="'resmlp_again' and 'resmlp_renamed' have the same signature key"):
        converters.discover(package)
