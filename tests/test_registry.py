"""The registry is the one source of model facts, and models carry their spec everywhere.

Covers listing and lookup (names, patterns, families, errors), that every
registered variant builds what the registry says (spec, size, classes; the
counts themselves are checked in test_models and test_repmlpnet), that the
spec survives `.keras`, fusion, re-parameterisation and presets, and that
preset folders are checked as the untrusted input they are.
"""

import json
import os

import keras
import numpy as np
import pytest

import keras_mixer
from conftest import random_images
from keras_mixer import registry
from keras_mixer.benchmark.machine import peak_memory_mb
from keras_mixer.benchmark.machine import reset_peak_memory


def test_listing_and_lookup():
    assert keras_mixer.list_families() == ["gmixer", "gmlp", "mixer", "repmlpnet", "resmlp"]
    assert keras_mixer.list_models("mixer_b*") == ["mixer_b16", "mixer_b32"]
    assert keras_mixer.list_models(family="repmlpnet")[0] == "repmlpnet_b224"
    assert keras_mixer.list_presets("*.imagenet21k") == ["mixer_b16.imagenet21k", "mixer_l16.imagenet21k"]
    assert keras_mixer.model_info("Mixer-B/16").name == "mixer_b16"
    assert keras_mixer.preset_info("resmlp12.imagenet").variant is keras_mixer.model_info("resmlp12")
    with pytest.raises(ValueError, match=r"Unknown model 'resmlp13'; expected one of \['gmixer12'"):
        keras_mixer.model_info("resmlp13")
    with pytest.raises(ValueError, match="Unknown preset 'resmlp12.imagenet1k'"):
        keras_mixer.preset_info("resmlp12.imagenet1k")
    with pytest.raises(ValueError, match="family='vit' is not supported"):
        keras_mixer.list_models(family="vit")


def test_every_variant_has_its_named_builder_and_its_facts():
    for name in keras_mixer.list_models():
        variant = keras_mixer.model_info(name)
        assert variant.params > 0 and variant.image_size > 0
        if variant.function:
            assert getattr(keras_mixer, variant.function) is variant.builder
            assert f"{variant.params:,}" in variant.builder.__doc__
    for name in keras_mixer.list_presets():
        preset = keras_mixer.preset_info(name)
        assert preset.url.startswith("https://") and preset.license and preset.training_data


def test_docs_tables_are_generated_from_the_registry():
    root = os.path.join(os.path.dirname(__file__), os.pardir)
    models = open(os.path.join(root, "docs", "models.md")).read()
    for table in (registry.models_table(), registry.families_table()):
        assert table in models, "docs/models.md is out of date: paste registry.models_table() and families_table()"
    assert registry.models_table() in open(os.path.join(root, "README.md")).read(), "README.md is out of date"


@pytest.mark.parametrize("name", ["resmlp_digits", "mixer_s32", "repmlpnet_t224"])
def test_a_variant_knows_what_it_is_after_save_and_load(name, tmp_path):
    variant = keras_mixer.model_info(name)
    size = 32 if variant.family.name == "mixer" else variant.image_size
    with keras.StatelessScope(initialize_variables=False) if name == "repmlpnet_t224" else _nothing():
        model = keras_mixer.models.get_model(name, input_shape=(size, size, 3), classes=3)
    assert isinstance(model, keras_mixer.models.Model)
    assert (model.spec.family, model.spec.variant) == (variant.family.name, name)
    assert model.spec.arguments["classes"] == 3
    if name == "repmlpnet_t224":
        return  # declared only: too large to save in every pass
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.spec == keras_mixer.models.ModelSpec.from_config(model.spec.get_config())
    fused = keras_mixer.fuse_for_inference(loaded)
    assert fused.spec.form == "fused" and fused.spec.variant == name


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_custom_sizes_have_no_variant_and_architecture_arguments_decide():
    tiny = keras_mixer.ResMLP(patch_size=8, embed_dim=16, depth=1, input_shape=(16, 16, 3))
    assert tiny.spec.variant is None and tiny.spec.family == "resmlp"
    # ResMLP-12's sizes but another MLP ratio is not ResMLP-12.
    assert registry.find_variant("resmlp", {**keras_mixer.model_info("resmlp12").architecture,
                                            "mlp_ratio": 4.0}).name == "resmlp12"
    assert registry.find_variant("resmlp", {**keras_mixer.model_info("resmlp12").architecture,
                                            "mlp_ratio": 3.0}) is None


