"""DeiT's recipe in full: soft distillation, weight EMA, repeated augmentation,
the fine-tuning recipe, and keras-cv's augmentation as an option."""

import importlib.util

import keras
import numpy as np
import pytest

from keras_mixer import training
from keras_mixer.training.distillation import HardDistillation


def _softmax(logits):
    shifted = np.exp(logits - logits.max(-1, keepdims=True))
    return shifted / shifted.sum(-1, keepdims=True)


def _log_softmax(logits):
    return np.log(_softmax(logits))


def _classifier(seed, classes=3):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input((4, 4, 3)), keras.layers.Flatten(),
                             keras.layers.Dense(classes, activation="softmax")])


# Distillation ------------------------------------------------------------------

@pytest.mark.parametrize("tau", [1.0, 3.0])
def test_soft_distillation_is_deits_kl_with_its_reduction(tau):
    """DeiT (losses.py): kl_div(log_softmax(s / T), log_softmax(t / T), sum,
    log_target) * T^2 / numel, computed here from the logits; the wrapper only
    sees softmax outputs and must give the same number."""
    student, teacher = _classifier(1, classes=5), _classifier(2, classes=5)
    model = training.Distillation(student, teacher, distillation_weight=0.3,
                                  distillation_type="soft", tau=tau)
    model.compile("sgd", keras.losses.CategoricalCrossentropy())
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 4, 4, 3)).astype("float32")
    y = np.eye(5, dtype="float32")[rng.integers(0, 5, 6)]
    student_logits = rng.normal(size=(6, 5)) * 3
    dense = teacher.layers[-1]  # the teacher's logits, before its softmax
    teacher_logits = (x.reshape(6, -1) @ keras.ops.convert_to_numpy(dense.kernel)
                      + keras.ops.convert_to_numpy(dense.bias))
    log_s, log_t = _log_softmax(student_logits / tau), _log_softmax(teacher_logits / tau)
    deit = np.sum(np.exp(log_t) * (log_t - log_s)) * tau**2 / log_s.size
    predictions = keras.ops.convert_to_tensor(_softmax(student_logits).astype("float32"))
    cross_entropy = np.mean(-np.sum(y * np.log(_softmax(student_logits)), axis=-1))
    loss = model.compute_loss(x, y, predictions, training=True)
    assert float(loss) == pytest.approx(0.7 * cross_entropy + 0.3 * deit, rel=1e-4)
    assert float(model.distillation_loss(x, predictions)) == pytest.approx(deit, rel=1e-4)


def test_distillation_types_train_and_reload_and_the_old_name_loads(tmp_path):
    x = np.random.default_rng(0).normal(size=(8, 4, 4, 3)).astype("float32")
    y = np.eye(3, dtype="float32")[np.arange(8) % 3]
    for cls, kwargs in ((training.Distillation, {"distillation_type": "soft", "tau": 2.0}),
                        (HardDistillation, {})):
        model = cls(_classifier(1), _classifier(2), **kwargs)
        model.compile("adam", "categorical_crossentropy")
        model.fit(x, y, epochs=1, verbose=0)
        path = str(tmp_path / f"{cls.__name__}.keras")
        model.save(path)
        loaded = keras.saving.load_model(path)
        assert type(loaded) is cls
        assert (loaded.distillation_type, loaded.tau) == (model.distillation_type, model.tau)
        np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(x)),
                                   keras.ops.convert_to_numpy(model(x)), rtol=1e-5, atol=1e-6)
    # A config written before the soft variant existed loads as hard distillation.
    old = {key: value for key, value in model.get_config().items()
           if key not in ("distillation_type", "tau")}
    assert HardDistillation.from_config(old).distillation_type == "hard"


@pytest.mark.parametrize(
    "kwargs, message",
    [({"distillation_type": "none"}, "distillation_type='none'"), ({"tau": 0.0}, "tau=0.0")],
)
def test_distillation_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        training.Distillation(_classifier(0), _classifier(1), **kwargs)
    with pytest.raises(ValueError, match=message.replace("tau", "distillation_tau")):
        training.train(epochs=1, output_dir="unused", **{
            {"tau": "distillation_tau"}.get(key, key): value for key, value in kwargs.items()})


# Weight EMA ----------------------------------------------------------------------

def _dense_model(seed):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="softmax")])


