"""Nodes of the preprocessing pipeline: corpus -> model inputs."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from emotion_aware_loss.config import AcousticConfig, LabelConfig, TextConfig
from emotion_aware_loss.corpora.corpus import AudioCorpus, CorpusError
from emotion_aware_loss.features.encoders import (
    extractor_record,
    text_features_of,
)
from emotion_aware_loss.features.extraction import extract_acoustic_features
from emotion_aware_loss.folds import model_inputs
from emotion_aware_loss.folds.model_inputs import input_spec
from emotion_aware_loss.folds.speakers import normalise_speakers
from emotion_aware_loss.losses.similarity import validate_similarity

logger = logging.getLogger(__name__)


def validate_similarity_matrix(
    emotion_similarity: pd.DataFrame, classes: list[str]
) -> pd.DataFrame:
    """Check the hand-set similarity matrix and order it like ``classes``.

    Args:
        emotion_similarity: Labelled square table from the catalog.
        classes: Configured class order.

    Returns:
        The validated matrix with rows and columns in class order.
    """
    return validate_similarity(
        emotion_similarity, classes, source="emotion_similarity (catalog)"
    )


def prepare_utterances(
    corpus: AudioCorpus, classes: list[str], text: TextConfig, labels: LabelConfig
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The corpus's utterance table and the skipped utterances
    (:func:`emotion_aware_loss.folds.model_inputs.prepare_utterances`)."""
    return model_inputs.prepare_utterances(corpus, classes, text, labels)


def extract_model_features(
    corpus: AudioCorpus, utterances: pd.DataFrame, acoustic: AcousticConfig
) -> tuple[np.ndarray, pd.DataFrame, dict]:
    """:func:`extract_acoustic_features`, then the per-speaker normalisation.

    With ``acoustic.speaker_normalisation`` each speaker's features are
    standardised with that speaker's own statistics (or, for a speaker with fewer
    than ``speaker_min_utterances`` utterances, the corpus's;
    :mod:`emotion_aware_loss.folds.speakers`).

    Returns:
        The features, the model-input table and the statistics used
        (``speaker_statistics``; empty without normalisation).
    """
    features, table = extract_acoustic_features(corpus, utterances, acoustic)
    features, statistics = normalise_speakers(features, table, acoustic)
    return features, table, statistics


def encode_transcripts(utterances: pd.DataFrame, text: TextConfig) -> np.ndarray:
    """Embeddings of the transcripts by a frozen, pre-trained ONNX text encoder.

    Args:
        utterances: Output of ``prepare_utterances`` (its raw ``transcript``
            column is encoded: the encoder's own tokenizer handles case and
            punctuation).
        text: Text parameters; ``text.encoder.path`` names the encoder.

    Returns:
        ``(n, dim)`` pooled or ``(n, max_length, dim)`` token embeddings, float32,
        in the order of ``utterances``; without a text encoder ``(n, 0)`` (the
        model then trains its own embeddings of token ids).

    Raises:
        CorpusError: If an embedding holds NaN or inf (naming the utterance).
    """
    features = text_features_of(utterances["transcript"].astype(str).tolist(), text)
    if features.size:
        bad = np.flatnonzero(~np.isfinite(features.reshape(len(features), -1)).all(1))
        if len(bad):
            ids = utterances["utterance_id"].iloc[bad[:5]].tolist()
            raise CorpusError(
                f"the text encoder {text.encoder.path} gave NaN or inf embeddings "
                f"for {len(bad)} utterance(s) (first: {ids})"
            )
        logger.info(
            "Encoded %d transcript(s) with %s: %s per utterance",
            len(features),
            text.encoder.path,
            features.shape[1:],
        )
    return features


def describe_model_inputs(
    acoustic_features: np.ndarray,
    model_input_table: pd.DataFrame,
    text_features: np.ndarray,
    acoustic: AcousticConfig,
    text: TextConfig,
    classes: list[str],
) -> dict[str, object]:
    """Shapes the model is built for, and what made its inputs.

    Returns:
        ``speech`` (whether there is audio: false for a text-only corpus),
        ``n_frames`` (0 for utterance-level vectors, which have no time axis),
        ``n_features``, ``acoustic_feature`` (its kind), ``max_tokens``,
        ``vocab_size`` (the largest vocabulary the corpus can give, at most
        ``max_vocab_size``, plus the padding and out-of-vocabulary ids),
        ``classes``, the text input (``text_input``: ``tokens`` or
        ``embeddings``, with ``text_features`` values per token or utterance and
        ``text_frames``, 0 for pooled embeddings) and ``extractors`` (feature
        library and version, encoder files with their SHA-256).
    """
    # A text-only corpus (no audio read) records no speech extractor.
    has_audio = bool(model_input_table["n_frames"].gt(0).any())
    extractors = extractor_record(acoustic, text, speech=has_audio)
    return input_spec(
        acoustic_features,
        model_input_table,
        text,
        classes,
        vector=acoustic.utterance_level,
        feature=acoustic.feature,
        text_features=text_features,
        extractors=extractors,
    )
