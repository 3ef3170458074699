"""Classification metrics on NumPy arrays (scikit-learn underneath)."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    log_loss,
    recall_score,
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


def classification_metrics(
    y_true: np.ndarray, probabilities: np.ndarray, similarity: np.ndarray
) -> dict[str, float | list[list[int]]]:
    """Accuracy, UAR, macro-F1, cross-entropy, mistake severity and confusions.

    Args:
        y_true: Integer class ids, shape ``(n,)``.
        probabilities: Predicted class probabilities, shape ``(n, K)``.
        similarity: ``(K, K)`` similarity matrix for mistake severity.

    Returns:
        Scalar metrics and the ``K x K`` confusion matrix (rows true, columns
        predicted) as nested lists, ready for JSON.
    """
    probabilities = np.asarray(probabilities, dtype=np.float64)
    labels = np.arange(probabilities.shape[1])
    y_pred = probabilities.argmax(axis=1)
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
        # Macro-F1 over the classes that occur in either y_true or y_pred.
        "macro_f1": float(f1_score(y_true, y_pred, average="macro", zero_division=0)),
        "cross_entropy": float(log_loss(y_true, probabilities, labels=labels)),
        "mistake_severity": mistake_severity(y_true, y_pred, similarity),
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
    }
