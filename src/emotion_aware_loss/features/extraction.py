"""A corpus's acoustic features, one utterance at a time, written to disk as they
arrive: the one place features are made, for the preprocessing pipeline and for
inference on new audio."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from functools import partial

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from emotion_aware_loss.config import AcousticConfig
from emotion_aware_loss.config.feature_sets import feature_set
from emotion_aware_loss.corpora.corpus import AudioCorpus, CorpusError
from emotion_aware_loss.features.acoustic import (
    feature_dimension,
    padded_rows,
)
from emotion_aware_loss.features.store import NpyWriter
from emotion_aware_loss.progress import track

logger = logging.getLogger(__name__)


def extract_acoustic_features(
    corpus: AudioCorpus, utterances: pd.DataFrame, acoustic: AcousticConfig
) -> tuple[np.ndarray, pd.DataFrame]:
    """Acoustic features of every utterance: frames padded or cut, or one vector.

    Audio is read one utterance at a time through the corpus dataset. The kind
    (``acoustic.feature``): librosa log-mel/MFCC frames, the project's functionals
    (68 values) or broad functionals (:mod:`emotion_aware_loss.features.descriptors`), openSMILE
    eGeMAPS/ComParE functionals or eGeMAPS low-level descriptors, or a frozen ONNX
    speech encoder's hidden states (pooled or frames).

    Args:
        corpus: The loaded corpus; only the utterances in ``utterances`` are read.
        utterances: Output of ``prepare_utterances``.
        acoustic: Feature parameters.

    Returns:
        ``(n, max_frames, n_features)`` float32 features (``(n, 1, n_features)``
        for utterance vectors), and ``utterances`` with ``n_frames`` (valid
        frames per utterance) added: the model-input table.

    Raises:
        MissingExtraError: If the feature needs an extra that is not installed.
        EncoderError: If the configured encoder file is missing or unusable.
    """
    n_features = feature_dimension(acoustic)
    corpus = corpus.select(utterances["utterance_id"].tolist())
    if not corpus.has_audio:
        logger.warning(
            "%s has no audio column: text-only corpus, no acoustic features "
            "(the model needs model.modalities: [text])",
            corpus.source,
        )
        empty = np.zeros((len(utterances), 1, n_features), dtype=np.float32)
        return empty, utterances.assign(n_frames=0)
    sequences = track(  # utterances per second in the run's progress display
        corpus.map_audio(
            partial(_extractor(acoustic.feature), config=acoustic),
            acoustic.sample_rate,
            trim_top_db=acoustic.trim_top_db,
            n_jobs=acoustic.n_jobs,
            batch_size=acoustic.batch_size,
            prefer=_workers(acoustic),
        ),
        len(corpus),
        "utt",
    )
    # Each utterance's mel filterbank is one small matrix product, which threaded
    # BLAS only slows down (ten times, measured, on a busy two-core machine); one
    # thread computes the same values. Rows go to disk as they arrive.
    with threadpool_limits(1, user_api="blas"):
        if acoustic.utterance_level:
            # One vector per utterance, stored as a single "frame" so the per-fold
            # scaler treats both kinds alike; the model gets it without a time axis.
            features, lengths = _write_padded(sequences, corpus, 1, n_features, "head")
            return features, utterances.assign(n_frames=lengths)
        features, lengths = _write_padded(
            sequences, corpus, acoustic.max_frames, n_features, acoustic.crop
        )
    truncated = int((lengths >= acoustic.max_frames).sum())
    if truncated:
        logger.warning(
            "%d of %d utterances are longer than max_frames=%d and were truncated",
            truncated,
            len(lengths),
            acoustic.max_frames,
        )
    return features, utterances.assign(n_frames=lengths)


def _write_padded(
    sequences: Iterable[np.ndarray],
    corpus: AudioCorpus,
    max_frames: int,
    n_features: int,
    crop: str,
) -> tuple[np.ndarray, np.ndarray]:
    """Pad each utterance's frames and write them to disk as they arrive.

    The rows go to a temporary ``.npy`` file (:class:`NpyWriter`), so the feature
    array of the corpus is never held in memory; the catalog's ``NumpyDataset``
    copies the file when saving it.

    Returns:
        The features (memory-mapped) and the valid frames of each utterance.

    Raises:
        CorpusError: If features hold NaN or inf (e.g. from float audio holding
            NaN), naming the first utterances.
    """
    n = len(corpus)
    lengths = np.zeros(n, dtype=np.int32)
    bad = []
    with NpyWriter((n, max_frames, n_features)) as writer:
        rows = padded_rows(sequences, max_frames, n_features, crop)
        for i, (row, length) in enumerate(rows):
            writer.append(row[None])
            lengths[i] = length
            if not np.isfinite(row).all():
                bad.append(i)
        if bad:
            ids = corpus.manifest["utterance_id"].iloc[bad[:5]].tolist()
            raise CorpusError(
                f"{corpus.source}: acoustic features of {len(bad)} utterance(s) hold "
                f"NaN or inf (first: {ids}); check their audio for NaN/inf samples"
            )
        return writer.finish(), lengths


def _workers(acoustic: AcousticConfig) -> str:
    """``acoustic.workers``, except processes for a feature set whose extractor is
    not shared between threads (openSMILE's, one per process)."""
    return "processes" if feature_set(acoustic.feature).processes else acoustic.workers


def _extractor(feature: str):
    """The per-waveform function of a feature set: ``(frames, features)`` out."""
    return feature_set(feature).extractor()
