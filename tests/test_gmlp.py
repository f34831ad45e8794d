"""gMLP and gMixer: parity with timm's `gmlp_*` / `gmixer_*` from random checkpoints,
exact parameter counts against timm, layout detection, and gMLP's gate map resampled
to another input size.

timm's models are built with `pretrained=False`, given seeded random weights and
saved in `tmp_path`; the Keras model loads the file with `weights=` and its logits
must agree to 1e-4 relative on every backend. Tiny sizes keep this fast.
"""

import keras
import numpy as np
import pytest

import keras_mixer
from conftest import random_images
from conftest import relative_error
from keras_mixer.weights.resample import grid_matrix
from test_parity import CLASSES
from test_parity import DEPTH
from test_parity import DIM
from test_parity import IMAGENET_MEAN
from test_parity import IMAGENET_STD
from test_parity import PATCH
from test_parity import SIZE
from test_parity import TOLERANCE
from test_parity import _randomize_torch
from test_parity import _save_state
from test_parity import _torch_logits
from timm_import import import_timm

TIMM_VARIANTS = {name: keras_mixer.model_info(name).timm
                 for name in keras_mixer.list_models(family="gmlp") + keras_mixer.list_models(family="gmixer")}


def timm_gmlp(seed=5, size=SIZE):
    timm = import_timm()
    mixer = timm.models.mlp_mixer
    model = _randomize_torch(
        mixer.MlpMixer(num_classes=CLASSES, img_size=size, patch_size=PATCH, num_blocks=DEPTH,
                       embed_dim=DIM, mlp_ratio=6, block_layer=mixer.SpatialGatingBlock,
                       mlp_layer=timm.layers.GatedMlp),
        seed=seed,
    )
    import torch

    with torch.no_grad():  # gates open around 1, as trained ones are
        for block in model.blocks:
            block.mlp_channels.gate.proj.bias.add_(1.0)
    return model


def timm_gmixer(seed=6):
    import torch

    timm = import_timm()
    return _randomize_torch(
        timm.models.mlp_mixer.MlpMixer(
            num_classes=CLASSES, img_size=SIZE, patch_size=PATCH, num_blocks=DEPTH, embed_dim=DIM,
            mlp_ratio=(1.0, 4.0), mlp_layer=timm.layers.GluMlp, act_layer=torch.nn.SiLU,
        ),
        seed=seed,
    )


def small_gmlp(**kwargs):
    kwargs = {"patch_size": PATCH, "embed_dim": DIM, "depth": DEPTH, "input_shape": (SIZE, SIZE, 3),
              "classes": CLASSES, "classifier_activation": None, **kwargs}
    return keras_mixer.GMLP(**kwargs)


def small_gmixer(**kwargs):
    kwargs = {"patch_size": PATCH, "embed_dim": DIM, "depth": DEPTH, "token_mixing_dim": DIM,
              "channel_mixing_dim": 4 * DIM, "input_shape": (SIZE, SIZE, 3), "classes": CLASSES,
              "classifier_activation": None, **kwargs}
    return keras_mixer.GMixer(**kwargs)


# family: (timm's model, the Keras model loading it, timm's input normalisation of 0-255 pixels)
PARITY = {
    "gmlp": (timm_gmlp, small_gmlp, lambda images: images / 127.5 - 1.0),  # mean, std 0.5
    "gmixer": (timm_gmixer, small_gmixer, lambda images: (images / 255.0 - IMAGENET_MEAN) / IMAGENET_STD),
}


@pytest.mark.parametrize("checkpoint_format", ["safetensors", "pth"])
@pytest.mark.parametrize("family", sorted(PARITY))
def test_logits_match_timm(tmp_path, family, checkpoint_format):
    make_reference, make_model, normalise = PARITY[family]
    reference = make_reference()
    path = str(tmp_path / f"{family}.{checkpoint_format}")
    _save_state(reference, path, checkpoint_format)
    model = make_model(weights=path)
    images = random_images((2, SIZE, SIZE, 3))
    expected = _torch_logits(reference, normalise(images).transpose(0, 3, 1, 2))
    assert relative_error(model.predict(images, verbose=0), expected) <= TOLERANCE


