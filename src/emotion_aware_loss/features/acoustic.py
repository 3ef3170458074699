"""Acoustic features: librosa frames or functionals, openSMILE's standard sets.

librosa gives log-mel/MFCC frame sequences and the project's own utterance
functionals (the 68 of :func:`utterance_functionals`, the broad set of
:mod:`emotion_aware_loss.features.descriptors`); openSMILE (the ``egemaps`` extra,
:mod:`emotion_aware_loss.features.opensmile`) gives the field's standard parameter sets,
eGeMAPSv02 (Eyben et al., 2016) and ComParE 2016.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import librosa
import numpy as np

from emotion_aware_loss.config import AcousticConfig
from emotion_aware_loss.config.feature_sets import feature_set

_MIN_DELTA_FRAMES = 3
_F0_MIN = 60.0  # Hz, lowest pitch tracked


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


def _stats(values: np.ndarray) -> list[np.ndarray]:
    """Mean and standard deviation over frames (last axis)."""
    return [values.mean(axis=-1), values.std(axis=-1)]


def functional_names(config: AcousticConfig) -> list[str]:
    """Names of the values :func:`utterance_functionals` returns, in order."""
    names = [f"mfcc_{k}_{s}" for s in ("mean", "std") for k in range(config.n_mfcc)]
    names += [
        f"mfcc_delta_{k}_{s}" for s in ("mean", "std") for k in range(config.n_mfcc)
    ]
    names += ["energy_db_mean", "energy_db_std", "energy_db_max"]
    for shape in ("zcr", "centroid", "bandwidth", "rolloff", "flatness"):
        names += [f"{shape}_mean", f"{shape}_std"]
    names += ["pitch_st_mean", "pitch_st_std", "pitch_st_range"]
    return names


def utterance_functionals(waveform: np.ndarray, config: AcousticConfig) -> np.ndarray:
    """Statistics of frame-level descriptors: one fixed-length vector per utterance.

    The seed's style of input: mean and standard deviation of MFCCs and their
    deltas, energy (dB: mean, std, max), zero-crossing rate and spectral shape
    (centroid, bandwidth, roll-off, flatness: mean, std), and pitch (YIN, in
    semitones re 100 Hz over the louder half of the frames: mean, std, 5-95%
    range). Names: :func:`functional_names`.

    Returns:
        ``(len(functional_names(config)),)`` float32 vector.
    """
    y = np.asarray(waveform, dtype=np.float32)
    sr, hop, n_fft = config.sample_rate, config.hop_length, config.n_fft
    if len(y) < n_fft:  # too short for one analysis window: pad with silence
        y = np.pad(y, (0, n_fft - len(y)))
    frames = dict(n_fft=n_fft, hop_length=hop, win_length=config.win_length)
    power = np.abs(librosa.stft(y, **frames)) ** 2
    mel = librosa.feature.melspectrogram(S=power, sr=sr, n_mels=config.n_mels)
    mfcc = librosa.feature.mfcc(
        S=librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=None),
        n_mfcc=config.n_mfcc,
    )
    width = min(9, mfcc.shape[1] if mfcc.shape[1] % 2 else mfcc.shape[1] - 1)
    delta = (
        librosa.feature.delta(mfcc, width=width, mode="nearest")
        if width >= _MIN_DELTA_FRAMES
        else np.zeros_like(mfcc)
    )
    magnitude = np.sqrt(power)
    rms = librosa.feature.rms(S=magnitude, frame_length=n_fft)[0]
    energy = librosa.amplitude_to_db(rms, ref=1.0, amin=1e-10, top_db=None)
    shape = [
        librosa.feature.zero_crossing_rate(y, frame_length=n_fft, hop_length=hop)[0],
        librosa.feature.spectral_centroid(S=magnitude, sr=sr)[0],
        librosa.feature.spectral_bandwidth(S=magnitude, sr=sr)[0],
        librosa.feature.spectral_rolloff(S=magnitude, sr=sr)[0],
        librosa.feature.spectral_flatness(S=magnitude)[0],
    ]
    # YIN needs two periods of the lowest pitch (60 Hz) in a frame.
    pitch_frame = 2 ** int(np.ceil(np.log2(2 * sr / _F0_MIN)))
    f0 = librosa.yin(
        np.pad(y, (0, max(0, pitch_frame - len(y)))),
        fmin=_F0_MIN,
        fmax=min(600.0, sr / 4),
        sr=sr,
        frame_length=pitch_frame,
        hop_length=hop,
    )
    n = min(len(f0), len(energy))
    loud = energy[:n] >= np.median(energy[:n])
    semitones = 12.0 * np.log2(f0[:n][loud] / 100.0)
    low, high = np.percentile(semitones, [5, 95])
    parts = [
        *_stats(mfcc),
        *_stats(delta),
        np.array([energy.mean(), energy.std(), energy.max()]),
        np.array([stat(values) for values in shape for stat in (np.mean, np.std)]),
        np.array([semitones.mean(), semitones.std(), high - low]),
    ]
    return np.concatenate([np.atleast_1d(p) for p in parts]).astype(np.float32)


def feature_dimension(config: AcousticConfig) -> int:
    """Number of features per frame (or per utterance, for functionals), as the
    feature set of ``config.feature`` declares it
    (:mod:`emotion_aware_loss.config.feature_sets`)."""
    return feature_set(config.feature).dimension_of(config)


def frame_dimension(config: AcousticConfig) -> int:
    """Log-mel bands or MFCCs per frame (three times with deltas)."""
    base = config.n_mels if config.feature == "logmel" else config.n_mfcc
    return base * (3 if config.deltas else 1)


def functional_frame(waveform: np.ndarray, config: AcousticConfig) -> np.ndarray:
    """:func:`utterance_functionals` as one row."""
    return utterance_functionals(waveform, config)[None, :]


def functional_dimension(config: AcousticConfig) -> int:
    return len(functional_names(config))


def librosa_record(config: AcousticConfig) -> dict[str, str]:
    """The provenance of a librosa feature: its name and librosa's version."""
    return {
        "feature": config.feature,
        "library": "librosa",
        "version": librosa.__version__,
    }


