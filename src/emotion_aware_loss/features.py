"""Frame-level acoustic features with librosa."""

from __future__ import annotations

from collections.abc import Iterable

import librosa
import numpy as np

from emotion_aware_loss.config import AcousticConfig

_MIN_DELTA_FRAMES = 3


def frame_features(waveform: np.ndarray, config: AcousticConfig) -> np.ndarray:
    """Log-mel or MFCC (optionally with delta and delta-delta) frames.

    Args:
        waveform: Mono float waveform at ``config.sample_rate``.
        config: Acoustic feature parameters.

    Returns:
        ``(frames, features)`` float32 array.
    """
    mel = librosa.feature.melspectrogram(
        y=np.asarray(waveform, dtype=np.float32),
        sr=config.sample_rate,
        n_fft=config.n_fft,
        win_length=config.win_length,
        hop_length=config.hop_length,
        n_mels=config.n_mels,
    )
    # Absolute dB (ref=1) keeps loudness, which carries arousal; no top_db clamp.
    log_mel = librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=None)
    feats = (
        log_mel
        if config.feature == "logmel"
        else librosa.feature.mfcc(S=log_mel, n_mfcc=config.n_mfcc)
    )
    if config.deltas:
        n_frames = feats.shape[1]
        if n_frames >= _MIN_DELTA_FRAMES:
            width = min(9, n_frames if n_frames % 2 else n_frames - 1)
            d1 = librosa.feature.delta(feats, width=width, order=1, mode="nearest")
            d2 = librosa.feature.delta(feats, width=width, order=2, mode="nearest")
        else:
            d1 = d2 = np.zeros_like(feats)
        feats = np.concatenate([feats, d1, d2], axis=0)
    return feats.T.astype(np.float32)


def feature_dimension(config: AcousticConfig) -> int:
    """Number of features per frame that ``frame_features`` returns."""
    base = config.n_mels if config.feature == "logmel" else config.n_mfcc
    return base * (3 if config.deltas else 1)


def pad_sequences(
    sequences: Iterable[np.ndarray], max_frames: int, n_features: int
) -> tuple[np.ndarray, np.ndarray]:
    """Stack variable-length frame sequences into a zero-padded array.

    Sequences longer than ``max_frames`` keep their first ``max_frames`` frames.

    Returns:
        ``(n, max_frames, n_features)`` float32 array and the number of valid
        frames of each sequence.
    """
    sequences = list(sequences)
    out = np.zeros((len(sequences), max_frames, n_features), dtype=np.float32)
    lengths = np.zeros(len(sequences), dtype=np.int32)
    for i, seq in enumerate(sequences):
        length = min(len(seq), max_frames)
        out[i, :length] = seq[:length]
        lengths[i] = length
    return out, lengths
