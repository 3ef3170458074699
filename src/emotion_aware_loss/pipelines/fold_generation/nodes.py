"""Nodes of the fold-generation pipeline."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from emotion_aware_loss.config import CrossValidationConfig, ModelConfig, TextConfig
from emotion_aware_loss.datasets.word_vectors import WordVectors, embedding_matrix
from emotion_aware_loss.folds.cross_validation import assign_folds, fit_fold_transforms
from emotion_aware_loss.models.inputs import InputSpec

logger = logging.getLogger(__name__)


def generate_folds(
    model_input_table: pd.DataFrame, cross_validation: CrossValidationConfig, seed: int
) -> dict[str, pd.DataFrame]:
    """Write the fold-assignment table and one split table per fold.

    Args:
        model_input_table: One row per utterance with ``label`` and ``speaker``.
        cross_validation: Number of folds and repeats, speaker independence,
            validation share.
        seed: The run seed.

    Returns:
        ``fold_assignments`` (all folds, long format) and ``fold_<k>`` (the rows of
        fold ``k``: ``utterance_id, fold, split``).
    """
    table = assign_folds(
        model_input_table,
        n_folds=cross_validation.n_folds,
        seed=seed,
        speaker_independent=cross_validation.speaker_independent,
        validation_fraction=cross_validation.validation_fraction,
        n_repeats=cross_validation.n_repeats,
    )
    sizes = table.groupby(["fold", "split"]).size().unstack(fill_value=0)
    logger.info("Fold sizes:\n%s", sizes.to_string())
    folds = {
        f"fold_{k}": part.reset_index(drop=True) for k, part in table.groupby("fold")
    }
    return {"fold_assignments": table, **folds}


def fit_fold_preprocessing(
    model_input_table: pd.DataFrame,
    acoustic_features: np.ndarray,
    split: pd.DataFrame,
    text: TextConfig,
) -> tuple[dict[str, list[float]], list[str]]:
    """Fit the feature standardisation and the vocabulary on the training part.

    Validation and test utterances never influence either, so no statistic of
    held-out data leaks into training.

    Returns:
        The feature scaler (``mean``, ``std`` per feature) and the vocabulary.
    """
    scaler, vocabulary = fit_fold_transforms(
        model_input_table,
        acoustic_features,
        split,
        max_vocab_size=text.max_vocab_size,
        min_count=text.min_count,
    )
    logger.info("Fold vocabulary: %d tokens", len(vocabulary))
    return scaler, vocabulary


def embedding_matrix_of_fold(
    vocabulary: list[str],
    word_vectors: WordVectors,
    input_spec: InputSpec,
    model: ModelConfig,
    seed: int,
) -> np.ndarray:
    """Initial text embeddings of the fold's vocabulary from pre-trained vectors
    (:func:`~emotion_aware_loss.datasets.word_vectors.embedding_matrix`); empty
    without a vector file."""
    return embedding_matrix(
        word_vectors, vocabulary, input_spec, model.text.embedding_dim, seed
    )
