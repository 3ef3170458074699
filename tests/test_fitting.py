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
