"""Nodes of the evaluation pipeline."""

from __future__ import annotations

import keras
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from emotion_aware_loss.config import EvaluationConfig, LossConfig
from emotion_aware_loss.cross_validation import TEST, split_inputs
from emotion_aware_loss.fitting import select_inputs
from emotion_aware_loss.metrics import DECISION_RULES, classification_metrics, decide
from emotion_aware_loss.reporting import (
    confusion_figure,
    fold_table,
    markdown_report,
    summary_table,
)

FIGURE_NAME = "confusion_matrices.png"


def evaluate_model(
    model: keras.Model,
    model_input_table: pd.DataFrame,
    acoustic_features: np.ndarray,
    split: pd.DataFrame,
    feature_scaler: dict[str, list[float]],
    vocabulary: list[str],
    similarity_matrix: pd.DataFrame,
    input_spec: dict,
) -> tuple[dict, pd.DataFrame]:
    """Score a trained model on its fold's test part.

    Returns:
        The fold's metrics under each decision rule (``decisions.argmax`` and
        ``decisions.min_expected_cost``: accuracy, UAR, F1, cross-entropy, mistake
        severity, semantic cost, ECE, confusion matrix), and its test predictions
        (``utterance_id, fold, label, predicted_<rule>..., prob_<class>...``).
    """
    classes = list(input_spec["classes"])
    inputs, labels, rows = split_inputs(
        model_input_table,
        acoustic_features,
        split,
        TEST,
        feature_scaler,
        vocabulary,
        int(input_spec["max_tokens"]),
    )
    probabilities = model.predict(select_inputs(model, inputs), verbose=0)
    fold = int(split["fold"].iloc[0])
    similarity = similarity_matrix.to_numpy()
    metrics = {
        "fold": fold,
        "n_test": len(rows),
        "classes": classes,
        "decisions": {
            rule: classification_metrics(labels, probabilities, similarity, rule)
            for rule in DECISION_RULES
        },
    }
    predictions = pd.DataFrame(
        {
            "utterance_id": model_input_table["utterance_id"].iloc[rows].to_numpy(),
            "fold": fold,
            "label": [classes[i] for i in labels],
        }
    )
    for rule in DECISION_RULES:
        predictions[f"predicted_{rule}"] = [
            classes[i] for i in decide(probabilities, similarity, rule)
        ]
    for j, name in enumerate(classes):
        predictions[f"prob_{name}"] = probabilities[:, j]
    return metrics, predictions


def summarise_cross_validation(
    classes: list[str],
    evaluation: EvaluationConfig,
    loss_variants: dict,
    **fold_metrics: dict,
) -> tuple[pd.DataFrame, dict, str, Figure]:
    """Aggregate per-fold metrics into the comparison report.

    Args:
        classes: Configured class order.
        evaluation: Report options.
        loss_variants: The ``loss_variants`` parameter block (described in the report).
        **fold_metrics: Metrics of each fold, keyed ``<variant>__fold_<k>``.

    Returns:
        Per-fold table, summary (mean ± std per variant and decision rule,
        JSON-ready), Markdown report and the pooled confusion-matrix figure.
    """
    records = []
    for key, metrics in fold_metrics.items():
        variant, _, _ = key.rpartition("__fold_")
        records.append(metrics | {"variant": variant})
    folds = fold_table(records)
    summary = summary_table(folds)
    descriptions = {
        name: LossConfig.model_validate(config).describe()
        for name, config in loss_variants.items()
    }
    report = markdown_report(
        folds, summary, classes, evaluation.decimals, FIGURE_NAME, descriptions
    )
    variants: dict[str, dict] = {}
    for _, row in summary.iterrows():
        variants.setdefault(row["variant"], {})[row["decision"]] = {
            k: (None if pd.isna(v) else float(v))
            for k, v in row.items()
            if k not in {"variant", "decision"}
        }
    summary_json = {"classes": classes, "variants": variants, "losses": descriptions}
    return folds, summary_json, report, confusion_figure(records, classes)
