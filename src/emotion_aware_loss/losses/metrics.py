"""Classification metrics and decision rules.

The NumPy functions (scikit-learn underneath) score saved predictions; the Keras
metrics (:class:`UnweightedAverageRecall`, :class:`SemanticCost`,
:class:`MistakeSeverity`) compute the same quantities batch by batch during
training, so they appear in the history and can drive early stopping.

Two decision rules turn class probabilities ``p`` into a prediction:

* ``argmax``: the most probable class.
* ``min_expected_cost``: ``argmin_j sum_i p_i (1 - S[i, j])``, the class with the
  lowest expected semantic cost (conditional risk minimisation; Karthik et al.,
  "No cost likelihood manipulation at test time", ICLR 2021). It trades a little
  accuracy for less severe mistakes.
"""

from __future__ import annotations

import warnings

import keras
import numpy as np
from keras import ops
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    log_loss,
    recall_score,
)

from emotion_aware_loss.losses.similarity import cost_matrix

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
        cost = cost_matrix(similarity)
        return (probabilities @ cost).argmin(axis=1)
    raise ValueError(
        f"unknown decision rule {rule!r}; expected one of {DECISION_RULES}"
    )


def predicted_labels(
    probabilities: np.ndarray, similarity: np.ndarray, classes: list[str]
) -> dict[str, list[str]]:
    """The predicted class names under every decision rule.

    Returns:
        ``predicted_<rule>`` -> one class name per row of ``probabilities``.
    """
    return {
        f"predicted_{rule}": [
            classes[i] for i in decide(probabilities, similarity, rule)
        ]
        for rule in DECISION_RULES
    }


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
    cost = cost_matrix(similarity)
    return float(cost[y_true[wrong], y_pred[wrong]].mean())


def semantic_cost(
    y_true: np.ndarray, y_pred: np.ndarray, similarity: np.ndarray
) -> float:
    """Mean cost ``1 - S[true, predicted]`` over all predictions (correct ones cost 0)."""
    cost = cost_matrix(similarity)
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


def _cross_entropy(
    y_true: np.ndarray, probabilities: np.ndarray, labels: np.ndarray
) -> float:
    """Mean negative log-likelihood of the true classes.

    A float32 softmax sums to 1 only to float32 precision, which scikit-learn's
    float64 check reports for every call; the loss is computed as given.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The y_prob values do not sum to one")
        return float(log_loss(y_true, probabilities, labels=labels))


def classification_metrics(
    y_true: np.ndarray,
    probabilities: np.ndarray,
    similarity: np.ndarray,
    rule: str = "argmax",
    ece_bins: int = 15,
) -> dict[str, float | list[list[int]]]:
    """All metrics of one set of predictions under one decision rule.

    Args:
        y_true: Integer class ids, shape ``(n,)``.
        probabilities: Predicted class probabilities, shape ``(n, K)``.
        similarity: ``(K, K)`` similarity matrix for the cost-based metrics.
        rule: Decision rule (``argmax`` or ``min_expected_cost``).
        ece_bins: Confidence bins of the ECE.

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
        "cross_entropy": _cross_entropy(y_true, probabilities, labels),
        "mistake_severity": mistake_severity(y_true, y_pred, similarity),
        "semantic_cost": semantic_cost(y_true, y_pred, similarity),
        "ece": expected_calibration_error(y_true, probabilities, ece_bins),
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
    }


class _ConfusionMetric(keras.metrics.Metric):
    """Streaming metric on a confusion matrix accumulated over batches (argmax)."""

    def __init__(
        self, num_classes: int, name: str, dtype: str | None = None, **kwargs
    ) -> None:
        super().__init__(name=name, dtype=dtype or "float32", **kwargs)
        self.num_classes = int(num_classes)
        self.counts = self.add_variable(
            shape=(self.num_classes, self.num_classes),
            initializer="zeros",
            dtype="float32",
            name="counts",
        )

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        y_pred = ops.convert_to_tensor(y_pred)
        if len(y_true.shape) == len(y_pred.shape) and y_true.shape[-1] != 1:
            y_true = ops.argmax(y_true, axis=-1)  # one-hot
        true = ops.one_hot(
            ops.cast(ops.reshape(y_true, (-1,)), "int32"), self.num_classes
        )
        pred = ops.one_hot(ops.argmax(y_pred, axis=-1), self.num_classes)
        if sample_weight is not None:
            true = true * ops.reshape(ops.cast(sample_weight, "float32"), (-1, 1))
        self.counts.assign_add(ops.matmul(ops.transpose(true), pred))

    def reset_state(self) -> None:
        self.counts.assign(ops.zeros_like(self.counts))

    def get_config(self) -> dict:
        return {**super().get_config(), "num_classes": self.num_classes}


@keras.saving.register_keras_serializable(package="emotion_aware_loss")
class UnweightedAverageRecall(_ConfusionMetric):
    """UAR: per-class recall averaged over the classes seen so far."""

    def __init__(self, num_classes: int, name: str = "uar", **kwargs) -> None:
        super().__init__(num_classes, name=name, **kwargs)

    def result(self):
        support = ops.sum(self.counts, axis=1)
        present = ops.cast(support > 0, "float32")
        recall = ops.diagonal(self.counts) / ops.maximum(support, 1.0)
        return ops.sum(recall * present) / ops.maximum(ops.sum(present), 1.0)


class _CostMetric(_ConfusionMetric):
    def __init__(
        self, similarity, num_classes: int | None = None, name: str = "", **kwargs
    ) -> None:
        matrix = np.asarray(similarity, dtype=np.float32)
        super().__init__(num_classes or matrix.shape[0], name=name, **kwargs)
        self.similarity = matrix.tolist()
        self._cost = ops.convert_to_tensor(cost_matrix(matrix).astype(np.float32))

    def _total_cost(self):
        return ops.sum(self.counts * self._cost)

    def get_config(self) -> dict:
        return {**super().get_config(), "similarity": self.similarity}


@keras.saving.register_keras_serializable(package="emotion_aware_loss")
class SemanticCost(_CostMetric):
    """Mean ``1 - S[true, argmax p]`` over all predictions (see :func:`semantic_cost`)."""

    def __init__(self, similarity, name: str = "semantic_cost", **kwargs) -> None:
        super().__init__(similarity, name=name, **kwargs)

    def result(self):
        return self._total_cost() / ops.maximum(ops.sum(self.counts), 1.0)


@keras.saving.register_keras_serializable(package="emotion_aware_loss")
class MistakeSeverity(_CostMetric):
    """Mean ``1 - S[true, argmax p]`` over wrong predictions (0 before any mistake)."""

    def __init__(self, similarity, name: str = "mistake_severity", **kwargs) -> None:
        super().__init__(similarity, name=name, **kwargs)

    def result(self):
        wrong = ops.sum(self.counts) - ops.sum(ops.diagonal(self.counts))
        return self._total_cost() / ops.maximum(wrong, 1.0)
