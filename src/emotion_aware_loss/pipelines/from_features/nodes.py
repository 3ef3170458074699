"""Nodes that turn a precomputed corpus into the model inputs preprocessing writes."""

from __future__ import annotations

import numpy as np
import pandas as pd

from emotion_aware_loss.config import AcousticConfig, LabelConfig, TextConfig
from emotion_aware_loss.datasets.precomputed import PrecomputedCorpus
from emotion_aware_loss.features.encoders import text_record
from emotion_aware_loss.folds.model_inputs import input_spec, prepare_utterances
from emotion_aware_loss.folds.speakers import normalise_speakers


def prepare_precomputed(
    corpus_features: PrecomputedCorpus,
    classes: list[str],
    text: TextConfig,
    labels: LabelConfig,
    acoustic: AcousticConfig,
) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray, pd.DataFrame, dict]:
    """Labels, tokens and the given features of the kept utterances.

    Labels are mapped and dropped as for an audio corpus
    (``preprocessing.labels``); no audio is read. With
    ``acoustic.speaker_normalisation`` the features are normalised per speaker
    as extracted ones are.

    Returns:
        ``utterances``, ``skipped_utterances``, ``acoustic_features``, the
        ``model_input_table`` (with ``n_frames``) and ``speaker_statistics``, as
        preprocessing writes them.
    """
    utterances, skipped = prepare_utterances(corpus_features, classes, text, labels)
    kept = corpus_features.select(utterances["utterance_id"].tolist())
    table = utterances.assign(n_frames=kept.n_frames)
    features, statistics = normalise_speakers(kept.features, table, acoustic)
    return utterances, skipped, features, table, statistics


def describe_precomputed_inputs(
    acoustic_features: np.ndarray,
    model_input_table: pd.DataFrame,
    text_features: np.ndarray,
    corpus_features: PrecomputedCorpus,
    text: TextConfig,
    classes: list[str],
) -> dict[str, object]:
    """Input shapes; utterance-level vectors get ``n_frames`` 0 (no time axis).

    ``acoustic_feature: precomputed`` marks them as not reproducible from audio (the
    ``final_model`` pipeline refuses them). The transcripts may still go through a
    text encoder (``text_features``).
    """
    return input_spec(
        acoustic_features,
        model_input_table,
        text,
        classes,
        vector=corpus_features.vector,
        feature="precomputed",
        text_features=text_features,
        extractors={"speech": None, "text": text_record(text)},
    )
