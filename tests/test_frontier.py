"""The decision-rule frontier: from argmax to minimum expected cost."""

import numpy as np
import pandas as pd
import pytest
from scipy.special import softmax

from emotion_aware_loss.evaluation.frontier import (
    RULE_WEIGHTS,
    blended_decision,
    frontier_points,
    frontier_summary,
)
from emotion_aware_loss.losses.metrics import decide, mistake_severity

from .conftest import CLASSES, SEED_MATRIX

SIMILARITY = np.array(SEED_MATRIX)


def _oof(n=300, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 5, n)
    frames = []
    for variant, sharpness in (("sharp", 3.0), ("flat", 0.7)):
        logits = rng.normal(size=(n, 5)) + 1.5 * np.eye(5)[labels]
        probabilities = softmax(sharpness * logits, axis=1)
        frames.append(
            pd.DataFrame(
                {
                    "variant": variant,
                    "repeat": 0,
                    "fold": np.arange(n) % 3,
                    "label": [CLASSES[i] for i in labels],
                }
                | {f"prob_{c}": probabilities[:, j] for j, c in enumerate(CLASSES)}
            )
        )
    return pd.concat(frames, ignore_index=True)


def test_the_rule_runs_from_argmax_to_minimum_expected_cost():
    probabilities = softmax(np.random.default_rng(1).normal(size=(500, 5)), axis=1)
    np.testing.assert_array_equal(
        blended_decision(probabilities, SIMILARITY, 0.0), probabilities.argmax(1)
    )
    np.testing.assert_array_equal(
        blended_decision(probabilities, SIMILARITY, 1.0),
        decide(probabilities, SIMILARITY, "min_expected_cost"),
    )
    assert RULE_WEIGHTS[0] == 0.0 and RULE_WEIGHTS[-1] == 1.0


def test_the_points_are_each_folds_uar_and_severity_at_each_weight():
    oof = _oof()
    points = frontier_points(oof, CLASSES, SIMILARITY, (0.0, 0.5, 1.0))
    assert len(points) == 2 * 3 * 3  # models x folds x weights
    part = oof[(oof["variant"] == "flat") & (oof["fold"] == 1)]
    labels = part["label"].map({c: i for i, c in enumerate(CLASSES)}).to_numpy()
    probabilities = part[[f"prob_{c}" for c in CLASSES]].to_numpy()
    predicted = blended_decision(probabilities, SIMILARITY, 0.5)
    row = points[
        (points["variant"] == "flat")
        & (points["fold"] == 1)
        & (points["weight"] == 0.5)
    ].iloc[0]
    recalls = [(predicted[labels == k] == k).mean() for k in np.unique(labels)]
    assert row["uar"] == pytest.approx(np.mean(recalls))
    assert row["mistake_severity"] == pytest.approx(
        mistake_severity(labels, predicted, SIMILARITY)
    )


def test_the_pareto_front_keeps_exactly_the_points_nothing_beats_on_both():
    points = pd.DataFrame(
        {
            "variant": ["a", "a", "b", "b", "c"],
            "weight": [0.0, 1.0, 0.0, 1.0, 0.0],
            "fold": 0,
            "uar": [0.70, 0.68, 0.72, 0.60, 0.65],
            "mistake_severity": [0.60, 0.50, 0.62, 0.50, 0.70],
        }
    )
    summary = frontier_summary(points)
    # b@1 ties a@1 on severity with lower UAR; c is beaten by a@0 on both
    assert summary["pareto"].tolist() == [True, True, True, False, False]
    assert (summary["uar_std"] == 0.0).all()  # one fold: no spread


def test_the_study_frontier_averages_each_runs_mean_over_folds():
    from emotion_aware_loss.pipelines.study.nodes import aggregate_frontiers

    runs = {
        f"corpus__seed_{seed}": frontier_summary(
            frontier_points(_oof(seed=seed), CLASSES, SIMILARITY, (0.0, 1.0))
        )
        for seed in (0, 1)
    }
    summary, figure = aggregate_frontiers(**runs)
    assert len(summary) == 2 * 2  # models x weights
    row = summary[(summary["variant"] == "flat") & (summary["weight"] == 1.0)].iloc[0]
    means = [
        r[(r["variant"] == "flat") & (r["weight"] == 1.0)]["uar_mean"].iloc[0]
        for r in runs.values()
    ]
    assert row["uar_mean"] == pytest.approx(np.mean(means))
    assert row["uar_std"] == pytest.approx(np.std(means, ddof=1))
    assert "2 corpus × seed runs" in figure.axes[0].get_title()
