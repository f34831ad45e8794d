"""Per model: the maths against a NumPy reference, image sizes, preprocessing,
initialisation, training in mixed precision and every bad input getting its error
(tests/test_harness.py checks every family's contract and every variant's count)."""

import re

import keras
import numpy as np
import pytest

import keras_mixer
from keras_mixer.data import load_digits

from conftest import random_images
from conftest import randomize_weights
from conftest import to_numpy
from conftest import relative_error
from reference import reference_forward


def small_resmlp(**kwargs):
    kwargs = {"patch_size": 4, "embed_dim": 16, "depth": 2, "input_shape": (16, 16, 3), "classes": 5, **kwargs}
    return keras_mixer.ResMLP(**kwargs)


def small_mixer(**kwargs):
    kwargs = {
        "patch_size": 4,
        "embed_dim": 16,
        "depth": 2,
        "token_mixing_dim": 8,
        "channel_mixing_dim": 32,
        "input_shape": (16, 16, 3),
        "classes": 5,
        **kwargs,
    }
    return keras_mixer.MLPMixer(**kwargs)


def small_gmlp(**kwargs):
    kwargs = {"patch_size": 4, "embed_dim": 16, "depth": 2, "mlp_ratio": 3.0,
              "input_shape": (16, 16, 3), "classes": 5, **kwargs}
    return keras_mixer.GMLP(**kwargs)


def small_gmixer(**kwargs):
    kwargs = {"patch_size": 4, "embed_dim": 16, "depth": 2, "token_mixing_dim": 8,
              "channel_mixing_dim": 32, "input_shape": (16, 16, 3), "classes": 5, **kwargs}
    return keras_mixer.GMixer(**kwargs)


SMALL_MODELS = {"resmlp": small_resmlp, "mixer": small_mixer, "gmlp": small_gmlp, "gmixer": small_gmixer}


@pytest.mark.parametrize(
    "family, kwargs",
    [
        ("resmlp", {}),
        ("resmlp", {"input_shape": (16, 24, 3), "include_top": False, "pooling": None}),
        ("mixer", {"gelu_approximate": True}),
        ("mixer", {"gelu_approximate": False, "input_shape": (24, 16, 3)}),
    ],
)
def test_outputs_match_the_numpy_reference(family, kwargs):
    model = randomize_weights(SMALL_MODELS[family](**kwargs), seed=1)
    images = random_images((3,) + model.input_shape[1:])
    expected = reference_forward(model, images)
    assert relative_error(model.predict(images, verbose=0), expected) < 1e-5


@pytest.mark.parametrize("family", sorted(SMALL_MODELS))
@pytest.mark.parametrize("input_shape, tokens", [((32, 48, 3), 96), ((8, 64, 3), 32), ((12, 4, 3), 3)])
def test_any_multiple_of_the_patch_size(family, input_shape, tokens):
    model = SMALL_MODELS[family](input_shape=input_shape, include_top=False)
    assert model.output_shape == (None, tokens, 16)
    assert model.predict(random_images((1,) + input_shape), verbose=0).shape == (1, tokens, 16)


def test_named_variant_at_another_size_and_class_count():
    model = keras_mixer.ResMLP12(input_shape=(64, 32, 3), classes=10)
    assert model.output_shape == (None, 10)
    assert model.get_layer("block_0").token_mixing.linear.kernel.shape == (8, 8)


@pytest.mark.parametrize("family", sorted(SMALL_MODELS))
def test_preprocessing_takes_raw_uint8_or_float(family):
    model = randomize_weights(SMALL_MODELS[family]())
    images = random_images((2, 16, 16, 3)).astype("uint8")
    np.testing.assert_allclose(
        model.predict(images, verbose=0), model.predict(images.astype("float32"), verbose=0), rtol=1e-6
    )
    bare = SMALL_MODELS[family](include_preprocessing=False)
    bare.set_weights(model.get_weights())
    scaled = to_numpy(model.get_layer("preprocessing")(images.astype("float32")))
    np.testing.assert_allclose(bare.predict(scaled, verbose=0), model.predict(images, verbose=0), rtol=1e-5)


def test_mixer_preprocessing_maps_to_minus_one_one():
    layer = small_mixer().get_layer("preprocessing")
    np.testing.assert_allclose(to_numpy(layer(np.array([[0.0, 127.5, 255.0]]))), [[-1.0, 0.0, 1.0]])


def test_input_tensor():
    images = keras.Input((16, 16, 3))
    model = small_resmlp(input_tensor=images)
    assert model.inputs[0] is images
    assert model.output_shape == (None, 5)


def test_resmlp_initialisation_follows_the_paper():
    model = small_resmlp(embed_dim=64, input_shape=(32, 32, 3))
    block = model.get_layer("block_0")
    for kernel in (block.token_mixing.linear.kernel, block.channel_mixing.fc1.kernel):
        values = to_numpy(kernel)
        assert np.max(np.abs(values)) <= 0.04 + 1e-7  # truncated at two std
        assert 0.015 < values.std() < 0.02
    np.testing.assert_array_equal(to_numpy(block.channel_mixing.fc1.bias), 0.0)
    gamma = {depth: float(to_numpy(small_resmlp(depth=depth).get_layer("block_0").layer_scale1.alpha)[0]) for depth in (12, 24, 36)}
    assert gamma == pytest.approx({12: 0.1, 24: 1e-5, 36: 1e-6})
    with keras.StatelessScope():
        b24 = keras_mixer.ResMLPB24(input_shape=(32, 32, 3))
    assert b24.get_layer("block_0").layer_scale1.alpha_init == 1e-6


