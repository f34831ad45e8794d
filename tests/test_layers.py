"""Per layer: shapes, config and serialization round trips, a training step, mixed precision."""

import keras
import numpy as np
import pytest

from keras_mixer import layers

from conftest import randomize_weights
from conftest import to_numpy
from conftest import relative_error

TOKENS = (2, 16, 24)  # batch, S, C

LAYER_CASES = {
    "affine": (lambda: layers.Affine(alpha_init=0.5), TOKENS),
    "layer_scale": (lambda: layers.Affine(alpha_init=1e-5, use_beta=False), TOKENS),
    "drop_path": (lambda: layers.DropPath(0.3, seed=1), TOKENS),
    "patch_embedding": (lambda: layers.PatchEmbedding(4, 24), (2, 16, 8, 3)),
    "token_dense": (lambda: layers.TokenDense(5), TOKENS),
    "token_mixing_linear": (lambda: layers.TokenMixing(), TOKENS),
    "token_mixing_mlp": (lambda: layers.TokenMixing(hidden_dim=8, gelu_approximate=True), TOKENS),
    "channel_mixing": (lambda: layers.ChannelMixing(mlp_ratio=2), TOKENS),
    "mixer_block": (lambda: layers.MixerBlock(token_mixing_dim=8, channel_mixing_dim=48), TOKENS),
    "resmlp_block": (
        lambda: layers.MixerBlock(norm="affine", layer_scale_init=0.1, drop_path_rate=0.1),
        TOKENS,
    ),
    "token_mixing_glu": (lambda: layers.TokenMixing(hidden_dim=8, glu=True), TOKENS),
    "channel_mixing_glu": (lambda: layers.ChannelMixing(mlp_ratio=2, glu=True), TOKENS),
    "gmixer_block": (
        lambda: layers.MixerBlock(token_mixing_dim=8, channel_mixing_dim=48, glu=True), TOKENS
    ),
    "spatial_gating_unit": (lambda: layers.SpatialGatingUnit(), TOKENS),
    "channel_mixing_sgu": (lambda: layers.ChannelMixing(mlp_ratio=2, spatial_gating=True), TOKENS),
    "gmlp_block": (lambda: layers.GMLPBlock(mlp_ratio=3, drop_path_rate=0.1), TOKENS),
}

EXPECTED_OUTPUT_SHAPES = {
    "patch_embedding": (2, 8, 24), "token_dense": (2, 5, 24), "spatial_gating_unit": (2, 16, 12),
}


