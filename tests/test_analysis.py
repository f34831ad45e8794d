"""keras_mixer.analysis: pictures show the weights, sparsity numbers, the permutation property."""

import os

import keras
import numpy as np
import pytest

import keras_mixer
from keras_mixer import analysis
from keras_mixer.experiments.shuffled_digits import accuracy_figure
from keras_mixer.cli import main
from conftest import random_images
from conftest import randomize_weights
from conftest import relative_error
from conftest import to_numpy


def tiny_resmlp(**kwargs):
    return keras_mixer.ResMLP(patch_size=4, embed_dim=32, depth=2, input_shape=(16, 16, 3),
                              classes=10, **kwargs)


def tiny_mixer():
    return keras_mixer.MLPMixer(patch_size=4, embed_dim=32, depth=2, token_mixing_dim=16,
                                channel_mixing_dim=64, input_shape=(16, 16, 3), classes=10)


def check_png(path):
    """The file is a real picture: readable, of some size, not one flat colour."""
    import matplotlib.image

    image = matplotlib.image.imread(path)
    assert image.shape[0] > 50 and image.shape[1] > 50
    assert float(np.std(image[..., :3])) > 0.01


def test_token_map_figure_draws_rows_of_A(tmp_path):
    model = randomize_weights(tiny_resmlp())
    path = tmp_path / "token_map.png"
    figure = analysis.token_map_figure(model, layers=[0, 1], tokens=[5, 0], path=path)
    check_png(path)
    for row, block in enumerate(("block_0", "block_1")):
        A = to_numpy(model.get_layer(block).token_mixing.linear.kernel).T
        for column, token in enumerate((5, 0)):
            drawn = np.asarray(figure.axes[2 * row + column].images[0].get_array())
            np.testing.assert_allclose(drawn, A[token].reshape(4, 4), rtol=1e-6)


def test_token_mlp_figure_draws_hidden_units(tmp_path):
    model = randomize_weights(tiny_mixer())
    figure = analysis.token_mlp_figure(model, layers=[1], units=[3, 7], path=tmp_path / "m.png")
    check_png(tmp_path / "m.png")
    kernel = to_numpy(model.get_layer("block_1").token_mixing.fc1.kernel)
    for column, unit in enumerate((3, 7)):
        drawn = np.asarray(figure.axes[column].images[0].get_array())
        np.testing.assert_allclose(drawn, kernel[:, unit].reshape(4, 4), rtol=1e-6)


def test_sparsity_of_constructed_weights(tmp_path):
    model = tiny_resmlp()
    block = model.get_layer("block_1")
    tokens = 16
    block.token_mixing.linear.kernel.assign(np.eye(tokens, dtype="float32"))
    block.channel_mixing.fc1.kernel.assign(np.ones((32, 128), "float32"))
    fc2 = np.ones((128, 32), "float32")
    fc2[:32] = 0.01  # a quarter of C is below 5% of its largest weight
    block.channel_mixing.fc2.kernel.assign(fc2)
    fractions = analysis.sparsity(model)
    assert sorted(fractions) == ["A", "B", "C"]
    assert fractions["A"][1] == pytest.approx(1 - 1 / tokens)
    assert fractions["B"][1] == 0.0
    assert fractions["C"][1] == pytest.approx(0.25)
    assert analysis.sparsity(model, threshold=0.005)["C"][1] == 0.0
    figure = analysis.sparsity_figure(model, path=tmp_path / "s.png")
    check_png(tmp_path / "s.png")
    curve = figure.axes[1].lines[0]
    np.testing.assert_allclose(curve.get_ydata(), fractions["A"])


def test_mixer_matrices_are_named_as_in_the_paper():
    matrices = analysis.mixing_matrices(tiny_mixer().get_layer("block_0"))
    assert {name: matrix.shape for name, matrix in matrices.items()} == {
        "W1": (16, 16), "W2": (16, 16), "W3": (64, 32), "W4": (32, 64)
    }


