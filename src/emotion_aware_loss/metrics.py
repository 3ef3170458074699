"""Classification metrics and decision rules on NumPy arrays (scikit-learn underneath).

Two decision rules turn class probabilities ``p`` into a prediction:

* ``argmax``: the most probable class.
* ``min_expected_cost``: ``argmin_j sum_i p_i (1 - S[i, j])``, the class with the
  lowest expected semantic cost (conditional risk minimisation; Karthik et al.,
  "No cost likelihood manipulation at test time", ICLR 2021). It trades a little
  accuracy for less severe mistakes.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    log_loss,
    recall_score,
)

DECISION_RULES = ("argmax", "min_expected_cost")


def decide(
    probabilities: np.ndarray, similarity: np.ndarray, rule: str = "argmax"
) -> np.ndarray:
    """Predicted class ids under a decision rule.

    Raises:
        ValueError: If ``rule`` is not one of ``DECISION_RULES``.
    """
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if rule == "argmax":
        return probabilities.argmax(axis=1)
    if rule == "min_expected_cost":
        cost = 1.0 - np.asarray(similarity, dtype=np.float64)
        return (probabilities @ cost).argmin(axis=1)
    raise ValueError(
        f"unknown decision rule {rule!r}; expected one of {DECISION_RULES}"
    )


def mistake_severity(
    y_true: np.ndarray, y_pred: np.ndarray, similarity: np.ndarray
) -> float:
    """Mean cost ``1 - S[true, predicted]`` over the wrong predictions.

    Returns ``nan`` when there is no wrong prediction (no mistake to grade).
    """
    y_true = np.asarray(y_true, dtype=int)
    y_pred = np.asarray(y_pred, dtype=int)
    wrong = y_true != y_pred
    if not wrong.any():
        return float("nan")
    cost = 1.0 - np.asarray(similarity, dtype=np.float64)
    return float(cost[y_true[wrong], y_pred[wrong]].mean())


def semantic_cost(
    y_true: np.ndarray, y_pred: np.ndarray, similarity: np.ndarray
) -> float:
    """Mean cost ``1 - S[true, predicted]`` over all predictions (correct ones cost 0)."""
    cost = 1.0 - np.asarray(similarity, dtype=np.float64)
    return float(
        cost[np.asarray(y_true, dtype=int), np.asarray(y_pred, dtype=int)].mean()
    )


def expected_calibration_error(
    y_true: np.ndarray, probabilities: np.ndarray, n_bins: int = 15
) -> float:
    """ECE of the top-class confidence over ``n_bins`` equal-width bins.

    ``sum_b |B_b| / n * |accuracy(B_b) - confidence(B_b)|``.
    """
    probabilities = np.asarray(probabilities, dtype=np.float64)
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == np.asarray(y_true)
    bins = np.minimum((confidence * n_bins).astype(int), n_bins - 1)
    total = 0.0
    for b in np.unique(bins):
        members = bins == b
        total += members.sum() * abs(
            correct[members].mean() - confidence[members].mean()
        )
    return float(total / len(confidence))


def classification_metrics(
    y_true: np.ndarray,
    probabilities: np.ndarray,
    similarity: np.ndarray,
    rule: str = "argmax",
) -> dict[str, float | list[list[int]]]:
    """All metrics of one set of predictions under one decision rule.

    Args:
        y_true: Integer class ids, shape ``(n,)``.
        probabilities: Predicted class probabilities, shape ``(n, K)``.
        similarity: ``(K, K)`` similarity matrix for the cost-based metrics.
        rule: Decision rule (``argmax`` or ``min_expected_cost``).

    Returns:
        accuracy, uar, macro_f1, weighted_f1, cross_entropy, mistake_severity,
        semantic_cost, ece and the ``K x K`` confusion matrix (rows true, columns
        predicted) as nested lists, ready for JSON. Cross-entropy and ECE depend on
        the probabilities only, not on the rule.
    """
    probabilities = np.asarray(probabilities, dtype=np.float64)
    labels = np.arange(probabilities.shape[1])
    y_pred = decide(probabilities, similarity, rule)
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        # UAR: recall of each class averaged without weighting by class size;
        # classes absent from y_true are left out rather than counted as zero.
        "uar": float(
            recall_score(
                y_true,
                y_pred,
                labels=np.unique(y_true),
                average="macro",
                zero_division=0,
            )
        ),
        # F1 over the classes that occur in either y_true or y_pred.
        "macro_f1": float(f1_score(y_true, y_pred, average="macro", zero_division=0)),
        "weighted_f1": float(
            f1_score(y_true, y_pred, average="weighted", zero_division=0)
        ),
        "cross_entropy": float(log_loss(y_true, probabilities, labels=labels)),
        "mistake_severity": mistake_severity(y_true, y_pred, similarity),
        "semantic_cost": semantic_cost(y_true, y_pred, similarity),
        "ece": expected_calibration_error(y_true, probabilities),
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
    }
