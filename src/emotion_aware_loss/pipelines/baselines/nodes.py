"""Nodes of the baselines pipeline (one instance per fold)."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from emotion_aware_loss.baselines import (
    FUSION,
    SPEECH,
    TEXT,
    FoldData,
    acoustic_statistics,
    baseline_names,
    speech_baseline,
    text_baseline,
)
from emotion_aware_loss.config import (
    BaselinesConfig,
    CrossValidationConfig,
    EvaluationConfig,
    ModelConfig,
)
from emotion_aware_loss.cross_validation import (
    CHUNK_ROWS,
    TEST,
    TRAIN,
    VALIDATION,
    rows_of,
)
from emotion_aware_loss.feature_store import iter_row_chunks
from emotion_aware_loss.pipelines.evaluation.nodes import score_test_predictions

logger = logging.getLogger(__name__)


def _statistics(
    features: np.ndarray, n_frames: np.ndarray, rows: np.ndarray
) -> np.ndarray:
    """Utterance statistics of ``rows``, read a chunk of utterances at a time."""
    chunks = [
        acoustic_statistics(chunk, n_frames[rows[start : start + CHUNK_ROWS]])
        for start, chunk in zip(
            range(0, len(rows), CHUNK_ROWS),
            iter_row_chunks(features, rows, CHUNK_ROWS),
            strict=True,
        )
    ]
    width = features.shape[2] * (1 if features.shape[1] == 1 else 2)
    return np.concatenate(chunks) if chunks else np.empty((0, width))


def fit_linear_baselines(
    model_input_table: pd.DataFrame,
    acoustic_features: np.ndarray,
    split: pd.DataFrame,
    similarity_matrix: pd.DataFrame,
    input_spec: dict,
    baselines: BaselinesConfig,
    model: ModelConfig,
    evaluation: EvaluationConfig,
    cross_validation: CrossValidationConfig,
    seed: int,
) -> dict[str, object]:
    """Fit and score the linear references of one fold.

    Each is fitted on the fold's training and validation parts with ``C`` chosen
    by inner folds of them (grouped by speaker when the folds are
    speaker-independent), or on the training part with ``C`` chosen on the
    validation part (``baselines.selection``), and scored on its test part
    exactly like a network (both decision rules, the same metrics and prediction
    table).

    Returns:
        ``<baseline>_metrics`` and ``<baseline>_predictions`` for every baseline of
        ``model.modalities`` (``linear_speech``, ``linear_text``, ``linear_fusion``).
    """
    classes = list(input_spec["classes"])
    n_classes = len(classes)
    roles = [
        rows_of(model_input_table, split, role) for role in (TRAIN, VALIDATION, TEST)
    ]
    label_ids = model_input_table["label_id"].to_numpy(dtype=np.int64)
    labels = FoldData(*(label_ids[rows] for rows in roles))
    speakers = None
    if cross_validation.speaker_independent:
        speaker_ids = model_input_table["speaker"].astype(str).to_numpy()
        speakers = FoldData(*(speaker_ids[rows] for rows in roles))
    probabilities: dict[str, np.ndarray] = {}
    names = baseline_names(model.modalities)
    if SPEECH in names:
        n_frames = model_input_table["n_frames"].to_numpy(dtype=np.int64)
        statistics = FoldData(
            *(_statistics(acoustic_features, n_frames, rows) for rows in roles)
        )
        probabilities[SPEECH] = speech_baseline(
            statistics, labels, baselines, n_classes, seed, speakers
        )
    if TEXT in names:
        tokens = model_input_table["tokens"].astype(str).to_numpy()
        texts = FoldData(*(tokens[rows] for rows in roles))
        probabilities[TEXT] = text_baseline(
            texts, labels, baselines, n_classes, seed, speakers
        )
    if FUSION in names:
        probabilities[FUSION] = (probabilities[SPEECH] + probabilities[TEXT]) / 2.0
    outputs: dict[str, object] = {}
    for name in names:
        metrics, predictions = score_test_predictions(
            probabilities[name],
            labels.test,
            roles[2],
            model_input_table,
            split,
            similarity_matrix,
            classes,
            evaluation.ece_bins,
        )
        outputs[f"{name}_metrics"] = metrics
        outputs[f"{name}_predictions"] = predictions
        logger.info(
            "%s, fold %d: accuracy %.4f, UAR %.4f",
            name,
            metrics["fold"],
            metrics["decisions"]["argmax"]["accuracy"],
            metrics["decisions"]["argmax"]["uar"],
        )
    return outputs
