"""A fold's test part scored for any model (a network, a linear model, an
ensemble): calibrated, decided on by every rule, measured, tabled."""

from __future__ import annotations

import numpy as np
import pandas as pd

from emotion_aware_loss.config import EvaluationConfig
from emotion_aware_loss.losses.metrics import (
    DECISION_RULES,
    classification_metrics,
    predicted_labels,
)
from emotion_aware_loss.models.calibration import TemperatureFit, apply_temperature

# Prefix of the prediction table's columns of probabilities before calibration.
UNCALIBRATED = "uncalibrated_"


def temperature_fit(evaluation: EvaluationConfig) -> TemperatureFit | None:
    """How the run fits its temperatures (``evaluation.calibration_objective``,
    ``evaluation.temperature_prior``), or None without calibration."""
    if evaluation.calibration == "none":
        return None
    return TemperatureFit(
        evaluation.calibration_objective, evaluation.temperature_prior
    )


def model_temperature(history: dict, evaluation: EvaluationConfig) -> float:
    """The temperature a network's probabilities are scored at: fitted
    (:func:`temperature_fit`) on its early-stopped predictions on the validation
    part, which its history keeps; 1 without calibration or validation."""
    fit = temperature_fit(evaluation)
    if fit is None or "validation_probabilities" not in history:
        return 1.0
    return fit(
        np.asarray(history["validation_probabilities"]),
        np.asarray(history["validation_labels"]),
    )


def score_test_predictions(
    probabilities: np.ndarray,
    labels: np.ndarray,
    rows: np.ndarray,
    model_input_table: pd.DataFrame,
    split: pd.DataFrame,
    similarity_matrix: pd.DataFrame,
    classes: list[str],
    ece_bins: int,
    temperature: float = 1.0,
    uncalibrated: np.ndarray | None = None,
) -> tuple[dict, pd.DataFrame]:
    """Metrics and prediction table of a fold's test part, for any model.

    The probabilities are calibrated first (:func:`apply_temperature`); the
    metrics, the decision rules and the prediction table use the calibrated ones,
    and ``calibration`` keeps the temperature and the ECE and cross-entropy of the
    probabilities as the model gave them.

    Args:
        probabilities: ``(n_test, n_classes)`` predicted class probabilities.
        labels: True label ids of the test rows.
        rows: Row positions of the test utterances in ``model_input_table``.
        model_input_table: The model-input table (utterance ids).
        split: The fold's split table (``fold``, optionally ``repeat``).
        similarity_matrix: Hand-set matrix behind the cost metrics and rule.
        classes: Class order of ``probabilities``' columns.
        ece_bins: Confidence bins of the ECE (``evaluation.ece_bins``).
        temperature: The model's calibration temperature (1: none).
        uncalibrated: The probabilities without any calibration, when they are
            not ``probabilities`` (a mean of calibrated models).

    Returns:
        The metrics and predictions described in
        :func:`emotion_aware_loss.pipelines.evaluation.nodes.evaluate_model`.
    """
    fold = int(split["fold"].iloc[0])
    repeat = int(split["repeat"].iloc[0]) if "repeat" in split else 0
    similarity = similarity_matrix.to_numpy()
    given = probabilities if uncalibrated is None else uncalibrated
    before = classification_metrics(labels, given, similarity, "argmax", ece_bins)
    probabilities = apply_temperature(probabilities, temperature)
    metrics = {
        "fold": fold,
        "repeat": repeat,
        "n_test": len(rows),
        "classes": classes,
        "calibration": {
            "temperature": float(temperature),
            "ece_uncalibrated": before["ece"],
            "cross_entropy_uncalibrated": before["cross_entropy"],
        },
        "decisions": {
            rule: classification_metrics(
                labels, probabilities, similarity, rule, ece_bins
            )
            for rule in DECISION_RULES
        },
    }
    predictions = pd.DataFrame(
        {
            "utterance_id": model_input_table["utterance_id"].iloc[rows].to_numpy(),
            "fold": fold,
            "repeat": repeat,
            "label": [classes[i] for i in labels],
        }
    )
    for column, names in predicted_labels(probabilities, similarity, classes).items():
        predictions[column] = names
    for j, name in enumerate(classes):
        predictions[f"prob_{name}"] = probabilities[:, j]
    predictions["temperature"] = float(temperature)
    for j, name in enumerate(classes):
        predictions[f"{UNCALIBRATED}{name}"] = given[:, j]
    return metrics, predictions