@pytest.mark.parametrize("build", [tiny_resmlp, tiny_mixer], ids=["resmlp", "mixer"])
def test_permuted_model_on_permuted_images_gives_the_same_outputs(build):
    model = randomize_weights(build(classifier_activation=None) if build is tiny_resmlp else build())
    images = random_images((3, 16, 16, 3))
    permutation = analysis.random_permutation((4, 4), 4, seed=1)
    permuted_images = analysis.permute_images(images, permutation)
    permuted_model = analysis.permute_model(model, permutation)
    expected = model(images, training=False)
    assert relative_error(permuted_model(permuted_images, training=False), expected) <= 1e-5
    # Neither half alone does it: the permutation really changes the images and the model.
    assert relative_error(model(permuted_images, training=False), expected) > 1e-3
    assert relative_error(permuted_model(images, training=False), expected) > 1e-3


def test_permute_images_moves_whole_patches_and_pixels_inside():
    images = np.arange(2 * 16 * 16 * 3).reshape(2, 16, 16, 3)
    permutation = analysis.random_permutation((4, 4), 4, seed=2)
    permuted = analysis.permute_images(images, permutation)
    new_patch, old_patch = 6, permutation.patch_order[6]
    new_pixel, old_pixel = 5, permutation.pixel_order[5]
    new_row, new_col = divmod(new_patch, 4)
    old_row, old_col = divmod(old_patch, 4)
    np.testing.assert_array_equal(
        permuted[:, 4 * new_row + new_pixel // 4, 4 * new_col + new_pixel % 4],
        images[:, 4 * old_row + old_pixel // 4, 4 * old_col + old_pixel % 4],
    )
    assert sorted(permuted.ravel()) == sorted(images.ravel())


def test_bad_arguments_raise_value_errors(tmp_path):
    resmlp, mixer = tiny_resmlp(), tiny_mixer()
    cases = [
        (lambda: analysis.token_map_figure(mixer), "ResMLP"),
        (lambda: analysis.token_mlp_figure(resmlp), "MLP-Mixer"),
        (lambda: analysis.token_map_figure(resmlp, layers=[2]), "blocks 0 to 1"),
        (lambda: analysis.token_map_rows(resmlp, 0, [16]), "tokens"),
        (lambda: analysis.sparsity(resmlp, threshold=1.5), "threshold"),
        (lambda: analysis.sparsity_figure(resmlp, path=tmp_path / "s.jpg"), ".png"),
        (lambda: analysis.permute_model(resmlp, analysis.random_permutation((2, 2), 8)), "grid"),
        (lambda: analysis.permute_images(np.zeros((1, 8, 8, 3)),
                                         analysis.random_permutation((4, 4), 4)), "expected"),
        (lambda: analysis.permute_model(tiny_resmlp(include_top=False), None), "pooled"),
        (lambda: analysis.permutation_demo(epochs=0), "epochs"),
        (lambda: analysis.mixer_blocks(keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])),
         "MixerBlock"),
    ]
    for call, message in cases:
        with pytest.raises(ValueError, match=message):
            call()
    assert not os.listdir(tmp_path)


def test_accuracy_bar_chart_shows_the_accuracies(tmp_path):
    accuracies = {"ResMLP": {"original": 0.9, "permuted": 0.89},
                  "ConvNet": {"original": 0.95, "permuted": 0.7}}
    figure = accuracy_figure(accuracies, epochs=3, path=tmp_path / "bars.png")
    check_png(tmp_path / "bars.png")
    heights = [patch.get_height() for patch in figure.axes[0].patches]
    assert heights == [0.9, 0.95, 0.89, 0.7]


def test_inspect_command_writes_every_picture(tmp_path, capsys):
    model_path = str(tmp_path / "tiny.keras")
    randomize_weights(tiny_resmlp()).save(model_path)
    out = tmp_path / "pictures"
    assert main(["inspect", model_path, "--out", str(out)]) == 0
    for name in ("token_map", "sparsity", "permutation"):
        check_png(out / f"{name}.png")
    printed = capsys.readouterr().out
    assert "largest output difference" in printed and "A: fraction of near-zero" in printed
    assert main(["inspect", "model.weights.h5", "--out", str(out)]) == 2
    assert "pass --variant" in capsys.readouterr().err
    assert main(["inspect", model_path, "--variant", "resmlp12", "--out", str(out)]) == 2
    assert "only used with a weights tag or file" in capsys.readouterr().err
