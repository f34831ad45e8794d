"""Recipes, schedule, data pipelines, distribution choice, distillation, plots."""

import os

import keras
import numpy as np
import pytest

import keras_mixer
from keras_mixer import training
from keras_mixer.training.callbacks import plot_history
from keras_mixer.training.callbacks import read_history
from keras_mixer.training.data import parse_data_spec


def _batches(dataset, count):
    return [tuple(np.asarray(part) for part in batch) for batch in dataset.take(count)]


# Schedule and recipes ------------------------------------------------------

def test_warmup_decay_shapes_the_learning_rate():
    linear = training.WarmupDecay(1.0, total_steps=110, warmup_steps=10, decay="linear")
    cosine = training.WarmupDecay(1.0, total_steps=110, warmup_steps=10, decay="cosine")
    values = [float(linear(step)) for step in (0, 5, 10, 60, 110, 200)]
    np.testing.assert_allclose(values, [0.0, 0.5, 1.0, 0.5, 0.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(float(cosine(35)), 0.5 * (1 + np.cos(np.pi / 4)), rtol=1e-5)
    restored = training.WarmupDecay.from_config(cosine.get_config())
    assert float(restored(35)) == pytest.approx(float(cosine(35)))


@pytest.mark.parametrize(
    "kwargs, message",
    [({"decay": "step"}, "decay='step'"), ({"warmup_steps": 200}, "warmup_steps=200")],
)
def test_warmup_decay_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        training.WarmupDecay(1.0, **{"total_steps": 100, **kwargs})


def test_recipes_follow_the_papers():
    deit = training.get_recipe("deit")
    assert (deit.optimizer, deit.weight_decay, deit.decay) == ("lamb", 0.2, "cosine")
    assert deit.scaled_learning_rate(1024) == pytest.approx(2.5e-3)
    assert isinstance(deit.make_optimizer(10, 2, 64), keras.optimizers.Lamb)
    mixer = training.get_recipe("mixer", epochs=3)
    optimizer = mixer.make_optimizer(steps_per_epoch=100)
    assert isinstance(optimizer, keras.optimizers.AdamW)
    assert (optimizer.beta_1, optimizer.beta_2, optimizer.global_clipnorm) == (0.9, 0.999, 1.0)
    assert optimizer.get_config()["learning_rate"]["config"]["decay"] == "linear"
    with pytest.raises(ValueError, match="Unknown recipe 'sgd'"):
        training.get_recipe("sgd")
    with pytest.raises(ValueError, match="optimizer='sgd'"):
        training.get_recipe("deit", optimizer="sgd")


@pytest.mark.parametrize("recipe", ["deit", "mixer"])
def test_weight_decay_spares_affine_layer_scale_and_biases(recipe):
    model = keras_mixer.ResMLP(patch_size=4, embed_dim=8, depth=1, input_shape=(8, 8, 3), classes=3)
    optimizer = training.get_recipe(recipe, learning_rate=1.0, reference_batch_size=1,
                                    warmup_epochs=0, global_clipnorm=None).make_optimizer(1, 2, 1)
    before = [keras.ops.convert_to_numpy(v) for v in model.trainable_weights]
    optimizer.apply_gradients(
        [(keras.ops.zeros(v.shape, "float32"), v) for v in model.trainable_weights]
    )
    for variable, old in zip(model.trainable_weights, before):
        changed = not np.allclose(keras.ops.convert_to_numpy(variable), old)
        assert changed == (variable.name == "kernel"), variable.path


# Data ----------------------------------------------------------------------

def test_data_specs_are_parsed_or_rejected():
    assert parse_data_spec("digits") == ("digits", None)
    assert parse_data_spec("tfds:mnist") == ("tfds", "mnist")
    assert parse_data_spec("folder:/x/y") == ("folder", "/x/y")
    for bad in ("imagenet", "tfds:", "digits:3"):
        with pytest.raises(ValueError, match="Unknown dataset"):
            parse_data_spec(bad)


def test_digits_stream_is_resumable_and_batched_globally():
    images = training.load_image_data("digits", (16, 16))
    assert (images.num_classes, images.train_size, images.test_size) == (10, 1437, 360)
    full = training.make_pipeline(images.train, (16, 16), 500, 10, training=True, epochs=2)
    tail = training.make_pipeline(images.train, (16, 16), 500, 10, training=True, epochs=2,
                                  start_epoch=1)
    full_batches, tail_batches = _batches(full, 4), _batches(tail, 2)
    assert len(full_batches) == 4 and len(tail_batches) == 2  # 2 whole batches per epoch
    assert full_batches[0][0].shape == (500, 16, 16, 3)
    assert full_batches[0][1].shape == (500, 10)
    assert not np.array_equal(full_batches[0][0], full_batches[2][0])  # reshuffled
    for expected, actual in zip(full_batches[2:], tail_batches):
        np.testing.assert_array_equal(expected[0], actual[0])
    test = training.make_pipeline(images.test, (16, 16), 256, 10)
    assert [len(batch[0]) for batch in _batches(test, 5)] == [256, 104]


@pytest.mark.skipif(
    keras.config.backend() != "tensorflow",
    reason="inside tf.data Keras computes the augmentation with TensorFlow on every backend",
)
def test_deit_augmentation_runs_in_the_pipeline():
    images = training.load_image_data("digits", (16, 16))
    recipe = training.get_recipe("deit")
    stream = training.make_pipeline(images.train, (16, 16), 32, 10, training=True,
                                    recipe=recipe, seed=1)
    x, y = _batches(stream, 1)[0]
    assert x.shape == (32, 16, 16, 3) and np.isfinite(x).all()
    np.testing.assert_allclose(y.sum(-1), 1.0, rtol=1e-5)
    assert (y.max(-1) < 1.0).any()  # MixUp / CutMix mixed some labels


def test_folder_of_class_folders(tmp_path):
    rng = np.random.default_rng(0)
    for name in ("cat", "dog"):
        (tmp_path / name).mkdir()
        for index in range(5):
            array = rng.integers(0, 256, (12, 10, 3)).astype("uint8")
            keras.utils.save_img(str(tmp_path / name / f"{index}.png"), array)
    images = training.load_image_data(f"folder:{tmp_path}", (8, 8), test_fraction=0.2)
    assert images.class_names == ["cat", "dog"]
    assert (images.train_size, images.test_size) == (8, 2)
    x, y = _batches(training.make_pipeline(images.train, (8, 8), 4, 2, training=True), 1)[0]
    assert x.shape == (4, 8, 8, 3) and y.shape == (4, 2)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        training.load_image_data(f"folder:{tmp_path / 'none'}", (8, 8))
    (tmp_path / "single" / "only").mkdir(parents=True)
    with pytest.raises(ValueError, match="has 1 class sub-folders; expected at least 2"):
        training.load_image_data(f"folder:{tmp_path / 'single'}", (8, 8))


def test_tfds_never_downloads_unless_asked(tmp_path):
    with pytest.raises(ValueError, match="downloading is off"):
        training.load_image_data("tfds:mnist", (28, 28), data_dir=str(tmp_path))
    with pytest.raises(ValueError, match="Unknown TFDS dataset"):
        training.load_image_data("tfds:no_such_dataset_xyz", (28, 28), data_dir=str(tmp_path))


# Distribution ----------------------------------------------------------------

def test_distribution_choice_and_errors(backend, monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    none = training.get_distribution("none")
    assert (none.num_replicas, none.is_chief) == (1, True)
    assert training.get_distribution("auto").num_replicas >= 1
    with pytest.raises(ValueError, match="Unknown strategy 'horovod'"):
        training.get_distribution("horovod")
    if backend == "tensorflow":
        with pytest.raises(ValueError, match="needs TF_CONFIG"):
            training.get_distribution("multiworker")
    else:
        with pytest.raises(ValueError, match="needs the tensorflow backend"):
            training.get_distribution("mirrored")
    if backend != "jax":
        with pytest.raises(ValueError, match="needs the jax backend"):
            training.get_distribution("jax-dp")
    none.num_replicas = 2
    with pytest.raises(ValueError, match="batch size 33 is not divisible by the 2 replicas"):
        none.check_batch_size(33)


def test_multi_worker_patch_leaves_other_models_alone():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    step = model.train_step
    assert training.patch_model_for_multi_worker(model) is False
    assert model.train_step == step


# Distillation ---------------------------------------------------------------

def _classifier(seed):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input((4, 4, 3)), keras.layers.Flatten(),
                             keras.layers.Dense(3, activation="softmax")])


def test_hard_distillation_loss_and_frozen_teacher():
    student, teacher = _classifier(1), _classifier(2)
    model = training.HardDistillation(student, teacher, distillation_weight=0.3)
    model.compile("sgd", keras.losses.CategoricalCrossentropy())
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 4, 4, 3)).astype("float32")
    y = np.eye(3, dtype="float32")[rng.integers(0, 3, 6)]
    predictions = keras.ops.convert_to_numpy(student(x))
    teacher_labels = np.eye(3)[keras.ops.convert_to_numpy(teacher(x)).argmax(-1)]

    def cross_entropy(labels):
        return np.mean(-np.sum(labels * np.log(predictions), axis=-1))
    loss = model.compute_loss(x, y, keras.ops.convert_to_tensor(predictions), training=True)
    expected = 0.7 * cross_entropy(y) + 0.3 * cross_entropy(teacher_labels)
    assert float(loss) == pytest.approx(expected, rel=1e-5)
    assert float(model.compute_loss(x, y, keras.ops.convert_to_tensor(predictions),
                                    training=False)) == pytest.approx(cross_entropy(y), rel=1e-5)
    teacher_before = [keras.ops.convert_to_numpy(w) for w in teacher.weights]
    student_before = [keras.ops.convert_to_numpy(w) for w in student.weights]
    model.fit(x, y, epochs=2, verbose=0)
    for weight, old in zip(teacher.weights, teacher_before):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(weight), old)
    assert not np.allclose(keras.ops.convert_to_numpy(student.weights[0]), student_before[0])