def test_a_gmixer_checkpoint_is_told_from_a_mixer_one(tmp_path):
    path = str(tmp_path / "gmixer.safetensors")
    _save_state(timm_gmixer(), path, "safetensors")
    with pytest.raises(ValueError, match="is a gMixer checkpoint .* is a MLP-Mixer"):
        keras_mixer.MLPMixer(patch_size=PATCH, embed_dim=DIM, depth=DEPTH, token_mixing_dim=DIM,
                             channel_mixing_dim=4 * DIM, input_shape=(SIZE, SIZE, 3),
                             classes=CLASSES, weights=path)
    with pytest.raises(ValueError, match="is a gMixer checkpoint .* is a gMLP"):
        small_gmlp(weights=path)


def test_gmlp_gate_map_is_resampled_at_another_size(tmp_path):
    reference = timm_gmlp()
    path = str(tmp_path / "gmlp.safetensors")
    _save_state(reference, path, "safetensors")
    grid_in, grid = (SIZE // PATCH,) * 2, (6, 8)
    model = small_gmlp(input_shape=(grid[0] * PATCH, grid[1] * PATCH, 3), weights=path)
    matrix, back = grid_matrix(grid_in, grid), grid_matrix(grid, grid_in)
    state = reference.state_dict()
    proj = model.get_layer("block_1").channel_mixing.gate.proj
    weight = state["blocks.1.mlp_channels.gate.proj.weight"].numpy().T  # (in, out) as in Keras
    bias = state["blocks.1.mlp_channels.gate.proj.bias"].numpy()
    np.testing.assert_allclose(np.array(proj.kernel), back.T @ weight @ matrix.T, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(np.array(proj.bias), matrix @ bias, rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(
        np.array(model.get_layer("block_1").channel_mixing.fc1.kernel),
        state["blocks.1.mlp_channels.fc1.weight"].numpy().T,
    )
    assert np.isfinite(model.predict(random_images((1, 48, 64, 3)), verbose=0)).all()


def test_gmlp_gate_starts_as_the_paper_says():
    block = small_gmlp().get_layer("block_0")
    proj = block.channel_mixing.gate.proj
    assert block.channel_mixing.gate.norm.epsilon == 1e-5 and block.norm.epsilon == 1e-6
    np.testing.assert_array_equal(np.array(proj.bias), 1.0)
    assert np.abs(np.array(proj.kernel)).max() < 1e-5
    np.testing.assert_array_equal(np.array(small_gmlp().get_layer("head").kernel), 0.0)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(TIMM_VARIANTS))
def test_parameter_counts_equal_timms(name):
    if keras.config.backend() != "torch":
        pytest.skip("timm's counts do not depend on the Keras backend: counted in the torch pass")
    timm = import_timm()
    reference = timm.create_model(TIMM_VARIANTS[name], pretrained=False)
    assert sum(parameter.numel() for parameter in reference.parameters()) == keras_mixer.model_info(name).params


def test_fuse_for_inference_keeps_gated_models_as_they_are():
    for model in (small_gmlp(), small_gmixer()):
        assert keras_mixer.fuse_for_inference(model) is model


def test_convert_command_reads_a_gmlp_checkpoints_geometry(tmp_path, monkeypatch, capsys):
    from keras_mixer.cli import main
    from test_weights import small_variant

    reference = timm_gmlp()
    path = str(tmp_path / "gmlp.safetensors")
    _save_state(reference, path, "safetensors")
    small_variant(monkeypatch, "gmlp_s16", lambda **kwargs: keras_mixer.GMLP(
        patch_size=PATCH, embed_dim=DIM, depth=DEPTH, classifier_activation=None, **kwargs),
        patch_size=PATCH, embed_dim=DIM, depth=DEPTH, mlp_ratio=6.0)
    destination = str(tmp_path / "gmlp.weights.h5")
    assert main(["convert", path, destination, "--model", "gmlp_s16"]) == 0
    assert f"input ({SIZE}, {SIZE}), {CLASSES} classes" in capsys.readouterr().out
    images = random_images((2, SIZE, SIZE, 3))
    np.testing.assert_allclose(small_gmlp(weights=destination).predict(images, verbose=0),
                               small_gmlp(weights=path).predict(images, verbose=0), rtol=1e-6)
