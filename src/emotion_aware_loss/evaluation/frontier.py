"""The trade-off between recognising emotions and making milder mistakes.

A similarity-aware method buys milder mistakes (lower mistake severity) with some
recall; whether it is worth it is read off a curve, not a row (Bertinetto et al.,
"Making Better Mistakes", CVPR 2020). Every model here gets such a curve for free
from its probabilities, by the decision rule alone: the prediction minimises the
expected cost under

    C_w = (1 - w) (1 - I) + w (1 - S)

over the classes, which is the ``argmax`` rule at ``w = 0`` (the expected 0/1
cost is ``1 - p_j``) and ``min_expected_cost`` at ``w = 1`` (conditional risk
minimisation, Karthik et al., ICLR 2021). The frontier joins the points no other
point beats on both UAR and mistake severity.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import recall_score

from emotion_aware_loss.losses.metrics import mistake_severity
from emotion_aware_loss.losses.similarity import cost_matrix

# Weights of the semantic cost in the decision rule, from argmax to min_expected_cost.
RULE_WEIGHTS = tuple(np.round(np.linspace(0.0, 1.0, 11), 2))


def blended_decision(
    probabilities: np.ndarray, similarity: np.ndarray, weight: float
) -> np.ndarray:
    """Class ids minimising the expected cost ``p @ C_w`` (see the module)."""
    k = len(similarity)
    cost = (1.0 - weight) * (1.0 - np.eye(k)) + weight * cost_matrix(similarity)
    return (np.asarray(probabilities, dtype=np.float64) @ cost).argmin(axis=1)


def frontier_points(
    oof_predictions: pd.DataFrame,
    classes: list[str],
    similarity: np.ndarray,
    weights: tuple[float, ...] = RULE_WEIGHTS,
) -> pd.DataFrame:
    """UAR and mistake severity of every model at every rule weight, per fold.

    Args:
        oof_predictions: The pooled out-of-fold predictions (``variant, repeat,
            fold, label, prob_<class>...``).
        classes: Class order of the ``prob_`` columns and of ``similarity``.
        similarity: The hand-set matrix the costs come from.
        weights: Rule weights ``w`` (0: argmax, 1: min_expected_cost).

    Returns:
        ``variant, weight, fold, uar, mistake_severity`` (severity ``nan`` for a
        fold without mistakes), one row per (model, weight, fold).
    """
    index = {c: i for i, c in enumerate(classes)}
    columns = [f"prob_{c}" for c in classes]
    rows = []
    for (variant, fold), part in oof_predictions.groupby(
        ["variant", "fold"], sort=False
    ):
        labels = part["label"].map(index).to_numpy()
        probabilities = part[columns].to_numpy(dtype=np.float64)
        for weight in weights:
            predicted = blended_decision(probabilities, similarity, weight)
            rows.append(
                {
                    "variant": variant,
                    "weight": float(weight),
                    "fold": int(fold),
                    "uar": float(
                        recall_score(
                            labels,
                            predicted,
                            labels=np.unique(labels),
                            average="macro",
                            zero_division=0,
                        )
                    ),
                    "mistake_severity": mistake_severity(labels, predicted, similarity),
                }
            )
    return pd.DataFrame(rows)


def frontier_summary(points: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation over folds per (model, weight), with
    ``pareto``: no other point has at least its UAR and at most its severity
    with one of them strictly better."""
    grouped = points.groupby(["variant", "weight"], sort=False)
    summary = grouped[["uar", "mistake_severity"]].agg(["mean", "std"])
    summary.columns = [f"{metric}_{stat}" for metric, stat in summary.columns]
    summary = summary.fillna({"uar_std": 0.0, "mistake_severity_std": 0.0})
    summary = summary.reset_index()
    uar = summary["uar_mean"].to_numpy()
    severity = summary["mistake_severity_mean"].to_numpy()
    known = ~np.isnan(severity)
    dominated = np.zeros(len(summary), bool)
    for i in np.flatnonzero(known):
        others = known & (uar >= uar[i]) & (severity <= severity[i])
        others &= (uar > uar[i]) | (severity < severity[i])
        dominated[i] = others.any()
    summary["pareto"] = known & ~dominated
    return summary
