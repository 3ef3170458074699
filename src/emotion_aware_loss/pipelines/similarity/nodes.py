"""Nodes of the similarity pipeline: matrices derived from data or models."""

from __future__ import annotations

import logging

import keras
import numpy as np
import pandas as pd
from sklearn.metrics import confusion_matrix

from emotion_aware_loss.config import ValenceArousalConfig
from emotion_aware_loss.folds.cross_validation import TRAIN, VALIDATION, FoldInputs
from emotion_aware_loss.losses.similarity import (
    average_similarities,
    confusion_similarity,
    embedding_similarity,
    valence_arousal_similarity,
)
from emotion_aware_loss.models.ensemble import embedding_model
from emotion_aware_loss.models.inputs import InputSpec
from emotion_aware_loss.training.fitting import predict

logger = logging.getLogger(__name__)


def similarity_from_valence_arousal(
    valence_arousal: ValenceArousalConfig, classes: list[str]
) -> pd.DataFrame:
    """Gaussian-kernel similarity of the classes' (valence, arousal) coordinates."""
    return valence_arousal_similarity(
        valence_arousal.coordinates, classes, valence_arousal.bandwidth
    )


def class_similarity_of_fold(
    model: keras.Model,
    model_input_table: pd.DataFrame,
    acoustic_features: np.ndarray,
    split: pd.DataFrame,
    feature_scaler: dict[str, list[float]],
    vocabulary: list[str],
    input_spec: InputSpec,
    text_features: np.ndarray | None = None,
) -> pd.DataFrame:
    """Cosine similarity of class-mean embeddings on the fold's *training* part.

    The embedding is the last hidden layer's output (the softmax layer's input).
    Only training utterances are used, so no validation or test data leaks into a
    matrix that a second training round may use.
    """
    inputs, labels, _ = FoldInputs(
        utterances=model_input_table,
        acoustic_features=acoustic_features,
        split=split,
        feature_scaler=feature_scaler,
        vocabulary=vocabulary,
        max_tokens=input_spec.max_tokens,
        text_features=text_features,
    ).part(TRAIN)
    encoder = embedding_model(model)
    embeddings = predict(encoder, inputs)
    return embedding_similarity(embeddings, labels, list(input_spec.classes))


def confusion_similarity_of_fold(
    model: keras.Model,
    model_input_table: pd.DataFrame,
    acoustic_features: np.ndarray,
    split: pd.DataFrame,
    feature_scaler: dict[str, list[float]],
    vocabulary: list[str],
    input_spec: InputSpec,
    text_features: np.ndarray | None = None,
    history: dict | None = None,
) -> pd.DataFrame:
    """Similarity from the model's confusions on the fold's *validation* part.

    The validation part is unseen by the weights and holds no test utterance, so a
    second training round of this fold may use the matrix without leakage. The
    pooled out-of-fold matrix (``similarity_confusions``) is for reporting. With
    ``training.refit`` the saved model has also trained on the validation part, so
    the confusions recorded in its ``history`` (``validation_confusion``, those of
    the early-stopped network before the refit) are used instead.
    """
    classes = list(input_spec.classes)
    if history and "validation_confusion" in history:
        counts = np.asarray(history["validation_confusion"], dtype=float)
        return confusion_similarity(counts, classes)
    inputs, labels, _ = FoldInputs(
        utterances=model_input_table,
        acoustic_features=acoustic_features,
        split=split,
        feature_scaler=feature_scaler,
        vocabulary=vocabulary,
        max_tokens=input_spec.max_tokens,
        text_features=text_features,
    ).part(VALIDATION)
    probabilities = predict(model, inputs)
    counts = confusion_matrix(
        labels, probabilities.argmax(axis=1), labels=range(len(classes))
    )
    return confusion_similarity(counts, classes)


def learned_similarity(**fold_similarities: pd.DataFrame) -> pd.DataFrame:
    """Average of the per-fold class-embedding similarities."""
    result = average_similarities(list(fold_similarities.values()))
    logger.info(
        "Learned similarity (mean over %d folds):\n%s",
        len(fold_similarities),
        result.round(3),
    )
    return result


def similarity_from_confusions(
    classes: list[str], **fold_metrics: dict
) -> pd.DataFrame:
    """Similarity from the out-of-fold (argmax) confusions, pooled over folds."""
    counts = sum(
        np.asarray(m["decisions"]["argmax"]["confusion_matrix"])
        for m in fold_metrics.values()
    )
    result = confusion_similarity(counts, classes)
    logger.info("Confusion-derived similarity:\n%s", result.round(3))
    return result
