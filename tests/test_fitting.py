import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from emotion_aware_loss.config import TrainingConfig
from emotion_aware_loss.folds.cross_validation import ScaledFeatures
from emotion_aware_loss.losses.family import CrossEntropy
from emotion_aware_loss.training.fitting import fit, predict

from .tiny_models import separable_data, softmax_regression


def _fit_on_first_80(x: np.ndarray, y: np.ndarray, config: TrainingConfig, seed: int):
    """A softmax regression fitted on 80 utterances, validated on the rest."""
    model = softmax_regression(x.shape[1], int(y.max()) + 1)
    train = ({"speech": x[:80]}, y[:80])  # 80 / 16 = 5 steps per epoch
    return fit(model, CrossEntropy(), train, ({"speech": x[80:]}, y[80:]), config, seed)


@pytest.mark.parametrize("monitor", ["val_accuracy", "val_uar"])
def test_early_stopping_keeps_the_best_epoch_of_the_monitored_score(monitor):
    x, y = separable_data(120, 4, seed=0)
    y = y + 2 * (x[:, 1] > 1).astype(int)  # imbalanced
    config = TrainingConfig(
        epochs=8, batch_size=16, learning_rate=0.05, patience=8, monitor=monitor
    )
    trained, history = _fit_on_first_80(x, y, config, seed=1)
    assert {"val_accuracy", "val_uar", "uar"} <= set(history)
    scores = history[monitor]
    assert history["best_epoch"] == [int(np.argmax(scores)) + 1]
    restored = trained.evaluate({"speech": x[80:]}, y[80:], verbose=0, return_dict=True)
    assert restored[monitor.removeprefix("val_")] == pytest.approx(max(scores))


@pytest.mark.parametrize(
    ("min_steps", "first_candidate"),
    [(0, 0), (11, 3), (1000, 7)],  # 5 steps per epoch; the last epoch always counts
)
def test_min_steps_keeps_early_epochs_out_of_early_stopping(min_steps, first_candidate):
    x, y = separable_data(110, 3, seed=2)
    # patience 0: without min_steps, training ends at the first epoch that does
    # not improve on the best so far
    config = TrainingConfig(
        epochs=8, batch_size=16, learning_rate=0.05, patience=0, min_steps=min_steps
    )
    _, history = _fit_on_first_80(x, y, config, seed=3)
    scores = history["val_accuracy"]
    assert len(scores) > first_candidate
    best = first_candidate + int(np.argmax(scores[first_candidate:]))
    assert history["best_epoch"] == [best + 1]


def test_pre_trained_embeddings_are_loaded_and_can_stay_frozen():
    rng = np.random.default_rng(1)
    tokens = rng.integers(0, 10, size=(40, 5)).astype("int32")
    labels = tokens[:, 0] % 2
    inputs = keras.Input(shape=(5,), dtype="int32", name="text")
    x = keras.layers.Embedding(10, 4, trainable=False, name="text_embedding")(inputs)
    x = keras.layers.GlobalAveragePooling1D()(x)
    model = keras.Model(
        inputs, keras.layers.Dense(2, activation="softmax", name="emotion")(x)
    )
    matrix = rng.normal(size=(10, 4)).astype("float32")
    trained, _ = fit(
        model,
        CrossEntropy(),
        ({"text": tokens[:30]}, labels[:30]),
        ({"text": tokens[30:]}, labels[30:]),
        TrainingConfig(epochs=2, batch_size=8, patience=2),
        seed=0,
        embedding_matrix=matrix,
    )
    np.testing.assert_array_equal(
        trained.get_layer("text_embedding").get_weights()[0], matrix
    )
    # the shared initial model keeps its own weights
    assert not np.array_equal(
        model.get_layer("text_embedding").get_weights()[0], matrix
    )


def _toy_problem(n: int = 96) -> tuple[keras.Model, tuple, tuple]:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(n, 6)).astype("float32")
    y = (x[:, 0] + x[:, 1] > 0).astype(int) + (x[:, 2] > 1).astype(int)
    inputs = keras.Input(shape=(6,), name="speech")
    hidden = keras.layers.Dense(8, activation="relu")(inputs)
    model = keras.Model(
        inputs, keras.layers.Dense(3, activation="softmax", name="emotion")(hidden)
    )
    cut = n * 3 // 4
    return model, ({"speech": x[:cut]}, y[:cut]), ({"speech": x[cut:]}, y[cut:])


def _on_disk(tmp_path, array: np.ndarray) -> ScaledFeatures:
    """``array`` as features read from a memory-mapped file (scaler: identity)."""
    np.save(tmp_path / "speech.npy", array.astype(np.float32))
    mapped = np.load(tmp_path / "speech.npy", mmap_mode="r")
    scaler = {"mean": [0.0] * array.shape[2], "std": [1.0] * array.shape[2]}
    frames = np.full(len(array), array.shape[1])
    return ScaledFeatures(mapped, np.arange(len(array)), frames, scaler)