def test_weights_preset_name_must_be_the_models_variant():
    with pytest.raises(ValueError, match="is a checkpoint of resmlp24; this model is resmlp12"):
        keras_mixer.ResMLP12(weights="resmlp24.imagenet")
    with pytest.raises(ValueError, match="no MLP-Mixer checkpoint is published for variant mixer_s16"):
        keras_mixer.MLPMixerS16(weights="imagenet21k")


def small_mixer(**kwargs):
    return keras_mixer.MLPMixer(patch_size=8, embed_dim=16, depth=1, token_mixing_dim=8,
                                channel_mixing_dim=32, input_shape=(16, 16, 3), **kwargs)


def test_preset_folder_round_trip_and_as_weights(tmp_path):
    model = small_mixer(classes=3, gelu_approximate=True)
    folder = str(tmp_path / "preset")
    keras_mixer.save_preset(model, folder)
    assert sorted(os.listdir(tmp_path)) == ["preset"]  # staged: nothing else left
    metadata = json.load(open(os.path.join(folder, "metadata.json")))
    assert metadata["family"] == "mixer" and metadata["parameter_count"] == model.count_params()
    images = random_images((2, 16, 16, 3))
    loaded = keras_mixer.from_preset(folder)
    np.testing.assert_array_equal(loaded.predict(images, verbose=0), model.predict(images, verbose=0))
    assert loaded.spec.arguments["gelu_approximate"] is True
    larger = small_mixer(weights=folder, classes=5, gelu_approximate=None)  # body kept, new head
    assert larger.output_shape == (None, 5) and larger.get_layer("block_0").gelu_approximate
    with pytest.raises(ValueError, match="already exists; it is never overwritten"):
        keras_mixer.save_preset(model, folder)
    with pytest.raises(ValueError, match="is a MLP-Mixer; the model is a ResMLP"):
        keras_mixer.ResMLP(patch_size=8, embed_dim=16, depth=1, input_shape=(16, 16, 3), weights=folder)
    with pytest.raises(ValueError, match="fused form, which no builder makes"):
        keras_mixer.save_preset(keras_mixer.fuse_for_inference(model), str(tmp_path / "fused"))


@pytest.mark.parametrize(
    "config, message",
    [
        ({"module": "os", "class_name": "system", "config": {}}, "expected module 'keras_mixer'"),
        ({"module": "keras_mixer", "class_name": "ResMLP", "config": []}, "must be an object"),
        ({"module": "keras_mixer", "class_name": "ResMLP", "config": {"depth": 0}},
         "depth=0 is not supported"),
        ({"module": "keras_mixer", "class_name": "ResMLP", "config": {"evil": 1}},
         r"arguments \['evil'\] are not arguments of keras_mixer.ResMLP"),
    ],
)
def test_hostile_preset_config_is_refused_before_anything_runs(tmp_path, config, message):
    folder = tmp_path / "preset"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=message):
        keras_mixer.from_preset(str(folder))


def _saved_small_mixer(tmp_path, **config):
    """A preset folder of a small Mixer whose config.json then asks for `config`."""
    folder = str(tmp_path / "preset")
    keras_mixer.save_preset(small_mixer(classes=3), folder)
    with open(os.path.join(folder, "config.json")) as file:
        content = json.load(file)
    content["config"].update(config)
    with open(os.path.join(folder, "config.json"), "w") as file:
        json.dump(content, file)
    return folder


def test_a_preset_config_asking_for_a_huge_model_is_refused_before_any_allocation(tmp_path):
    """A few changed numbers in config.json describe a model of 1 GB (270 M parameters) beside a
    17 KB weights file: before the check it was built (peak memory +1.3 to +1.7 GB) and only
    then refused by the loader; the variables of the count are dropped too (kept, the next
    symbolic op allocated them: +1.3 GB on TensorFlow and torch)."""
    folder = _saved_small_mixer(tmp_path, patch_size=16, embed_dim=2048, depth=8, token_mixing_dim=8,
                                channel_mixing_dim=8192, input_shape=[224, 224, 3])
    reset_peak_memory()
    before = peak_memory_mb()
    with pytest.raises(ValueError, match=r"describes a model of 270,194,787 parameters, but .* holds 4,383"):
        keras_mixer.from_preset(folder)
    inputs = keras.Input((4,))
    keras.layers.Lambda(keras.ops.sin)(inputs)  # a symbolic op: where Keras initialises pending variables
    assert peak_memory_mb() - before < 300