def test_weight_ema_is_what_fit_leaves_and_round_trips():
    """With the recipe's `ema_momentum`, `fit` ends with the moving average of
    the weights after each step (Keras starts it at the first step's weights)."""
    recipe = training.get_recipe("digits", ema_momentum=0.5, warmup_epochs=0,
                                 learning_rate=0.5, reference_batch_size=2)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 3)).astype("float32")
    y = np.eye(2, dtype="float32")[[0, 1, 1, 0, 1, 0, 0, 1]]
    averaged, plain = _dense_model(0), _dense_model(0)
    averaged.compile(recipe.make_optimizer(4, 1, 2), "categorical_crossentropy")
    plain.compile(training.get_recipe("digits", warmup_epochs=0, learning_rate=0.5,
                                      reference_batch_size=2).make_optimizer(4, 1, 2),
                  "categorical_crossentropy")
    averaged.fit(x, y, batch_size=2, epochs=1, shuffle=False, verbose=0)
    expected = None
    for start in range(0, 8, 2):
        plain.train_on_batch(x[start:start + 2], y[start:start + 2])
        weights = [keras.ops.convert_to_numpy(w) for w in plain.trainable_weights]
        expected = weights if expected is None else [
            0.5 * old + 0.5 * new for old, new in zip(expected, weights)]
    for weight, value, last in zip(averaged.trainable_weights, expected, weights):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(weight), value, rtol=1e-5, atol=1e-6)
        assert not np.allclose(value, last)
    deit = training.get_recipe("deit").make_optimizer(10, 2, 64)
    assert (deit.use_ema, deit.ema_momentum) == (True, 0.99996)
    restored = type(deit).from_config(deit.get_config())
    assert (restored.use_ema, restored.ema_momentum) == (True, 0.99996)
    assert training.get_recipe("mixer").make_optimizer(10, 2, 64).use_ema is False
    with pytest.raises(ValueError, match="ema_momentum=1.5"):
        training.get_recipe("deit", ema_momentum=1.5)


# Repeated augmentation -------------------------------------------------------------

def _batches(dataset, count):
    return [tuple(np.asarray(part) for part in batch) for batch in dataset.take(count)]


def test_repeated_augmentation_repeats_each_image_and_keeps_the_epoch():
    images = training.load_image_data("digits", (8, 8))
    recipe = training.get_recipe("digits", repeated_augmentation=3)
    full = training.make_pipeline(images.train, (8, 8), 300, 10, training=True,
                                  recipe=recipe, epochs=2)
    tail = training.make_pipeline(images.train, (8, 8), 300, 10, training=True,
                                  recipe=recipe, epochs=2, start_epoch=1)
    batches = _batches(full, 9)
    assert len(batches) == 8  # 1437 // 300 = 4 whole batches per epoch, as without repeats
    x = np.concatenate([batch[0] for batch in batches[:4]])
    labels = np.concatenate([batch[1] for batch in batches[:4]]).argmax(-1)
    triples = x.reshape(-1, 3, *x.shape[1:])
    np.testing.assert_array_equal(triples[:, 0], triples[:, 1])
    np.testing.assert_array_equal(triples[:, 0], triples[:, 2])
    assert (labels.reshape(-1, 3) == labels[::3, None]).all()
    assert len({image.tobytes() for image in triples[:, 0]}) == 400  # 400 distinct images
    for expected, actual in zip(batches[4:], _batches(tail, 4)):  # resumes bit-exactly
        np.testing.assert_array_equal(expected[0], actual[0])
    with pytest.raises(ValueError, match="repeated_augmentation=0"):
        training.get_recipe("deit", repeated_augmentation=0)


@pytest.mark.skipif(
    keras.config.backend() != "tensorflow",
    reason="inside tf.data Keras computes the augmentation with TensorFlow on every backend",
)
def test_each_repeated_copy_gets_its_own_augmentation():
    images = training.load_image_data("digits", (8, 8))
    recipe = training.get_recipe("digits", repeated_augmentation=3, random_erasing=1.0)
    x, _ = _batches(training.make_pipeline(images.train, (8, 8), 30, 10, training=True,
                                           recipe=recipe, seed=3), 1)[0]
    triples = x.reshape(10, 3, -1)
    assert not np.array_equal(triples[:, 0], triples[:, 1])
    assert not np.array_equal(triples[:, 1], triples[:, 2])


# keras-cv augmentation (optional) ------------------------------------------------------

# Found, not imported, at collection: keras-cv imports TensorFlow (seconds).
KERAS_CV = importlib.util.find_spec("keras_cv") is not None


@pytest.mark.skipif(not KERAS_CV, reason="keras-cv is not installed: pip install "
                    "'keras-mixer[keras-cv]' (the Makefile's test install has it)")
@pytest.mark.skipif(
    keras.config.backend() != "tensorflow",
    reason="keras-cv's layers compute with TensorFlow inside tf.data on every backend "
           "(one epoch of fit on JAX and torch was checked by hand: 27 s and 20 s more CI)",
)
def test_one_epoch_of_fit_with_keras_cv_augmentation():
    """keras-cv's RandAugment, MixUp and CutMix (with Keras core's random
    erasing) in the tf.data pipeline, feeding `fit` on the current backend."""
    import keras_cv

    import keras_mixer

    recipe = training.get_recipe("deit", augmentation="keras_cv", repeated_augmentation=1)
    image_layers, mixing_layers = recipe.make_augmentation(seed=0)
    assert [type(layer) for layer in image_layers[:1] + mixing_layers] == [
        keras_cv.layers.RandAugment, keras_cv.layers.MixUp, keras_cv.layers.CutMix]
    images = training.load_image_data("digits", (8, 8))
    stream = training.make_pipeline(images.train, (8, 8), 64, 10, training=True,
                                    recipe=recipe, seed=1)
    x, y = _batches(stream, 1)[0]
    assert x.shape == (64, 8, 8, 3) and np.isfinite(x).all()
    np.testing.assert_allclose(y.sum(-1), 1.0, rtol=1e-5)
    assert (y.max(-1) < 1.0).any()  # mixed labels
    model = keras_mixer.ResMLP(patch_size=4, embed_dim=8, depth=1, input_shape=(8, 8, 3),
                               classes=10)
    training.compile_model(model, recipe, steps_per_epoch=4, epochs=1, batch_size=64)
    history = model.fit(stream, epochs=1, steps_per_epoch=4, shuffle=False, verbose=0)
    assert np.isfinite(history.history["loss"]).all()


