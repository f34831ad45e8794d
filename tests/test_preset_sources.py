"""Every preset's metadata is complete and its layout known; presets with their own
preprocessing (MIIL's Mixer) and backbone presets (ResMLP DINO) load as they should.

Downloads cannot run here: each preset's URL is swapped for a local file in its layout.
"""

import dataclasses
import logging

import keras
import numpy as np
import pytest

import keras_mixer
from conftest import random_images
from conftest import relative_error
from keras_mixer import registry
from keras_mixer.weights.converters import LAYOUTS
from test_parity import _deit_state
from test_parity import _randomize_torch
from test_parity import _save_state
from test_parity import _torch_logits
from test_weights import DEPTH
from test_weights import DIM
from test_weights import PATCH
from test_weights import SIZE
from test_weights import TOKENS
from test_weights import small_mixer
from test_weights import small_resmlp
from test_weights import small_variant
from timm_import import import_timm

FAMILY_OF_LAYOUT = {layout.name: layout.family for layout in LAYOUTS}


@pytest.mark.parametrize("name", keras_mixer.list_presets())
def test_every_preset_is_complete_and_its_layout_known(name):
    preset = keras_mixer.preset_info(name)
    assert preset.url.startswith("https://") and preset.source and preset.license
    assert preset.training_data and preset.top1_source and preset.classes > 0
    assert FAMILY_OF_LAYOUT[preset.layout] == preset.variant.family.name
    assert preset.top1 is None or 50 < preset.top1 < 100
    assert not (preset.backbone and preset.top1 is not None)  # no classifier, no top-1
    assert preset.sha256 is None or len(preset.sha256) == 64
    if preset.preprocessing is not None:
        assert preset.preprocessing != preset.variant.family.preprocessing


def test_the_new_presets_say_what_they_are():
    miil = keras_mixer.preset_info("mixer_b16.miil_in21k_ft_in1k")
    assert (miil.top1, miil.layout, miil.preprocessing.describe()) == (82.31, "mixer_timm", "(x - 0) / 255")
    assert keras_mixer.preset_info("mixer_b16.miil_in21k").classes == 11221
    assert keras_mixer.preset_info("gmlp_s16.imagenet").top1 == 79.64
    assert keras_mixer.preset_info("gmixer24.imagenet").layout == "gmixer_timm"
    assert all(keras_mixer.preset_info(f"resmlp{depth}.dino").backbone for depth in (12, 24))


def _local_preset(monkeypatch, name, path, **changes):
    """The preset `name`, of the variant `small_variant` put in place, read from `path`."""
    preset = keras_mixer.preset_info(name)
    preset = dataclasses.replace(preset, variant=registry.model_info(preset.variant.name),
                                 url=path.as_uri(), **changes)
    monkeypatch.setitem(registry._PRESETS, name, preset)
    return preset


def test_a_preset_with_its_own_preprocessing_gives_it_to_the_model(tmp_path, monkeypatch):
    timm = import_timm()
    monkeypatch.setenv("KERAS_MIXER_CACHE_DIR", str(tmp_path / "cache"))
    reference = _randomize_torch(
        timm.models.mlp_mixer.MlpMixer(num_classes=5, img_size=SIZE, patch_size=PATCH,
                                       num_blocks=DEPTH, embed_dim=DIM, mlp_ratio=(0.5, 4.0)),
        seed=7,
    )
    path = tmp_path / "miil.safetensors"
    _save_state(reference, str(path), "safetensors")
    small_variant(monkeypatch, "mixer_b16", lambda **kwargs: small_mixer(**kwargs),
                  patch_size=PATCH, embed_dim=DIM, depth=DEPTH, token_mixing_dim=DIM // 2,
                  channel_mixing_dim=4 * DIM)
    _local_preset(monkeypatch, "mixer_b16.miil_in21k_ft_in1k", path, classes=5)
    model = small_mixer(weights="miil_in21k_ft_in1k")
    assert model.spec.preprocessing.describe() == "(x - 0) / 255"
    images = random_images((2, SIZE, SIZE, 3))
    expected = _torch_logits(reference, (images / 255.0).transpose(0, 3, 1, 2))  # timm: mean 0, std 1
    assert relative_error(model.predict(images, verbose=0), expected) <= 1e-4
    saved = tmp_path / "miil.keras"
    model.save(saved)
    assert keras.saving.load_model(saved).spec.preprocessing == model.spec.preprocessing
    assert small_mixer().spec.preprocessing.describe() == "(x - 127.5) / 127.5"  # the family's
    with pytest.raises(ValueError, match=r"preprocessing='x / 255' is not supported"):
        small_mixer(preprocessing="x / 255")


def test_a_backbone_preset_keeps_the_body_and_never_its_head(tmp_path, monkeypatch, caplog):
    torch = pytest.importorskip("torch")
    monkeypatch.setenv("KERAS_MIXER_CACHE_DIR", str(tmp_path / "cache"))
    state = _deit_state(np.random.default_rng(8), TOKENS)  # deit's layout, with a head
    path = tmp_path / "resmlp_dino.pth"
    torch.save({key: torch.from_numpy(value) for key, value in state.items()}, path)
    small_variant(monkeypatch, "resmlp12", lambda **kwargs: small_resmlp(**kwargs),
                  patch_size=PATCH, embed_dim=DIM, depth=DEPTH, layer_scale_init=0.1)
    _local_preset(monkeypatch, "resmlp12.dino", path, classes=5)
    direct = small_resmlp(weights=str(path), include_top=False, pooling="avg")
    features = small_resmlp(weights="dino", include_top=False, pooling="avg")
    images = random_images((2, SIZE, SIZE, 3))
    np.testing.assert_allclose(features.predict(images, verbose=0), direct.predict(images, verbose=0),
                               rtol=1e-6)
    with caplog.at_level(logging.WARNING, logger="keras_mixer"):
        classifier = small_resmlp(weights="dino", classes=5)
    assert "no classifier head (a backbone)" in caplog.text
    assert not np.allclose(np.array(classifier.get_layer("head").kernel), state["head.weight"].T)
    np.testing.assert_array_equal(np.array(classifier.get_layer("block_1").token_mixing.linear.kernel),
                                  state["blocks.1.attn.weight"].T)
    assert keras_mixer.from_preset("resmlp12.dino").output_shape == (None, TOKENS, DIM)