def test_prediction_from_disk_equals_keras_predict_on_arrays(tmp_path):
    rng = np.random.default_rng(1)
    speech = rng.normal(size=(70, 1, 6)).astype(np.float32)
    model, _, _ = _toy_problem()  # speech input without time axis
    expected = model.predict(speech[:, 0, :], verbose=0)
    got = predict(model, {"speech": _on_disk(tmp_path, speech)})
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(predict(model, {"speech": speech}), expected)


def test_a_retired_setting_is_refused_by_name():
    with pytest.raises(ValueError, match="training.steps_per_execution is no longer"):
        TrainingConfig.model_validate({"steps_per_execution": 8})


def test_thread_counts_apply_before_tensorflow_starts_and_warn_after():
    script = """
import logging
import os
import tensorflow as tf
from emotion_aware_loss.config import TrainingConfig
from emotion_aware_loss.training.setup import configure_threads
logging.basicConfig(level=logging.WARNING)
configure_threads(TrainingConfig(intra_op_threads=1, inter_op_threads=1))
assert tf.config.threading.get_intra_op_parallelism_threads() == 1
assert tf.config.threading.get_inter_op_parallelism_threads() == 1
tf.constant(1.0) + 1.0  # starts the runtime
configure_threads(TrainingConfig(intra_op_threads=2))
assert tf.config.threading.get_intra_op_parallelism_threads() == 1
assert os.environ["TF_NUM_INTRAOP_THREADS"] == "2"  # for processes started later
"""
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=False,
        env=os.environ | {"TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "intra_op threads = 2 applies only to processes started" in result.stderr


def test_balanced_class_weights_give_every_class_the_same_total():
    labels = np.array([0] * 15 + [1] * 5)
    weights = TrainingConfig().class_weights(labels, ["a", "b", "c"])
    np.testing.assert_allclose(weights, [20 / 30, 20 / 10, 1.0])  # c absent: 1
    np.testing.assert_allclose(np.bincount(labels) * weights[:2], [10, 10])


def test_class_weighting_changes_training_and_is_recorded():
    model, train, validation = _toy_problem()
    config = TrainingConfig(epochs=2, batch_size=16, patience=2)
    plain, plain_history = fit(model, CrossEntropy(), train, validation, config, 2)
    heavy = np.array([1.0, 10.0, 1.0], dtype="float32")
    weighted, history = fit(
        model, CrossEntropy(), train, validation, config, 2, class_weights=heavy
    )
    assert history["class_weights"] == heavy.tolist()
    assert "class_weights" not in plain_history
    assert not np.allclose(plain.get_weights()[0], weighted.get_weights()[0])


def test_class_weight_settings():
    labels = np.array([0, 0, 0, 1])
    classes = ["a", "b"]
    assert TrainingConfig(class_weight="none").class_weights(
        labels, classes
    ).tolist() == [1, 1]
    fixed = TrainingConfig(class_weight={"a": 1.0, "b": 4.0})
    assert fixed.class_weights(labels, classes).tolist() == [1.0, 4.0]
    with pytest.raises(ValueError, match="unknown: \\['c'\\], missing: \\['b'\\]"):
        TrainingConfig(class_weight={"a": 1.0, "c": 2.0}).check_classes(classes)
    with pytest.raises(ValueError, match="positive weight"):
        TrainingConfig(class_weight={"a": 0.0})


def test_refit_trains_again_on_training_and_validation_for_the_chosen_epochs():
    from emotion_aware_loss.training.fitting import fit_epochs  # noqa: PLC0415

    x, y = separable_data(120, 3, seed=4)
    config = TrainingConfig(
        epochs=6, batch_size=16, learning_rate=0.05, patience=6, refit=True
    )
    initial = softmax_regression(x.shape[1], int(y.max()) + 1)
    train, validation = ({"speech": x[:80]}, y[:80]), ({"speech": x[80:]}, y[80:])
    everything = ({"speech": x}, y)
    stopped, plain = fit(initial, CrossEntropy(), train, validation, config, seed=5)
    refitted, history = fit(
        initial, CrossEntropy(), train, validation, config, seed=5, refit_on=everything
    )
    # the early-stopped training is the same; the refit trains for its best epoch
    assert history["val_uar"] == plain["val_uar"]
    epochs = history["best_epoch"][0]
    assert history["refit_epochs"] == [epochs]
    # the early-stopped network's confusions on the 40 validation utterances
    confusion = np.asarray(history["validation_confusion"])
    n_classes = int(y.max()) + 1
    assert confusion.shape == (n_classes, n_classes) and confusion.sum() == 40
    guessed = stopped.predict({"speech": x[80:]}, verbose=0).argmax(axis=1)
    assert np.trace(confusion) == int((guessed == y[80:]).sum())
    assert len(history["refit_loss"]) == epochs
    # ... from the initial weights, with the same seed, on all 120 utterances
    alone, _ = fit_epochs(initial, CrossEntropy(), everything, config, epochs, seed=5)
    for a, b in zip(refitted.get_weights(), alone.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    assert not all(
        np.allclose(a, b)
        for a, b in zip(refitted.get_weights(), stopped.get_weights(), strict=True)
    )