def test_hard_distillation_rejects_bad_arguments():
    with pytest.raises(ValueError, match="distillation_weight=1.5"):
        training.HardDistillation(_classifier(0), _classifier(1), distillation_weight=1.5)
    other = keras.Sequential([keras.Input((4, 4, 3)), keras.layers.Flatten(), keras.layers.Dense(5)])
    with pytest.raises(ValueError, match="teacher predicts 5 classes, student 3"):
        training.HardDistillation(_classifier(0), other)


# Plots -------------------------------------------------------------------------

def test_training_curves_png(tmp_path):
    csv_path = tmp_path / "history.csv"
    csv_path.write_text("epoch,accuracy,loss,val_accuracy,val_loss\n0,0.5,1.2,0.4,1.3\n1,0.7,0.8,0.6,0.9\n")
    history = read_history(str(csv_path))
    assert history["val_loss"] == [1.3, 0.9]
    plot_history(history, str(tmp_path / "curves.png"))
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert os.path.getsize(tmp_path / "curves.png") > 5000


# Saved after fit, loaded by plain Keras -----------------------------------------

_LOAD_IN_FRESH_PROCESS = """
import sys, json, keras, numpy as np
import keras_mixer
x = np.load(sys.argv[1])
for path in sys.argv[2:]:
    model = keras.saving.load_model(path)
    print(json.dumps({"path": path, "optimizer": model.optimizer.get_config(),
                      "predictions": keras.ops.convert_to_numpy(model(x)).tolist()}))
"""