def test_keras_cv_augmentation_is_checked():
    with pytest.raises(ValueError, match="augmentation='albumentations'"):
        training.get_recipe("deit", augmentation="albumentations")
    if not KERAS_CV:
        with pytest.raises(ImportError, match=r"pip install 'keras-mixer\[keras-cv\]'"):
            training.get_recipe("deit", augmentation="keras_cv").make_augmentation()


# Fine-tuning ---------------------------------------------------------------------------

def test_finetune_recipe_follows_deit():
    recipe = training.get_recipe("finetune")
    assert (recipe.optimizer, recipe.learning_rate, recipe.reference_batch_size) == ("adamw", 1e-5, 512)
    assert (recipe.epochs, recipe.warmup_epochs, recipe.weight_decay) == (20, 5, 0.1)
    assert (recipe.random_erasing, recipe.repeated_augmentation, recipe.ema_momentum) == (0.0, 1, None)


@pytest.mark.slow
@pytest.mark.skipif(
    keras.config.backend() != "tensorflow",
    reason="40 s of CPU: run where docs/training.md's first column was measured; JAX and "
           "torch numbers there were measured by hand (fit and weights= at another size "
           "are tested on every backend elsewhere)",
)
def test_finetune_example_gives_the_documented_accuracies():
    """examples/finetune_digits.py as docs/training.md shows it: 8x8
    pretraining, weights loaded at 16x16 (resampled token mixing), fine-tuned
    on 200 digits, beside training from scratch on them."""
    import importlib.util as util
    import pathlib

    path = pathlib.Path(__file__).parent.parent / "examples" / "finetune_digits.py"
    spec = util.spec_from_file_location("finetune_digits", path)
    example = util.module_from_spec(spec)
    spec.loader.exec_module(example)
    results = list(example.run().values())
    np.testing.assert_allclose(results, [0.931, 0.189, 0.919, 0.431], atol=0.03)


@pytest.mark.skipif(
    keras.config.backend() != "tensorflow",
    reason="train() only passes weights= to the builder, whose loading at another size "
           "tests/test_resolution.py checks on every backend",
)
def test_train_starts_from_weights_saved_at_another_size(tmp_path):
    """`train(weights=...)` (CLI `--weights`): a `.weights.h5` of 8x8 training
    starts a 16x16 fine-tuning run."""
    keras.utils.set_random_seed(5)  # train() builds with seed 0: other initial weights
    pretrained = training.build_model("resmlp_digits", 8, 10)
    pretrained.save_weights(str(tmp_path / "digits8.weights.h5"))
    no_augmentation = {"rand_augment": None, "mixup_alpha": 0.0, "cutmix_factor": 0.0}
    result = training.train(epochs=1, batch_size=512, image_size=16, recipe="finetune",
                            weights=str(tmp_path / "digits8.weights.h5"),
                            recipe_overrides=no_augmentation,
                            output_dir=str(tmp_path / "run"), verbose=0)
    assert result.model.input_shape == (None, 16, 16, 3)
    before = {w.path: keras.ops.convert_to_numpy(w) for w in pretrained.weights}
    stem = [w for w in result.model.weights if w.path in before and "kernel" in w.path][0]
    # Two steps at the warm-up's start barely move it (learning rate <= 5e-6).
    np.testing.assert_allclose(keras.ops.convert_to_numpy(stem), before[stem.path], atol=1e-4)


def test_cli_train_passes_the_new_options(monkeypatch, capsys, tmp_path):
    from keras_mixer.cli import main
    from keras_mixer.training import run as training_run

    seen = {}

    def fake_train(*args, **kwargs):
        seen.update(kwargs)
        raise ValueError("stopped before training")

    monkeypatch.setattr(training_run, "train", fake_train)
    argv = ["train", "--output", str(tmp_path), "--recipe", "finetune", "--weights", "w.weights.h5",
            "--augmentation", "keras_cv", "--teacher", "t.keras", "--distillation-type", "soft",
            "--distillation-tau", "3"]
    assert main(argv) == 2
    assert "stopped before training" in capsys.readouterr().err
    assert (seen["recipe"], seen["weights"], seen["teacher"]) == ("finetune", "w.weights.h5", "t.keras")
    assert (seen["distillation_type"], seen["distillation_tau"]) == ("soft", 3.0)
    assert seen["recipe_overrides"] == {"augmentation": "keras_cv"}
    with pytest.raises(SystemExit):
        main(["train", "--distillation-type", "none"])