def padded_rows(
    sequences: Iterable[np.ndarray],
    max_frames: int,
    n_features: int,
    crop: str = "head",
) -> Iterator[tuple[np.ndarray, int]]:
    """Each frame sequence zero-padded or cropped to ``(max_frames, n_features)``.

    Sequences longer than ``max_frames`` keep their first ``max_frames`` frames
    (``crop="head"``) or their middle ones (``crop="center"``).

    Yields:
        The float32 row and its number of valid frames, one sequence at a time.
    """
    for seq in sequences:
        length = min(len(seq), max_frames)
        start = (len(seq) - length) // 2 if crop == "center" else 0
        row = np.zeros((max_frames, n_features), dtype=np.float32)
        row[:length] = seq[start : start + length]
        yield row, length


def pad_sequences(
    sequences: Iterable[np.ndarray],
    max_frames: int,
    n_features: int,
    n: int | None = None,
    crop: str = "head",
) -> tuple[np.ndarray, np.ndarray]:
    """Stack variable-length frame sequences into a zero-padded array.

    Rows are those of :func:`padded_rows`. With ``n`` (the number of sequences)
    given, the output is allocated once and filled as the sequences arrive, so a
    stream is never held in memory twice.

    Returns:
        ``(n, max_frames, n_features)`` float32 array and the number of valid
        frames of each sequence.
    """
    if n is None:
        sequences = list(sequences)
        n = len(sequences)
    out = np.zeros((n, max_frames, n_features), dtype=np.float32)
    lengths = np.zeros(n, dtype=np.int32)
    count = 0
    for i, (row, length) in enumerate(
        padded_rows(sequences, max_frames, n_features, crop)
    ):
        out[i] = row
        lengths[i] = length
        count += 1
    if count != n:
        raise ValueError(f"expected {n} sequences, got {count}")
    return out, lengths
