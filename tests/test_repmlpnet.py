"""RepMLPNet models: training-form parameter counts, natural size, bad input, official
state-dict parity (the harness, tests/harness.py, checks the family's contract)."""

import logging

import keras
import numpy as np
import pytest
import torch
from keras import ops

import keras_mixer
from keras_mixer.weights import load_checkpoint_state

from conftest import relative_error
from torch_repmlpnet import TorchRepMLPNet
from torch_repmlpnet import deploy_state_dict
from torch_repmlpnet import randomize

SMALL = dict(channels=(8, 16), depths=(1, 2), sharesets=(2, 4), partition_sizes=(4, 2))

# Counts of trainable parameters (PyTorch's `parameters()`, BN moving statistics
# excluded) at the natural size with 1000 classes in the training form, and the
# paper's Table; OpenMMLab's published counts of the converted official
# checkpoints (training form). The deploy form's count is the registry's, which
# the harness checks (tests/test_harness.py). See docs/repmlp.md.
PARAMS = {
    "repmlpnet_t224": (38_293_608, 38.3),
    "repmlpnet_b224": (68_242_712, 68.2),
    "repmlpnet_t256": (58_687_848, 58.7),
    "repmlpnet_b256": (96_447_512, 96.5),
    "repmlpnet_d256": (86_887_648, 86.9),
    "repmlpnet_l256": (117_641_560, 117.7),
}
OPENMMLAB = {"repmlpnet_b224": 68.24, "repmlpnet_b256": 96.45}


@pytest.mark.parametrize("name", sorted(PARAMS))
def test_training_form_counts_match_the_official_definition(name):
    training, paper = PARAMS[name]
    with keras.StatelessScope(initialize_variables=False):
        model = keras_mixer.models.get_model(name)
    assert sum(int(np.prod(v.shape)) for v in model.trainable_weights) == training
    if name in OPENMMLAB:
        assert round(training / 1e6, 2) == OPENMMLAB[name]
    # The paper's figures match no single convention (docs/repmlp.md); all are
    # within 0.15M of the deploy form, the registry's count.
    assert abs(keras_mixer.model_info(name).params / 1e6 - paper) < 0.15


def test_natural_size_is_one_partition_per_stage():
    assert keras_mixer.RepMLPNet(**SMALL).input_shape == (None, 16, 16, 3)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(input_shape=(24, 32, 3)), "image height 24 is not a multiple of"),
        (dict(input_shape=(32, 32, 1)), "has 1 channels"),
        (dict(sharesets=(3, 4)), "sharesets\\[0\\]=3 does not divide channels\\[0\\]=8"),
        (dict(depths=(1,)), "depths=\\(1,\\) has 1 entries"),
        (dict(depths=(1, 0)), "each entry of depths=0"),
        (dict(weights="missing.weights.h5"), "no such file"),
    ],
)
def test_bad_arguments_raise_early(kwargs, message):
    with pytest.raises(ValueError, match=message):
        keras_mixer.RepMLPNet(**{**SMALL, **kwargs})


def test_variants_fix_their_architecture():
    with pytest.raises(TypeError, match="fixes \\['channels'\\]"):
        keras_mixer.RepMLPNetT224(channels=(8, 16, 32, 64))


def _torch_reference(classes=5):
    return randomize(
        TorchRepMLPNet(SMALL["channels"], SMALL["depths"], SMALL["sharesets"],
                       SMALL["partition_sizes"], classes)
    )


def _parity(model, reference, shape=(2, 32, 48, 3)):
    x = np.random.default_rng(0).normal(size=shape).astype("float32")
    with torch.no_grad():
        expected = reference(torch.from_numpy(x.transpose(0, 3, 1, 2))).numpy()
    return relative_error(ops.convert_to_numpy(model(x, training=False)), expected)


@pytest.mark.parametrize("deploy", [False, True])
def test_official_state_dict_matches_pytorch(deploy):
    reference = _torch_reference()
    if deploy:
        state = deploy_state_dict(reference)
    else:
        state = {key: value.numpy() for key, value in reference.state_dict().items()}
    model = keras_mixer.RepMLPNet(
        **SMALL, deploy=deploy, input_shape=(32, 48, 3), classes=5,
        classifier_activation=None, include_preprocessing=False,
    )
    load_checkpoint_state(model, {f"module.{k}": v for k, v in state.items()})
    assert _parity(model, reference) <= 1e-4
    if not deploy:
        assert _parity(keras_mixer.reparameterize(model), reference) <= 1e-4


def test_official_pth_file_loads_through_weights_argument(tmp_path):
    reference = _torch_reference()
    torch.save({"model": reference.state_dict()}, tmp_path / "repmlpnet.pth")
    model = keras_mixer.RepMLPNet(
        **SMALL, weights=str(tmp_path / "repmlpnet.pth"), input_shape=(32, 48, 3), classes=5,
        classifier_activation=None, include_preprocessing=False,
    )
    assert _parity(model, reference) <= 1e-4