def _inputs(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def _model(make, shape):
    inputs = keras.Input(shape[1:])
    return keras.Model(inputs, make()(inputs))


@pytest.mark.parametrize("case", sorted(LAYER_CASES))
def test_output_shape(case):
    make, shape = LAYER_CASES[case]
    layer = make()
    outputs = layer(_inputs(shape))
    expected = EXPECTED_OUTPUT_SHAPES.get(case, shape)
    assert tuple(outputs.shape) == expected
    assert tuple(layer.compute_output_shape(shape)) == expected


@pytest.mark.parametrize("case", sorted(LAYER_CASES))
def test_config_round_trip_gives_same_outputs(case):
    make, shape = LAYER_CASES[case]
    model = randomize_weights(_model(make, shape))
    clone = keras.Model.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    layer = model.layers[-1]
    assert layer.get_config() == clone.layers[-1].get_config()
    x = _inputs(shape, seed=1)
    np.testing.assert_allclose(to_numpy(clone(x)), to_numpy(model(x)), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("case", sorted(LAYER_CASES))
def test_registered_serializable(case):
    make, _ = LAYER_CASES[case]
    layer = make()
    serialized = keras.saving.serialize_keras_object(layer)
    assert serialized["registered_name"].startswith("keras_mixer>")
    restored = keras.saving.deserialize_keras_object(serialized)
    assert type(restored) is type(layer)
    assert restored.get_config() == layer.get_config()


@pytest.mark.parametrize("case", sorted(LAYER_CASES))
def test_one_training_step_changes_every_trainable_weight(case):
    make, shape = LAYER_CASES[case]
    # Random weights: gMLP's gate starts with a ~1e-6 kernel, which starves its norm of gradient.
    model = randomize_weights(_model(make, shape))
    if not model.trainable_weights:
        pytest.skip("layer without weights")
    x = _inputs(shape)
    target = _inputs((shape[0],) + model.output_shape[1:], seed=2)
    before = [to_numpy(w) for w in model.trainable_weights]
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    loss = model.train_on_batch(x, target)
    assert np.isfinite(loss)
    for old, new in zip(before, model.trainable_weights):
        assert not np.allclose(old, to_numpy(new)), new.path


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
@pytest.mark.parametrize("case", sorted(LAYER_CASES))
def test_mixed_precision(case, policy):
    keras.config.set_dtype_policy(policy)
    make, shape = LAYER_CASES[case]
    layer = make()
    outputs = layer(_inputs(shape))
    assert keras.backend.standardize_dtype(outputs.dtype) == policy.split("_")[1]
    assert all(w.dtype == "float32" for w in layer.weights)
    assert np.all(np.isfinite(to_numpy(keras.ops.cast(outputs, "float32"))))


def test_drop_path_drops_whole_samples_and_keeps_expectation():
    drop = layers.DropPath(0.25, seed=3)
    x = np.ones((4000, 3, 5), "float32")
    y = to_numpy(drop(x, training=True))
    per_sample = y.reshape(4000, -1)
    kept = np.unique(per_sample.min(1))
    assert len(kept) == 2 and kept[0] == 0.0 and abs(kept[1] - 1.0 / 0.75) < 1e-6
    assert np.all(per_sample.min(1) == per_sample.max(1))
    assert abs(y.mean() - 1.0) < 0.05
    np.testing.assert_array_equal(to_numpy(drop(x, training=False)), x)


def test_affine_is_diag_alpha_x_plus_beta():
    layer = layers.Affine()
    x = _inputs((2, 5, 4))
    layer.build(x.shape)
    layer.alpha.assign([1.0, 2.0, 3.0, 4.0])
    layer.beta.assign([0.5, 0.0, -1.0, 2.0])
    expected = x * np.array([1.0, 2.0, 3.0, 4.0]) + np.array([0.5, 0.0, -1.0, 2.0])
    assert relative_error(layer(x), expected) < 1e-6


def test_token_mixing_mixes_only_along_tokens():
    layer = layers.TokenMixing()
    x = _inputs((1, 6, 3))
    randomize_weights(_model(lambda: layer, (1, 6, 3)), scale=0.5)
    y = to_numpy(layer(x))
    x_changed = x.copy()
    x_changed[0, :, 1] += 1.0  # change one channel at every token
    y_changed = to_numpy(layer(x_changed))
    np.testing.assert_allclose(y_changed[0, :, [0, 2]], y[0, :, [0, 2]], atol=1e-6)
    assert not np.allclose(y_changed[0, :, 1], y[0, :, 1])


@pytest.mark.parametrize("tokens, channels", [(6, 6), (6, 4), (4, 6)])
def test_token_dense_bias_lands_on_the_token_axis(tokens, channels):
    # Keras 3.15's TensorFlow add() puts a (units, 1) bias on the channel axis
    # when units == channels; TokenDense must not depend on that broadcast.
    layer = layers.TokenDense(tokens)
    x = _inputs((2, tokens, channels))
    layer.build(x.shape)
    kernel = np.random.default_rng(1).normal(size=(tokens, tokens)).astype("float32")
    layer.kernel.assign(kernel)
    layer.bias.assign(np.arange(tokens, dtype="float32"))
    expected = np.einsum("bsc,st->btc", x, kernel) + np.arange(tokens)[None, :, None]
    assert relative_error(layer(x), expected) < 1e-6


def test_gelu_forms_differ():
    x = _inputs((1, 4, 8))
    exact = layers.ChannelMixing(mlp_ratio=2, gelu_approximate=False)
    approx = layers.ChannelMixing(mlp_ratio=2, gelu_approximate=True)
    exact(x), approx(x)
    approx.set_weights(exact.get_weights())
    assert 0 < np.max(np.abs(to_numpy(exact(x)) - to_numpy(approx(x)))) < 1e-2


@pytest.mark.parametrize(
    "make, shape, message",
    [
        (lambda: layers.PatchEmbedding(4, 8), (1, 10, 8, 3), "height 10 is not a multiple"),
        (lambda: layers.PatchEmbedding(4, 8), (1, 8, 6, 3), "width 6 is not a multiple"),
        (lambda: layers.TokenMixing(), (1, 5), "token table"),
        (lambda: layers.SpatialGatingUnit(), (1, 4, 7), "an even number of channels"),
        (lambda: layers.ChannelMixing(hidden_dim=7, glu=True), (1, 4, 8), "expected an even width"),
        (lambda: layers.TokenMixing(hidden_dim=5, glu=True), (1, 4, 8), "expected an even width"),
    ],
)
def test_layers_reject_bad_shapes(make, shape, message):
    with pytest.raises(ValueError, match=message):
        make()(np.zeros(shape, "float32"))


BAD_LAYER_ARGUMENTS = [
    (lambda: layers.Affine(alpha_init=float("nan")), "alpha_init=nan"),
    (lambda: layers.Affine(use_beta="no"), "use_beta='no' is not supported; expected True or False"),
    (lambda: layers.TokenMixing(hidden_dim=0), "hidden_dim=0 is not supported; expected a positive integer"),
    (lambda: layers.TokenMixing(dropout_rate="0.1"), r"dropout_rate='0.1' is not supported; expected a number in \[0, 1\)"),
    (lambda: layers.ChannelMixing(hidden_dim=2.5), "hidden_dim=2.5"),
    (lambda: layers.ChannelMixing(mlp_ratio=-1), "mlp_ratio=-1 is not supported; expected a finite number > 0"),
    (lambda: layers.MixerBlock(token_mixing_dim=0), "token_mixing_dim=0"),
    (lambda: layers.MixerBlock(channel_mixing_dim=True), "channel_mixing_dim=True"),
    (lambda: layers.MixerBlock(layer_scale_init=float("inf")), "layer_scale_init=inf"),
    (lambda: layers.MixerBlock(drop_path_rate=1.5), "drop_path_rate=1.5"),
    (lambda: layers.MixerBlock(norm_epsilon=0), "norm_epsilon=0"),
    (lambda: layers.MixerBlock(gelu_approximate=None), "gelu_approximate=None"),
    (lambda: layers.MixerBlock(norm="batch_norm"), "norm='batch_norm' is not supported; expected one of"),
    (lambda: layers.FusedMixerBlock(channel_mixing_dim=8, norm_epsilon=-1.0), "norm_epsilon=-1.0"),
    (lambda: layers.FusedMixerBlock(channel_mixing_dim=None), "channel_mixing_dim=None"),
    (lambda: layers.PatchEmbedding(-1, 8), "patch_size=-1"),
    (lambda: layers.PatchEmbedding(4, True), "embed_dim=True"),
    (lambda: layers.DropPath(1.0), r"rate=1.0 is not supported; expected a number in \[0, 1\)"),
    (lambda: layers.DropPath("0.1"), "rate='0.1'"),
    (lambda: layers.TokenDense(0), "units=0"),
    (lambda: layers.TokenDense(4, use_bias=1), "use_bias=1"),
    (lambda: layers.ScaledTokenDense(-3), "units=-3"),
    (lambda: layers.RepMLPBlock(0), "partition_size=0"),
    (lambda: layers.RepMLPBlock((4, 2.0)), r"partition_size=\(4, 2.0\)"),
    (lambda: layers.RepMLPBlock(4, num_sharesets=False), "num_sharesets=False"),
    (lambda: layers.RepMLPBlock(4, conv_kernel_sizes=(2,)), r"conv_kernel_sizes=\(2,\)"),
    (lambda: layers.RepMLPBlock(4, conv_kernel_sizes=3), "conv_kernel_sizes=3"),
    (lambda: layers.RepMLPBlock(4, momentum=2), r"momentum=2 is not supported; expected a number in \[0, 1\]"),
    (lambda: layers.RepMLPBlock(4, deploy="yes"), "deploy='yes'"),
    (lambda: layers.FFNBlock(expansion=True), "expansion=True"),
    (lambda: layers.TokenMixing(glu=True), "glu=True is not supported with hidden_dim=None"),
    (lambda: layers.MixerBlock(glu="yes"), "glu='yes'"),
    (lambda: layers.ChannelMixing(spatial_gating=1), "spatial_gating=1"),
    (lambda: layers.ChannelMixing(spatial_gating=True, glu=True), "expected one gate"),
    (lambda: layers.SpatialGatingUnit(norm_epsilon=0), "norm_epsilon=0"),
    (lambda: layers.GMLPBlock(mlp_ratio=0), "mlp_ratio=0"),
    (lambda: layers.GMLPBlock(gate_norm_epsilon=-1), "gate_norm_epsilon=-1"),
    (lambda: layers.FFNBlock(epsilon=float("nan")), "epsilon=nan"),
]


@pytest.mark.parametrize("make, message", BAD_LAYER_ARGUMENTS)
def test_layers_reject_bad_arguments(make, message):
    with pytest.raises(ValueError, match=message):
        make()
