import numpy as np
import pytest

from emotion_aware_loss.metrics import (
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
