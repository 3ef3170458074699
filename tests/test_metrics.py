import numpy as np
import pytest

from emotion_aware_loss.losses.metrics import (
    classification_metrics,
    decide,
    expected_calibration_error,
    mistake_severity,
    semantic_cost,
)

from .conftest import SEED_MATRIX

S = np.array(SEED_MATRIX)


def test_metrics_on_a_known_example():
    y = np.array([0, 0, 0, 3, 3, 2])
    probs = np.eye(5)[[0, 0, 3, 3, 0, 1]] * 0.9 + 0.02
    m = classification_metrics(y, probs, S)
    assert m["accuracy"] == pytest.approx(3 / 6)
    # recall: anger 2/3, sadness 1/2, happiness 0 -> mean over the 3 present classes
    assert m["uar"] == pytest.approx((2 / 3 + 1 / 2 + 0) / 3)
    # mistakes: anger->sadness (0.4), sadness->anger (0.4), happiness->surprise (0.4)
    assert m["mistake_severity"] == pytest.approx(0.4)
    assert m["semantic_cost"] == pytest.approx(3 * 0.4 / 6)
    assert m["confusion_matrix"][0] == [2, 0, 0, 1, 0]
    assert m["cross_entropy"] > 0
    assert 0 <= m["weighted_f1"] <= 1


def test_mistake_severity_grades_distance():
    assert mistake_severity([0], [2], S) == pytest.approx(0.8)
    assert mistake_severity([0], [3], S) == pytest.approx(0.4)
    assert np.isnan(mistake_severity([1, 2], [1, 2], S))
    assert semantic_cost([1, 2], [1, 2], S) == 0.0


def test_min_expected_cost_avoids_distant_classes():
    # happiness is most probable, but anger+sadness together make it costly:
    # expected costs: anger .62, surprise .57, happiness .62, sadness .62, neutral .55
    p = np.array([[0.3, 0.0, 0.4, 0.3, 0.0]])
    assert decide(p, S, "argmax").tolist() == [2]
    cost = p @ (1 - S)
    assert decide(p, S, "min_expected_cost").tolist() == [int(cost.argmin())]
    assert decide(p, S, "min_expected_cost").tolist() != [2]
    with pytest.raises(ValueError, match="unknown decision rule 'vote'"):
        decide(p, S, "vote")


def test_min_expected_cost_with_identity_similarity_is_argmax():
    p = np.random.default_rng(0).dirichlet(np.ones(5), size=50)
    np.testing.assert_array_equal(
        decide(p, np.eye(5), "min_expected_cost"), p.argmax(1)
    )


def test_expected_calibration_error():
    y = np.array([0, 0, 1, 1])
    perfect = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    assert expected_calibration_error(y, perfect) == 0.0
    over = np.array([[0.9, 0.1]] * 4)  # 90% confident, 50% right
    assert expected_calibration_error(y, over) == pytest.approx(0.4)


def test_keras_metrics_match_the_numpy_ones_over_batches():
    from emotion_aware_loss.losses.metrics import (
        MistakeSeverity,
        SemanticCost,
        UnweightedAverageRecall,
    )

    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 60)  # class 4 never occurs: UAR leaves it out
    probs = rng.dirichlet(np.ones(5), 60)
    expected = classification_metrics(y, probs, S)
    streaming = {
        "uar": UnweightedAverageRecall(5),
        "semantic_cost": SemanticCost(S),
        "mistake_severity": MistakeSeverity(S),
    }
    for name, metric in streaming.items():
        for start in range(0, 60, 16):
            metric.update_state(y[start : start + 16], probs[start : start + 16])
        assert float(metric.result()) == pytest.approx(expected[name], abs=1e-6)
        metric.reset_state()
        assert float(metric.result()) == 0.0
        clone = type(metric).from_config(metric.get_config())
        clone.update_state(np.eye(5)[y], probs)  # one-hot labels too
        assert float(clone.result()) == pytest.approx(expected[name], abs=1e-6)


def test_a_model_compiled_with_the_keras_metrics_reloads(tmp_path):
    import keras

    from emotion_aware_loss.losses.metrics import SemanticCost, UnweightedAverageRecall

    inputs = keras.Input(shape=(3,))
    model = keras.Model(inputs, keras.layers.Dense(5, activation="softmax")(inputs))
    model.compile(
        optimizer="adam",
        loss="sparse_categorical_crossentropy",
        metrics=[UnweightedAverageRecall(5), SemanticCost(S)],
    )
    x = np.random.default_rng(4).normal(size=(20, 3)).astype("float32")
    y = np.arange(20) % 5
    model.fit(x, y, epochs=1, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    expected = model.evaluate(x, y, verbose=0, return_dict=True)
    assert loaded.evaluate(x, y, verbose=0, return_dict=True) == pytest.approx(expected)
    assert set(expected) >= {"uar", "semantic_cost"}