def _state(classes=5):
    return {key: value.numpy() for key, value in _torch_reference(classes).state_dict().items()}


def test_mismatched_state_dict_assigns_nothing():
    state = _state()
    model = keras_mixer.RepMLPNet(**SMALL, input_shape=(32, 48, 3), classes=5)
    before = [ops.convert_to_numpy(v).copy() for v in model.weights]
    state["extra.weight"] = np.zeros(3)
    state["stages.1.0.ffn_block.ffn_fc2.bn.running_var"] = np.ones(7, "float32")
    state["stages.0.0.ffn_block.ffn_fc1.conv.weight"] = np.ones((32, 8, 3, 3), "float32")  # not 1x1
    with pytest.raises(ValueError) as error:
        load_checkpoint_state(model, state, "repmlpnet.pth")
    message = str(error.value)
    assert "'repmlpnet.pth'" in message and "extra.weight: found shape (3,)" in message
    assert ("stages.1.0.ffn_block.ffn_fc2.bn.running_var (model weight "
            "stage1_unit0_ffn/bn2/moving_variance): expected shape (16,), found (7,)") in message
    assert "ffn_fc1.conv.weight (model weight stage0_unit0_ffn/fc1/kernel): expected shape (8, 32), " \
           "found (32, 8, 3, 3)" in message
    assert all(np.array_equal(ops.convert_to_numpy(v), b) for v, b in zip(model.weights, before))
    deploy_model = keras_mixer.RepMLPNet(**SMALL, deploy=True, input_shape=(32, 48, 3), classes=5)
    with pytest.raises(ValueError, match="fc3.bias: expected shape \\(2, 16\\).*missing"):
        load_checkpoint_state(deploy_model, _state())


def test_non_number_dtype_names_the_key(tmp_path):
    state = {key: torch.from_numpy(value) for key, value in _state().items()}
    state["head_norm.running_mean"] = state["head_norm.running_mean"].to(torch.complex64)
    torch.save(state, tmp_path / "complex.pth")
    model = keras_mixer.RepMLPNet(**SMALL, input_shape=(32, 48, 3), classes=5)
    with pytest.raises(ValueError, match="'head_norm.running_mean': dtype complex64"):
        keras_mixer.weights.load_weights(model, str(tmp_path / "complex.pth"))
    with pytest.raises(ValueError, match="array 'head.bias': dtype <U1"):
        load_checkpoint_state(model, {**_state(), "head.bias": np.full(5, "x")})


def test_other_classes_keep_the_body_and_a_fresh_head(caplog):
    state = _state(classes=5)
    reference = keras_mixer.RepMLPNet(**SMALL, input_shape=(32, 48, 3), classes=5)
    load_checkpoint_state(reference, state)
    model = keras_mixer.RepMLPNet(**SMALL, input_shape=(32, 48, 3), classes=7)
    fresh = ops.convert_to_numpy(model.get_layer("head").kernel).copy()
    with caplog.at_level(logging.WARNING, logger="keras_mixer"):
        load_checkpoint_state(model, state, "repmlpnet.pth")
    assert "5 classes" in caplog.text and "head keeps its fresh initialisation" in caplog.text
    for variable, loaded in zip(model.weights, reference.weights):
        if not variable.path.startswith("head/"):
            np.testing.assert_array_equal(ops.convert_to_numpy(variable), ops.convert_to_numpy(loaded))
    np.testing.assert_array_equal(ops.convert_to_numpy(model.get_layer("head").kernel), fresh)


def test_another_input_size_with_the_same_partitions_loads_unchanged():
    reference = _torch_reference()
    model = keras_mixer.RepMLPNet(
        **SMALL, input_shape=(64, 96, 3), classes=5, classifier_activation=None,
        include_preprocessing=False,
    )
    load_checkpoint_state(model, _state())
    assert _parity(model, reference, shape=(2, 64, 96, 3)) <= 1e-4
    other = keras_mixer.RepMLPNet(**{**SMALL, "partition_sizes": (2, 2)}, input_shape=(32, 48, 3))
    with pytest.raises(ValueError, match="fc3.weight \\(model weight stage0_unit0_repmlp/fc3_kernel\\): "
                                         "expected shape \\(2, 4, 4\\), found \\(2, 16, 16\\)"):
        load_checkpoint_state(other, _state())


def test_keras_weights_file_with_other_classes_keeps_the_body(tmp_path):
    source = keras_mixer.RepMLPNet(**SMALL, input_shape=(32, 48, 3), classes=5)
    load_checkpoint_state(source, _state())
    path = str(tmp_path / "repmlpnet.weights.h5")
    source.save_weights(path)
    model = keras_mixer.RepMLPNet(**SMALL, input_shape=(64, 48, 3), classes=7, weights=path)
    for variable, loaded in zip(model.weights, source.weights):
        if not variable.path.startswith("head/"):
            np.testing.assert_array_equal(ops.convert_to_numpy(variable), ops.convert_to_numpy(loaded))
