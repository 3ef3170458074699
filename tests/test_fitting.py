import keras
import numpy as np
import pytest

from emotion_aware_loss.config import TrainingConfig
from emotion_aware_loss.fitting import fit
from emotion_aware_loss.losses import CrossEntropy


@pytest.mark.parametrize("monitor", ["val_accuracy", "val_uar"])
def test_early_stopping_keeps_the_best_epoch_of_the_monitored_score(monitor):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 4)).astype("float32")
    y = (x[:, 0] > 0).astype(int) + 2 * (x[:, 1] > 1).astype(int)  # imbalanced
    inputs = keras.Input(shape=(4,), name="speech")
    model = keras.Model(
        inputs, keras.layers.Dense(4, activation="softmax", name="emotion")(inputs)
    )
    config = TrainingConfig(
        epochs=8, batch_size=16, learning_rate=0.05, patience=8, monitor=monitor
    )
    trained, history = fit(
        model,
        CrossEntropy(),
        ({"speech": x[:80]}, y[:80]),
        ({"speech": x[80:]}, y[80:]),
        config,
        seed=1,
    )
    assert {"val_accuracy", "val_uar", "uar"} <= set(history)
    scores = history[monitor]
    assert history["best_epoch"] == [int(np.argmax(scores)) + 1]
    restored = trained.evaluate({"speech": x[80:]}, y[80:], verbose=0, return_dict=True)
    assert restored[monitor.removeprefix("val_")] == pytest.approx(max(scores))


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
