"""Nodes of the preprocessing pipeline: corpus -> model inputs."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from emotion_aware_loss.config import AcousticConfig, TextConfig
from emotion_aware_loss.datasets import AudioCorpus, CorpusError
from emotion_aware_loss.features import feature_dimension, frame_features, pad_sequences
from emotion_aware_loss.similarity import validate_similarity
from emotion_aware_loss.text import RESERVED, normalise_text

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
    corpus: AudioCorpus, classes: list[str], text: TextConfig
) -> pd.DataFrame:
    """Attach integer labels and normalised tokens to the corpus table.

    Args:
        corpus: The loaded corpus.
        classes: Configured class order; label ids follow it.
        text: Text normalisation parameters.

    Returns:
        ``utterance_id, speaker, label, label_id, transcript, tokens``.

    Raises:
        CorpusError: If an utterance's label is not one of ``classes``.
    """
    table = corpus.manifest
    unknown = ~table["label"].isin(classes)
    if unknown.any():
        first = table.loc[unknown].iloc[0]
        raise CorpusError(
            f"{corpus.source}: utterance {first['utterance_id']!r} has label "
            f"{first['label']!r}, not one of the configured classes {classes} "
            f"({int(unknown.sum())} such utterance(s))"
        )
    index = {name: i for i, name in enumerate(classes)}
    tokens = [normalise_text(t, text.lowercase) for t in table["transcript"]]
    out = pd.DataFrame(
        {
            "utterance_id": table["utterance_id"].astype(str),
            "speaker": table["speaker"].astype(str),
            "label": table["label"].astype(str),
            "label_id": table["label"].map(index).astype("int64"),
            "transcript": table["transcript"].astype(str),
            "tokens": tokens,
        }
    )
    counts = out["label"].value_counts().reindex(classes, fill_value=0)
    logger.info("Class counts: %s", counts.to_dict())
    return out


def extract_acoustic_features(
    corpus: AudioCorpus, utterances: pd.DataFrame, acoustic: AcousticConfig
) -> tuple[np.ndarray, pd.DataFrame]:
    """Frame-level features of every utterance, padded or truncated in time.

    Audio is read one utterance at a time through the corpus dataset.

    Args:
        corpus: The loaded corpus (same order as ``utterances``).
        utterances: Output of ``prepare_utterances``.
        acoustic: Feature parameters.

    Returns:
        ``(n, max_frames, n_features)`` float32 features, and ``utterances`` with
        ``n_frames`` (valid frames per utterance) added: the model-input table.
    """
    n_features = feature_dimension(acoustic)
    sequences = (
        frame_features(wave, acoustic)
        for wave in corpus.iter_audio(acoustic.sample_rate)
    )
    features, lengths = pad_sequences(sequences, acoustic.max_frames, n_features)
    truncated = int((lengths >= acoustic.max_frames).sum())
    if truncated:
        logger.warning(
            "%d of %d utterances are longer than max_frames=%d and were truncated",
            truncated,
            len(lengths),
            acoustic.max_frames,
        )
    return features, utterances.assign(n_frames=lengths)


def describe_model_inputs(
    acoustic_features: np.ndarray, text: TextConfig, classes: list[str]
) -> dict[str, object]:
    """Shapes the model is built for.

    Returns:
        ``n_frames``, ``n_features``, ``max_tokens``, ``vocab_size`` (vocabulary
        plus the padding and out-of-vocabulary ids) and ``classes``.
    """
    _, n_frames, n_features = acoustic_features.shape
    return {
        "n_frames": int(n_frames),
        "n_features": int(n_features),
        "max_tokens": text.max_tokens,
        "vocab_size": text.max_vocab_size + RESERVED,
        "classes": list(classes),
    }