@pytest.mark.slow
@pytest.mark.skipif(keras.config.backend() == "jax",
                    reason="registration is the same on every backend; checked where models "
                           "build fastest (TensorFlow, torch), the JAX pass runs the kill test")
def test_models_trained_with_each_recipe_load_with_plain_keras(tmp_path):
    """`.keras` files of `fit`-trained models (schedule, optimizer sparing
    weight decay, distillation wrapper) load in a fresh process after only
    `import keras_mixer`, with the same predictions and optimizer."""
    import json
    import subprocess
    import sys

    x = np.random.default_rng(0).uniform(0, 255, (4, 16, 16, 3)).astype("float32")
    y = np.eye(3, dtype="float32")[[0, 1, 2, 0]]
    np.save(tmp_path / "x.npy", x)
    builders = {"mixer": lambda: keras_mixer.MLPMixer(patch_size=8, embed_dim=8, depth=1,
                                                      input_shape=(16, 16, 3), classes=3),
                "deit": lambda: keras_mixer.ResMLP(patch_size=8, embed_dim=8, depth=1,
                                                   drop_path_rate=0.1,
                                                   input_shape=(16, 16, 3), classes=3)}
    expected = {}
    for recipe, build in builders.items():
        model = build()
        if recipe == "deit":
            model = training.HardDistillation(model, builders["mixer"]())
        training.compile_model(model, training.get_recipe(recipe), 2, 2, 4)
        model.fit(x, y, epochs=1, batch_size=4, verbose=0)
        path = str(tmp_path / f"{recipe}.keras")
        model.save(path)
        expected[path] = (keras.ops.convert_to_numpy(model(x)), model.optimizer.get_config())
    result = subprocess.run([sys.executable, "-c", _LOAD_IN_FRESH_PROCESS,
                             str(tmp_path / "x.npy"), *expected],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    loaded = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert sorted(entry["path"] for entry in loaded) == sorted(expected)
    for entry in loaded:
        predictions, optimizer = expected[entry["path"]]
        np.testing.assert_allclose(entry["predictions"], predictions, rtol=1e-5, atol=1e-6)
        assert entry["optimizer"]["no_weight_decay"] == list(training.recipes.NO_WEIGHT_DECAY)
        assert entry["optimizer"]["learning_rate"] == json.loads(json.dumps(optimizer["learning_rate"]))


def test_train_with_a_teacher_restores_before_fit_and_writes_its_files(tmp_path):
    """`train` end to end (restoring the backup before `fit`, which needs the
    distillation wrapper built): every file of the run folder is complete and
    no staging leftover remains."""
    teacher = training.build_model("resmlp_digits", 8, 10)
    teacher.save(str(tmp_path / "teacher.keras"))
    output = tmp_path / "run"
    result = training.train(epochs=1, batch_size=512, output_dir=str(output), verbose=0,
                            teacher=str(tmp_path / "teacher.keras"))
    assert len(result.history["loss"]) == 1
    assert sorted(os.listdir(output)) == ["backup", "checkpoints", "history.csv",
                                          "resmlp_digits.keras", "tensorboard",
                                          "training_curves.png"]
    assert os.listdir(output / "backup") == []  # the finished run removed its backup
    assert os.listdir(output / "checkpoints") == ["epoch_001.keras"]
    assert len((output / "history.csv").read_text().splitlines()) == 2
