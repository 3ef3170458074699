"""Per-speaker normalisation of acoustic features (``speaker_normalisation``).

Voices differ more between speakers than one speaker's emotions differ from each
other: standardising each speaker's features with that speaker's own mean and
standard deviation removes much of the speaker and leaves the emotion (the
"speaker normalisation" of the field's toolkits; in benchmarks/RESULTS.md it is
worth 5–10 UAR points on acted speech, for the network and the linear baseline
alike).

It uses the utterances of each speaker, without their labels, including those of
speakers in a fold's test part: the evaluation then measures a system that sees
several utterances of a new speaker before deciding, as an enrolment step would.
The rule, in training and at prediction time alike:

* a speaker with at least ``speaker_min_utterances`` utterances (in the corpus,
  or in one ``predict`` call) is standardised with the mean and standard
  deviation of its own utterances (over their valid frames);
* any other utterance, or one without a speaker, with the statistics of the
  whole training corpus (``corpus``), which are saved with the final model.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from emotion_aware_loss.config import AcousticConfig
from emotion_aware_loss.features.store import NpyWriter, RowReader
from emotion_aware_loss.folds.cross_validation import CHUNK_ROWS, frame_mean_std

logger = logging.getLogger(__name__)


def _safe(std: np.ndarray) -> np.ndarray:
    # A feature constant within a speaker is centred, not divided by zero.
    return np.where(std > 1e-8, std, 1.0)


def _moments(
    features: np.ndarray, n_frames: np.ndarray, rows: np.ndarray
) -> dict[str, list[float]]:
    mean, std, _ = frame_mean_std(features, n_frames, rows)
    return {
        "mean": mean.astype(float).tolist(),
        "std": _safe(std).astype(float).tolist(),
    }


def speaker_statistics(
    features: np.ndarray,
    n_frames: np.ndarray,
    speakers: pd.Series,
    min_utterances: int,
    corpus: dict[str, list[float]] | None = None,
) -> dict[str, Any]:
    """The statistics :func:`normalise_by_speaker` standardises with.

    Args:
        features: ``(n, frames, features)`` acoustic features (may be mapped).
        n_frames: Valid frames of each utterance.
        speakers: Each utterance's speaker (empty or missing: none).
        min_utterances: Utterances a speaker needs for statistics of its own.
        corpus: The fallback statistics; None: those of all of ``features``
            (training), given: the training corpus's (prediction).

    Returns:
        ``min_utterances``, ``corpus`` (mean and std per feature) and ``speakers``
        (speaker -> utterances, mean and std), JSON-ready.
    """
    names = speakers.fillna("").astype(str).to_numpy()
    counts = pd.Series(names[names != ""]).value_counts()
    own = sorted(str(s) for s in counts[counts >= min_utterances].index)
    everything = np.arange(len(names))
    return {
        "min_utterances": int(min_utterances),
        "corpus": corpus or _moments(features, n_frames, everything),
        "speakers": {
            speaker: {
                "utterances": int(counts[speaker]),
                **_moments(features, n_frames, np.flatnonzero(names == speaker)),
            }
            for speaker in own
        },
    }


def normalise_by_speaker(
    features: np.ndarray,
    n_frames: np.ndarray,
    speakers: pd.Series,
    statistics: dict[str, Any],
) -> np.ndarray:
    """Each utterance standardised with its speaker's statistics (or the corpus's).

    Padded frames stay zero. The result is written to a temporary ``.npy`` file a
    chunk of utterances at a time and returned memory-mapped, so the features are
    never held whole.

    Returns:
        ``(n, frames, features)`` float32 features, as ``features``.
    """
    names = speakers.fillna("").astype(str).to_numpy()
    corpus = statistics["corpus"]
    table = {
        speaker: (np.asarray(s["mean"], np.float32), np.asarray(s["std"], np.float32))
        for speaker, s in statistics["speakers"].items()
    }
    fallback = (
        np.asarray(corpus["mean"], np.float32),
        np.asarray(corpus["std"], np.float32),
    )
    reader = RowReader(features)
    positions = np.arange(features.shape[1])[None, :, None]
    with NpyWriter(features.shape) as writer:
        for start in range(0, len(names), CHUNK_ROWS):
            rows = np.arange(start, min(start + CHUNK_ROWS, len(names)))
            chunk = reader(rows)
            mean = np.stack([table.get(names[r], fallback)[0] for r in rows])
            std = np.stack([table.get(names[r], fallback)[1] for r in rows])
            scaled = (chunk - mean[:, None, :]) / std[:, None, :]
            valid = positions < n_frames[rows][:, None, None]
            writer.append(np.where(valid, scaled, 0.0).astype(np.float32))
        return writer.finish()


def log_fallbacks(speakers: pd.Series, statistics: dict[str, Any], where: str) -> None:
    """Say how many utterances were standardised with the corpus statistics."""
    names = speakers.fillna("").astype(str)
    fallback = ~names.isin(list(statistics["speakers"]))
    if fallback.any():
        logger.warning(
            "%s: %d of %d utterance(s) (speakers %s) have fewer than %d utterances of "
            "their speaker and were normalised with the training corpus's statistics",
            where,
            int(fallback.sum()),
            len(names),
            sorted(set(names[fallback]))[:5],
            statistics["min_utterances"],
        )


def normalise_speakers(
    features: np.ndarray,
    table: pd.DataFrame,
    acoustic: AcousticConfig,
    corpus_statistics: dict[str, list[float]] | None = None,
) -> tuple[np.ndarray, dict]:
    """The per-speaker normalisation of ``features`` if configured (else as given).

    Args:
        features: Acoustic features of the utterances of ``table``.
        table: The model-input table (``speaker``, ``n_frames``).
        acoustic: ``speaker_normalisation`` and ``speaker_min_utterances``.
        corpus_statistics: The fallback statistics (a training corpus's, at
            prediction time); None: those of ``features``.

    Returns:
        The (normalised) features and the statistics used (empty when off).
    """
    if not acoustic.speaker_normalisation or not table["n_frames"].any():
        return features, {}
    n_frames = table["n_frames"].to_numpy(dtype=np.int64)
    statistics = speaker_statistics(
        features,
        n_frames,
        table["speaker"],
        acoustic.speaker_min_utterances,
        corpus_statistics,
    )
    logger.info(
        "Normalising %d speaker(s) with their own statistics",
        len(statistics["speakers"]),
    )
    log_fallbacks(table["speaker"], statistics, "speaker normalisation")
    with threadpool_limits(1, user_api="blas"):
        normalised = normalise_by_speaker(
            features, n_frames, table["speaker"], statistics
        )
    return normalised, statistics
