"""Features for dense tasks: block outputs by name, on the patch grid, and a head trained on them."""

import keras
import numpy as np
import pytest

import keras_mixer
from keras_mixer import registry

TINY = {
    "resmlp": lambda **kw: keras_mixer.ResMLP(patch_size=4, embed_dim=16, depth=3, input_shape=(32, 32, 3), **kw),
    "mixer": lambda **kw: keras_mixer.MLPMixer(patch_size=4, embed_dim=16, depth=3, token_mixing_dim=16,
                                               channel_mixing_dim=32, input_shape=(32, 32, 3), **kw),
    "gmlp": lambda **kw: keras_mixer.GMLP(patch_size=4, embed_dim=16, depth=3, mlp_ratio=2.0,
                                          input_shape=(32, 32, 3), **kw),
    "gmixer": lambda **kw: keras_mixer.GMixer(patch_size=4, embed_dim=16, depth=3, token_mixing_dim=16,
                                              channel_mixing_dim=32, input_shape=(32, 32, 3), **kw),
    "repmlpnet": lambda **kw: keras_mixer.RepMLPNet(channels=(8, 16), depths=(1, 2), sharesets=(1, 4),
                                                    partition_sizes=(4, 2), input_shape=(32, 32, 3), **kw),
}
EXPECTED = {
    "resmlp": {f"block_{i}": (8, 8, 16) for i in range(3)},
    "mixer": {f"block_{i}": (8, 8, 16) for i in range(3)},
    "gmlp": {f"block_{i}": (8, 8, 16) for i in range(3)},
    "gmixer": {f"block_{i}": (8, 8, 16) for i in range(3)},
    "repmlpnet": {"stage0": (8, 8, 8), "stage1": (4, 4, 16)},
}


def test_every_family_names_its_features():
    assert sorted(TINY) == registry.list_families()
    for family in registry.list_families():
        assert callable(registry.family_info(family).feature_layers), family


@pytest.mark.parametrize("family", sorted(TINY))
def test_features_of_every_block_on_the_patch_grid(family):
    model = TINY[family](include_top=False)
    assert keras_mixer.feature_names(model) == list(EXPECTED[family])
    outputs = keras_mixer.feature_extractor(model).predict(np.zeros((2, 32, 32, 3), "uint8"), verbose=0)
    assert {name: value.shape[1:] for name, value in outputs.items()} == EXPECTED[family]


def test_features_share_the_weights_and_can_stay_token_tables():
    model = TINY["resmlp"]()
    images = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3)).astype("uint8")
    extractor = keras_mixer.feature_extractor(model, ["block_2"], grid=False)
    assert extractor.output["block_2"].shape == (None, 64, 16)
    tokens = extractor.predict(images, verbose=0)["block_2"]
    head = keras.Model(model.get_layer("norm").input, model.output)
    np.testing.assert_allclose(head.predict(tokens, verbose=0), model.predict(images, verbose=0), rtol=1e-5, atol=1e-6)
    assert all(a is b for a, b in zip(extractor.weights, model.weights[: len(extractor.weights)]))


@pytest.mark.parametrize("names, error", [(["block_9"], "'block_9' is not supported"), ([3], "index from -3 to 2"),
                                          ([True], "True is not supported")])
def test_unknown_features_are_refused(names, error):
    with pytest.raises(ValueError, match=error):
        keras_mixer.feature_extractor(TINY["mixer"](), names)


def test_a_model_without_a_spec_is_refused():
    plain = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten()])
    with pytest.raises(ValueError, match="not a keras_mixer model"):
        keras_mixer.feature_names(plain)


def squares(count, seed):
    """Images with one bright 8 x 8 square on noise, and its mask on the 8 x 8 patch grid."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 100, (count, 32, 32, 3)).astype("float32")
    masks = np.zeros((count, 8, 8, 1), "float32")
    for index, (row, col) in enumerate(rng.integers(0, 7, (count, 2))):
        images[index, 4 * row : 4 * row + 8, 4 * col : 4 * col + 8] = 255.0
        masks[index, row : row + 2, col : col + 2] = 1.0
    return images, masks


def test_a_dense_head_on_the_features_learns_a_toy_segmentation():
    keras.utils.set_random_seed(0)
    extractor = keras_mixer.feature_extractor(TINY["resmlp"](include_top=False), [-1])
    features = extractor.output["block_2"]
    logits = keras.layers.Conv2D(1, 1, name="segmentation")(features)
    model = keras.Model(extractor.input, keras.layers.Activation("sigmoid", dtype="float32")(logits))
    model.compile(keras.optimizers.Adam(3e-3), "binary_crossentropy")
    images, masks = squares(256, seed=0)
    model.fit(images, masks, batch_size=32, epochs=15, verbose=0)
    test_images, test_masks = squares(64, seed=1)
    predicted = model.predict(test_images, verbose=0) > 0.5
    truth = test_masks > 0.5
    iou = (predicted & truth).sum() / (predicted | truth).sum()
    assert iou > 0.8, iou  # a constant prediction scores 0 (all background) or 0.06 (all square)
