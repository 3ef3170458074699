"""Nodes of the fold-generation pipeline."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from emotion_aware_loss.config import CrossValidationConfig, ModelConfig, TextConfig
from emotion_aware_loss.cross_validation import assign_folds, fit_fold_transforms
from emotion_aware_loss.datasets.word_vectors import WordVectors, WordVectorsError
from emotion_aware_loss.text import RESERVED

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
    input_spec: dict,
    model: ModelConfig,
    seed: int,
) -> np.ndarray:
    """Initial text embeddings of the fold's vocabulary from pre-trained vectors.

    Row ``i`` belongs to token id ``i`` (0 padding and 1 out-of-vocabulary stay
    zero); a vocabulary word missing from the file gets a random vector with the
    found vectors' scale. Without a vector file the result is empty and the model
    keeps its random, trainable embeddings.

    Raises:
        WordVectorsError: If the file's dimension differs from
            ``model.text.embedding_dim``.
    """
    if not word_vectors.available:
        return np.zeros((0, 0), dtype=np.float32)
    if input_spec.get("text_input") == "embeddings":
        raise WordVectorsError(
            f"word_vectors ({word_vectors.path}) initialise trainable token "
            "embeddings, but the text input is a text encoder's embeddings "
            "(preprocessing.text.encoder.path); set one of the two to null"
        )
    dim, found = word_vectors.lookup(vocabulary)
    if dim != model.text.embedding_dim:
        raise WordVectorsError(
            f"{word_vectors.path} has {dim}-dimensional vectors but "
            f"model.text.embedding_dim is {model.text.embedding_dim}; set it to {dim}"
        )
    matrix = np.zeros((int(input_spec["vocab_size"]), dim), dtype=np.float32)
    scale = float(np.std(list(found.values()))) if found else 0.1
    rng = np.random.default_rng(seed)
    for i, word in enumerate(vocabulary):
        vector = found.get(word)
        matrix[i + RESERVED] = (
            vector if vector is not None else rng.normal(0.0, scale, dim)
        )
    logger.info(
        "Pre-trained vectors cover %d of %d vocabulary words (%.1f%%)",
        len(found),
        len(vocabulary),
        100.0 * len(found) / max(len(vocabulary), 1),
    )
    return matrix
