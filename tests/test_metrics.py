import numpy as np
import pytest

from emotion_aware_loss.metrics import classification_metrics, mistake_severity

from .conftest import SEED_MATRIX


def test_metrics_on_a_known_example():
    y = np.array([0, 0, 0, 3, 3, 2])
    probs = np.eye(5)[[0, 0, 3, 3, 0, 1]] * 0.9 + 0.02
    m = classification_metrics(y, probs, np.array(SEED_MATRIX))
    assert m["accuracy"] == pytest.approx(3 / 6)
    # recall: anger 2/3, sadness 1/2, happiness 0 -> mean over the 3 present classes
    assert m["uar"] == pytest.approx((2 / 3 + 1 / 2 + 0) / 3)
    # mistakes: anger->sadness (0.4), sadness->anger (0.4), happiness->surprise (0.4)
    assert m["mistake_severity"] == pytest.approx(0.4)
    assert m["confusion_matrix"][0] == [2, 0, 0, 1, 0]
    assert m["cross_entropy"] > 0


def test_mistake_severity_grades_distance():
    s = np.array(SEED_MATRIX)
    assert mistake_severity([0], [2], s) == pytest.approx(0.8)
    assert mistake_severity([0], [3], s) == pytest.approx(0.4)
    assert np.isnan(mistake_severity([1, 2], [1, 2], s))