@pytest.mark.parametrize(
    "family, config",
    [("mixer", {"depth": 10**7}), ("repmlpnet", {"depths": [2, 2, 10**7, 2]})],
)
def test_a_preset_config_asking_for_too_many_blocks_is_refused_at_once(tmp_path, family, config):
    if family == "mixer":
        folder = _saved_small_mixer(tmp_path, **config)
    else:
        folder = str(tmp_path / "preset")
        os.makedirs(folder)
        with open(os.path.join(folder, "config.json"), "w") as file:
            json.dump({"module": "keras_mixer", "class_name": "RepMLPNet", "config": config}, file)
    with pytest.raises(ValueError, match=rf"asks for 10,000,00\d blocks \(depths?\); expected at most 1,000"):
        keras_mixer.from_preset(folder)


def test_oversized_or_broken_preset_json_is_refused(tmp_path):
    folder = tmp_path / "preset"
    folder.mkdir()
    (folder / "config.json").write_bytes(b"{" + b" " * (64 * 1024) + b"}")
    with pytest.raises(ValueError, match="expected at most 65,536"):
        keras_mixer.from_preset(str(folder))
    (folder / "config.json").write_bytes(b"\xff{")
    with pytest.raises(ValueError, match="is not JSON"):
        keras_mixer.from_preset(str(folder))


def test_a_preset_with_its_own_evaluation_transform_is_exported_with_it(tmp_path, monkeypatch):
    """MIIL's Mixer-B/16 is evaluated by timm with bilinear resizing and x/255 inputs; a model
    built with its weights records the preset, keeps it in .keras and preset folders, and the
    export's evaluation policy follows it."""
    import keras_mixer.weights as weights
    from keras_mixer.export.eval_policy import eval_policy_for
    from keras_mixer.spec import ModelSpec

    spec = ModelSpec("mixer", "mixer_b16", {}, preset="mixer_b16.miil_in21k_ft_in1k")
    assert ModelSpec.from_config(spec.get_config()) == spec
    assert (spec.eval_transform.interpolation, spec.eval_transform.crop_ratio) == ("bilinear", 0.875)
    assert ModelSpec("mixer", "mixer_b16", {}).eval_transform.interpolation == "bicubic"
    with pytest.raises(ValueError, match="mixer_b16.nothing"):
        ModelSpec.from_config({**spec.get_config(), "preset": "mixer_b16.nothing"})

    monkeypatch.setattr(weights, "converted_weights", lambda preset: "not downloaded")
    monkeypatch.setattr(weights, "load_keras_weights", lambda model, path: model)
    model = keras_mixer.MLPMixerB16(weights="miil_in21k_ft_in1k")
    assert model.spec.preset == "mixer_b16.miil_in21k_ft_in1k"
    assert model.spec.preprocessing.std == (255.0,) * 3
    assert eval_policy_for(model).interpolation == "bilinear"
    assert keras_mixer.MLPMixerB16(weights="imagenet").spec.preset == "mixer_b16.imagenet"

    folder = tmp_path / "miil"
    keras_mixer.save_preset(model, folder)
    assert json.loads((folder / "metadata.json").read_text())["preset"] == "mixer_b16.miil_in21k_ft_in1k"
    monkeypatch.undo()
    assert keras_mixer.from_preset(str(folder)).spec.preset == "mixer_b16.miil_in21k_ft_in1k"
    for preset, message in (("mixer_b16.nothing", "expected None or one of"),
                            ("resmlp12.imagenet", "expected the preset's variant")):
        metadata = json.loads((folder / "metadata.json").read_text())
        (folder / "metadata.json").write_text(json.dumps({**metadata, "preset": preset}))
        with pytest.raises(ValueError, match=message):
            keras_mixer.from_preset(str(folder))