def test_mixer_head_starts_at_zero():
    np.testing.assert_array_equal(to_numpy(small_mixer().get_layer("head").kernel), 0.0)


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
@pytest.mark.parametrize("family", sorted(SMALL_MODELS))
def test_mixed_precision_trains_and_predicts_in_float32(family, policy):
    keras.config.set_dtype_policy(policy)
    model = SMALL_MODELS[family](drop_path_rate=0.1)
    assert model.get_layer("block_0").compute_dtype == policy.split("_")[1]
    images = random_images((8, 16, 16, 3))
    labels = np.arange(8) % 5
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    history = model.fit(images, labels, epochs=2, batch_size=4, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    outputs = model.predict(images, verbose=0)
    assert outputs.dtype == np.float32
    np.testing.assert_allclose(outputs.sum(-1), 1.0, rtol=1e-5)


def test_training_with_fit_reduces_the_loss():
    (images, labels), _ = load_digits()
    model = small_resmlp(patch_size=2, embed_dim=32, input_shape=(8, 8, 3), classes=10, drop_path_rate=0.1, dropout_rate=0.1)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy")
    history = model.fit(images[:256], labels[:256], epochs=15, batch_size=32, verbose=0)
    assert history.history["loss"][-1] < 0.65 * history.history["loss"][0], history.history["loss"]


BAD_ARGUMENTS = [
    ({"input_shape": (18, 16, 3)}, r"image height 18 is not a multiple of the patch size 4; expected e.g. 16 or 20"),
    ({"input_shape": (16, 30, 3)}, r"image width 30 is not a multiple of the patch size 4"),
    ({"input_shape": (16, None, 3)}, r"image width None is not supported"),
    ({"input_shape": (16, 16)}, r"expected \(height, width, channels\)"),
    ({"input_shape": (16, 16, 1)}, r"has 1 channels; this model's preprocessing expects 3"),
    ({"input_shape": (16, 16, 0), "include_preprocessing": False}, r"channels .* expected a positive integer"),
    ({"pooling": "mean", "include_top": False}, r"pooling='mean' is not supported; expected one of \(None, 'avg', 'max'\)"),
    ({"weights": "missing.weights.h5"}, r"no such file"),
    ({"drop_path_rate": 1.0}, r"drop_path_rate=1.0 is not supported"),
]


@pytest.mark.parametrize("kwargs, message", BAD_ARGUMENTS)
def test_bad_arguments_raise_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        small_resmlp(**kwargs)


def test_grayscale_works_without_imagenet_preprocessing():
    model = small_resmlp(input_shape=(16, 16, 1), include_preprocessing=False)
    assert model.output_shape == (None, 5)
    assert small_mixer(input_shape=(16, 16, 1)).output_shape == (None, 5)


def test_input_tensor_and_input_shape_must_agree():
    with pytest.raises(ValueError, match=r"does not match the shape \(16, 16, 3\) of input_tensor"):
        small_resmlp(input_tensor=keras.Input((16, 16, 3)), input_shape=(32, 32, 3))


def test_weights_of_another_width_name_the_key_and_leave_the_model(tmp_path):
    # Another class count is not an error (the head stays fresh, tests/test_weights.py);
    # another channel-MLP width is.
    path = str(tmp_path / "wide.weights.h5")
    small_resmlp(mlp_ratio=2.0).save_weights(path)
    model = small_resmlp()
    before = [np.array(variable) for variable in model.weights]
    with pytest.raises(ValueError) as error:
        keras_mixer.weights.load_weights(model, path)
    message = str(error.value)
    assert "channel_mixing/fc1/vars/0: expected shape (16, 64), found (16, 32)" in message
    assert "Nothing was loaded" in message
    for value, variable in zip(before, model.weights):
        np.testing.assert_array_equal(value, np.array(variable))


def test_weights_of_another_family_are_refused(tmp_path):
    path = str(tmp_path / "mixer.weights.h5")
    small_mixer().save_weights(path)
    with pytest.raises(ValueError, match="does not match model 'resmlp'"):
        small_resmlp(weights=path)


def test_corrupt_weights_file(tmp_path):
    path = tmp_path / "broken.weights.h5"
    path.write_bytes(b"not an hdf5 file")
    with pytest.raises(ValueError, match="not a readable HDF5"):
        small_resmlp(weights=str(path))


def test_variants_fix_their_architecture():
    with pytest.raises(TypeError, match=r"ResMLP12\(\) fixes \['depth'\]"):
        keras_mixer.ResMLP12(depth=3)


def test_get_model_names_the_choices():
    assert keras_mixer.models.get_model("MLPMixer-S/16".replace("MLPMixer", "mixer"), input_shape=(32, 32, 3)).name == "mixer_s16"
    with pytest.raises(ValueError, match=r"Unknown model 'resmlp13'; expected one of \["):
        keras_mixer.models.get_model("resmlp13")




def test_mixing_maps_start_from_different_random_values():
    """One initializer object is shared by every block's maps; each map must draw its own."""
    model = keras_mixer.ResMLP(patch_size=8, embed_dim=16, depth=2, input_shape=(32, 32, 3))
    kernels = [
        to_numpy(model.get_layer(f"block_{index}").token_mixing.linear.kernel).ravel()[:16]
        for index in range(2)
    ] + [to_numpy(model.get_layer("block_0").channel_mixing.fc1.kernel).ravel()[:16]]
    for first in range(3):
        for second in range(first + 1, 3):
            assert not np.allclose(kernels[first], kernels[second])
