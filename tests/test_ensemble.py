import keras
import numpy as np
import pytest

from emotion_aware_loss.config import TrainingConfig
from emotion_aware_loss.losses.family import CrossEntropy, EmotionAware
from emotion_aware_loss.models.ensemble import (
    average_of,
    embedding_model,
    ensemble_members,
    member_initial_model,
)
from emotion_aware_loss.training.fitting import fit, fit_epochs, predict

from .tiny_models import separable_data

CONFIG = dict(epochs=6, batch_size=16, learning_rate=0.05, patience=6)


def _hidden_model() -> keras.Model:
    inputs = keras.Input(shape=(4,), name="speech")
    hidden = keras.layers.Dense(6, activation="relu", name="hidden")(inputs)
    hidden = keras.layers.Dropout(0.2, name="dropout")(hidden)
    outputs = keras.layers.Dense(3, activation="softmax", name="emotion")(hidden)
    return keras.Model(inputs, outputs)


@pytest.fixture(scope="module")
def data():
    x, y = separable_data(120, 4, seed=0)
    y = y + (x[:, 1] > 1).astype(int)
    return ({"speech": x[:80]}, y[:80]), ({"speech": x[80:]}, y[80:])


def test_an_ensemble_of_one_is_the_single_network(data):
    keras.utils.set_random_seed(0)
    initial = _hidden_model()
    single, history = fit(initial, CrossEntropy(), *data, TrainingConfig(**CONFIG), 3)
    keras.utils.set_random_seed(0)
    again = _hidden_model()
    trio, trio_history = fit(
        again, CrossEntropy(), *data, TrainingConfig(**CONFIG, ensemble=3), 3
    )
    assert "ensemble" not in history and "members" not in history
    # Member 0 of any ensemble is exactly the network ensemble: 1 trains.
    first = ensemble_members(trio)[0]
    for a, b in zip(single.get_weights(), first.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert trio_history["ensemble"] == [3] and len(trio_history["members"]) == 2
    for key in ("loss", "val_uar", "best_epoch"):
        assert trio_history[key] == history[key]
    assert trio_history["member_best_epochs"][0] == history["best_epoch"][0]
    # each model keeps its predictions on the validation part, what calibrates
    # it: the ensemble its members' mean (neither is refitted here)
    for model, record in ((single, history), (trio, trio_history)):
        probabilities = model.predict(data[1][0], verbose=0)
        np.testing.assert_allclose(
            record["validation_probabilities"], probabilities, atol=1e-5
        )
        assert record["validation_labels"] == data[1][1].tolist()
    assert (
        trio_history["validation_probabilities"] != history["validation_probabilities"]
    )


def test_members_start_apart_and_the_ensemble_averages_them(data, tmp_path):
    keras.utils.set_random_seed(0)
    initial = _hidden_model()
    redrawn = member_initial_model(initial, seed=3, member=1)
    assert member_initial_model(initial, seed=3, member=0) is initial
    assert not np.allclose(redrawn.get_weights()[0], initial.get_weights()[0])
    np.testing.assert_array_equal(
        redrawn.get_weights()[0],
        member_initial_model(initial, seed=3, member=1).get_weights()[0],
    )
    config = TrainingConfig(**CONFIG, ensemble=3)
    model, _ = fit(initial, EmotionAware(np.eye(3)), *data, config, 3)
    members = ensemble_members(model)
    assert [m.name for m in members] == ["member_0", "member_1", "member_2"]
    x = data[1][0]
    each = [predict(m, x) for m in members]
    assert not np.allclose(each[0], each[1])
    np.testing.assert_allclose(predict(model, x), np.mean(each, axis=0), atol=1e-6)
    path = tmp_path / "ensemble.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_allclose(predict(loaded, x), predict(model, x), atol=1e-6)
    assert isinstance(loaded.loss, EmotionAware)
    embeddings = predict(embedding_model(loaded), x)
    assert embeddings.shape == (len(data[1][1]), 3 * 6)  # the members side by side


def test_the_final_model_trains_every_member_for_the_given_epochs(data):
    keras.utils.set_random_seed(0)
    config = TrainingConfig(**CONFIG, ensemble=2)
    model, history = fit_epochs(_hidden_model(), CrossEntropy(), data[0], config, 4, 3)
    assert len(ensemble_members(model)) == 2
    assert len(history["loss"]) == 4 and len(history["members"][0]["loss"]) == 4


def test_an_ensemble_needs_members_with_the_same_inputs():
    with pytest.raises(ValueError, match="at least one member"):
        average_of([])
    text_inputs = keras.Input(shape=(4,), name="text")
    text_model = keras.Model(
        text_inputs, keras.layers.Dense(3, name="emotion")(text_inputs)
    )
    with pytest.raises(ValueError, match="different inputs"):
        average_of([_hidden_model(), text_model])


def test_ensemble_settings_are_checked():
    with pytest.raises(ValueError, match="ensemble"):
        TrainingConfig(ensemble=0)
