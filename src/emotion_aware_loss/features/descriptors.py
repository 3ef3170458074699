"""Broad acoustic functionals: many low-level descriptors times many statistics.

The open counterpart of openSMILE's large parameter sets (ComParE 2016), built on
NumPy and librosa only, so the default install carries no research-only licence.
What makes such sets strong on small emotion corpora is breadth: many frame-level
descriptors (spectral bands, spectral shape, energy, voicing) and their deltas, each
summarised by many statistics (moments, extremes, percentiles, ranges, slope,
positions). Chosen by measurement on the development corpora (benchmarks/RESULTS.md,
section 10): class-balanced logistic regression, speaker-independent, reaches about
ComParE's UAR on German acted speech and exceeds it on English acted speech.

Per frame (25 ms windows every 10 ms at 16 kHz by default):

* ``logmel_<k>``: log-mel band energies (dB), ``n_mels`` bands;
* ``energy_db``, ``loudness`` (auditory spectrum to the power 0.3, summed),
  ``zcr`` (zero-crossing rate);
* spectral shape: ``centroid``, ``spread``, ``skewness``, ``kurtosis``, roll-off
  points ``rolloff_25 … rolloff_90``, ``flatness``, ``flux``, ``entropy``,
  ``slope`` (dB per kHz, 0–5 kHz), ``alpha_ratio`` (50–1000 Hz vs 1–5 kHz),
  ``hammarberg`` (peak 0–2 kHz vs 2–5 kHz), ``band_0_500`` (dB);

each with its first difference (``d_<name>``), summarised over the *active* frames
(energy within ``active_db`` dB of the utterance's loudest frame, so leading and
trailing silence do not dilute the statistics). Voicing (a normalised
autocorrelation pitch tracker at 8 kHz): ``f0`` (semitones re 100 Hz) and ``hnr``
(dB) and their differences over the voiced frames; plus ``jitter`` and ``shimmer``
(mean absolute change of f0 and energy between consecutive voiced frames),
``voiced_fraction``, ``voicing_mean``, ``active_fraction`` and ``active_seconds``.

The statistics (:data:`STATISTICS`): mean, standard deviation, skewness, kurtosis,
minimum, maximum, percentiles 1, 5, 25, 50, 75, 95, 99, ranges 1–99, 25–75 and
5–95, linear slope per second, and the relative positions of the maximum and
minimum.

Longer than most modules: the descriptor set is one definition; the frame
descriptors, their names and their statistics list the same features in the same
order (:func:`broad_functional_names` names the columns of
:func:`broad_functionals`).
"""

from __future__ import annotations

import functools

import librosa
import numpy as np
import scipy.fft
import scipy.signal

from emotion_aware_loss.config import AcousticConfig

STATISTICS = (
    "mean",
    "std",
    "skewness",
    "kurtosis",
    "min",
    "max",
    "p1",
    "p5",
    "p25",
    "p50",
    "p75",
    "p95",
    "p99",
    "range_1_99",
    "iqr",
    "range_5_95",
    "slope",
    "argmax",
    "argmin",
)
_PERCENTILES = (1, 5, 25, 50, 75, 95, 99)
SHAPE_DESCRIPTORS = (
    "centroid",
    "spread",
    "skewness",
    "kurtosis",
    "rolloff_25",
    "rolloff_50",
    "rolloff_75",
    "rolloff_90",
    "flatness",
    "flux",
    "entropy",
    "slope",
    "alpha_ratio",
    "hammarberg",
    "band_0_500",
)
VOICE_DESCRIPTORS = ("f0", "hnr")
VOICE_SUMMARY = (
    "jitter",
    "shimmer",
    "voiced_fraction",
    "voicing_mean",
    "active_fraction",
    "active_seconds",
)
_PITCH_RATE = 8000  # Hz: the pitch tracker runs on audio decimated to this rate
_F0_RANGE = (60.0, 600.0)  # Hz
_PITCH_FRAME = 512  # samples at 8 kHz (64 ms): two periods of the lowest pitch
_PITCH_FFT = 768  # zero-padded frame: lags up to 256 free of wrap-around
_OCTAVE_COST = 0.01  # per octave (Praat's default)
_VOICED = 0.5  # normalised autocorrelation peak above which a frame is voiced
_TINY = 1e-10


def frame_descriptor_names(config: AcousticConfig) -> list[str]:
    """Names of the frame-level descriptors summarised over the active frames."""
    return [
        *(f"logmel_{k}" for k in range(config.n_mels)),
        "energy_db",
        "loudness",
        "zcr",
        *SHAPE_DESCRIPTORS,
    ]


def broad_functional_names(config: AcousticConfig) -> list[str]:
    """Names of the values :func:`broad_functionals` returns, in order."""
    frame = frame_descriptor_names(config)
    voice = list(VOICE_DESCRIPTORS)
    blocks = [frame, [f"d_{n}" for n in frame], voice, [f"d_{n}" for n in voice]]
    names = [f"{n}_{s}" for block in blocks for n in block for s in STATISTICS]
    return names + list(VOICE_SUMMARY)


@functools.lru_cache(maxsize=8)
def _mel_basis(sr: int, n_fft: int, n_mels: int) -> np.ndarray:
    return librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels)


@functools.lru_cache(maxsize=8)
def _autocorrelation_of_window(length: int) -> tuple[np.ndarray, np.ndarray]:
    """A Hann window and its normalised autocorrelation (Boersma's correction)."""
    window = np.hanning(length)
    spectrum = np.fft.rfft(window, n=2 * length)
    lags = np.fft.irfft(np.abs(spectrum) ** 2)[:length]
    return window, lags / lags[0]


def _frames(y: np.ndarray, length: int, hop: int, n_frames: int) -> np.ndarray:
    """``n_frames`` centred frames of ``y`` (zero-padded), ``(n_frames, length)``."""
    padded = np.pad(y, (length // 2, length // 2 + hop * n_frames))
    return np.lib.stride_tricks.sliding_window_view(padded, length)[::hop][:n_frames]


@functools.lru_cache(maxsize=8)
def _stft_window(n_fft: int, win_length: int) -> np.ndarray:
    """A periodic Hann window of ``win_length`` centred in ``n_fft`` zeros."""
    window = scipy.signal.get_window("hann", win_length, fftbins=True)
    left = (n_fft - win_length) // 2
    return np.pad(window, (left, n_fft - win_length - left))


def stft(y: np.ndarray, n_fft: int, hop_length: int, win_length: int) -> np.ndarray:
    """``librosa.stft(y, n_fft=, hop_length=, win_length=)`` (centred frames,
    zero padding, Hann window), ``(1 + n_fft // 2, frames)`` complex64.

    The same values bit for bit (tested against librosa, and checked on every
    file of the development corpora), with NumPy's FFT as librosa uses it. Not
    librosa's own: its first call in a new environment compiles librosa's numba
    kernels (about 10 s on 2 cores, measured), which every fresh install's first
    ``kedro run`` paid.
    """
    padded = np.pad(y, n_fft // 2)
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop_length]
    windowed = frames * _stft_window(n_fft, win_length)
    return np.fft.rfft(windowed, axis=-1).astype(np.complex64).T


def pitch_track(
    y: np.ndarray, sr: int, hop_length: int, frames: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Pitch and voicing of some frames by normalised autocorrelation.

    The audio is decimated to 8 kHz; each 64 ms Hann-windowed frame's
    autocorrelation is divided by the window's own (Boersma 1993), and its highest
    peak between the lags of 600 and 60 Hz, with Praat's octave cost favouring
    shorter lags (refined by parabolic interpolation), gives the pitch and, as its height, the voicing strength.

    Args:
        y: The waveform at ``sr``.
        sr: Its sampling rate.
        hop_length: Samples (at ``sr``) from one frame to the next.
        frames: Which frames (indices) to analyse.

    Returns:
        ``f0`` in semitones re 100 Hz and the peak height in [0, 0.999], one value
        per frame in ``frames``.
    """
    low = scipy.signal.resample_poly(y, _PITCH_RATE, sr) if sr != _PITCH_RATE else y
    window, window_lags = _autocorrelation_of_window(_PITCH_FRAME)
    lo = int(_PITCH_RATE / _F0_RANGE[1])
    hi = int(_PITCH_RATE / _F0_RANGE[0])
    starts = np.round(frames * (hop_length * _PITCH_RATE / sr)).astype(np.int64)
    # Zeros after the audio for the last frame's whole length: every frame is a
    # window of this view (read in place, no index array).
    padded = np.pad(low, (_PITCH_FRAME // 2, _PITCH_FRAME))
    windowed = np.lib.stride_tricks.sliding_window_view(padded, _PITCH_FRAME)[starts]
    # Each frame, mean removed and windowed, written into the start of a
    # _PITCH_FFT-long row whose rest stays zero (the FFT's padding, done once here).
    buffer = np.zeros((len(starts), _PITCH_FFT))
    frame = buffer[:, :_PITCH_FRAME]
    np.subtract(windowed, windowed.mean(axis=1, keepdims=True), out=frame)
    frame *= window
    spectrum = scipy.fft.rfft(buffer, axis=1)
    power = spectrum.real**2 + spectrum.imag**2
    # only the lags up to the longest period (and one beyond) are looked at
    lags = scipy.fft.irfft(power, n=_PITCH_FFT, axis=1)[:, : hi + 1]
    lags = lags / np.maximum(lags[:, :1], _TINY) / window_lags[: hi + 1]
    # Every local maximum of the autocorrelation between the lags of 600 and 60 Hz,
    # its lag and height refined by parabolic interpolation (at 8 kHz a short
    # period falls between samples, and its sampled peak would lose to a multiple).
    before, at, after = (
        lags[:, lo - 1 : hi - 1],
        lags[:, lo:hi],
        lags[:, lo + 1 : hi + 1],
    )
    curvature = before - 2 * at + after
    maximum = (at >= before) & (at > after) & (curvature < 0)
    safe = np.where(maximum, curvature, -1.0)
    shift = np.clip(0.5 * (before - after) / safe, -0.5, 0.5)
    height = np.where(maximum, at - 0.25 * (before - after) * shift, -np.inf)
    # Praat's octave cost: a periodic frame's autocorrelation peaks at every
    # multiple of its period, so shorter lags (higher pitch) get a small bonus.
    bonus = -_OCTAVE_COST * np.log2(np.arange(lo, hi) / hi)
    rows = np.arange(len(frames))
    peak = np.argmax(height + bonus, axis=1)
    found = np.isfinite(height[rows, peak])
    at = np.where(found, height[rows, peak], 0.0)
    f0 = _PITCH_RATE / (lo + peak + np.where(found, shift[rows, peak], 0.0))
    return 12.0 * np.log2(f0 / 100.0), np.clip(at, 0.0, 0.999)


def _rolloff(cumulative: np.ndarray, freqs: np.ndarray, share: float) -> np.ndarray:
    """The frequency below which ``share`` of each frame's energy lies.

    Interpolated linearly inside the FFT bin where the cumulative energy crosses
    ``share``, so the value moves smoothly from frame to frame.
    """
    columns = np.arange(cumulative.shape[1])
    upper = np.argmax(cumulative >= share, axis=0)
    lower = np.maximum(upper - 1, 0)
    below = np.where(upper > 0, cumulative[lower, columns], 0.0)
    step = cumulative[upper, columns] - below
    fraction = np.clip((share - below) / np.where(step > 0, step, 1.0), 0.0, 1.0)
    start = np.where(upper > 0, freqs[lower], freqs[0])
    return start + fraction * (freqs[upper] - start)


def frame_descriptors(y: np.ndarray, config: AcousticConfig) -> dict[str, np.ndarray]:
    """The frame-level descriptors of one utterance.

    Returns:
        ``frames`` (``(len(frame_descriptor_names), T)``), ``energy_db`` and
        ``active`` (``(T,)``: within ``config.active_db`` of the loudest frame),
        and ``f0`` and ``voicing`` of the active frames.
    """
    y = np.asarray(y, dtype=np.float32)
    sr, n_fft = config.sample_rate, config.n_fft
    if len(y) < n_fft:  # too short for one analysis window: pad with silence
        y = np.pad(y, (0, n_fft - len(y)))
    spectrum = stft(y, n_fft, config.hop_length, config.win_length)
    power = (spectrum.real**2 + spectrum.imag**2).astype(np.float64)
    n_frames = power.shape[1]
    freqs = librosa.fft_frequencies(sr=sr, n_fft=n_fft)
    mel = _mel_basis(sr, n_fft, config.n_mels) @ power
    total = power.sum(axis=0) + _TINY
    share = power / total
    # Central moments of the spectrum from its raw moments (float64: no cancellation
    # at these magnitudes), one small matrix product instead of four passes.
    raw = (freqs[None, :] ** np.arange(1, 5)[:, None]) @ share
    centroid = raw[0]
    variance = np.maximum(raw[1] - centroid**2, 0.0)
    third = raw[2] - 3 * centroid * raw[1] + 2 * centroid**3
    fourth = raw[3] - 4 * centroid * raw[2] + 6 * centroid**2 * raw[1] - 3 * centroid**4
    scale = np.maximum(variance, 1e-12)
    cumulative = np.cumsum(share, axis=0)
    log_power = np.log(power + _TINY)
    magnitude = np.sqrt(power)
    norm_magnitude = magnitude / (magnitude.sum(axis=0) + _TINY)
    flux = np.r_[0.0, np.sqrt((np.diff(norm_magnitude, axis=1) ** 2).sum(axis=0))]
    low_band = freqs <= 5000
    khz = freqs[low_band] / 1000 - (freqs[low_band] / 1000).mean()
    db_per_neper = 10 / np.log(10)
    slope = db_per_neper * (khz @ log_power[low_band]) / (khz**2).sum()

    def band_db(lo: float, hi: float, reduce=np.sum) -> np.ndarray:
        return 10 * np.log10(
            reduce(power[(freqs >= lo) & (freqs < hi)], axis=0) + _TINY
        )

    energy_db = 10 * np.log10(total / n_fft)
    framed = _frames(y, n_fft, config.hop_length, n_frames)
    zcr = np.mean(np.signbit(framed[:, 1:]) != np.signbit(framed[:, :-1]), axis=1)
    shape = [
        centroid,
        np.sqrt(variance),
        third / scale**1.5,
        fourth / scale**2,
        *(_rolloff(cumulative, freqs, q) for q in (0.25, 0.5, 0.75, 0.9)),
        np.exp(log_power.mean(axis=0)) / (power.mean(axis=0) + _TINY),
        flux,
        (np.log(total) - (share * log_power).sum(axis=0)) / np.log(2),
        slope,
        band_db(50, 1000) - band_db(1000, 5000),
        band_db(0, 2000, np.max) - band_db(2000, 5000, np.max),
        band_db(0, 500),
    ]
    frames = np.vstack(
        [
            10 * np.log10(mel + _TINY),
            energy_db,
            (mel**0.3).sum(axis=0),
            zcr,
            *shape,
        ]
    )
    active = energy_db > energy_db.max() - config.active_db
    f0, voicing = pitch_track(y, sr, config.hop_length, np.flatnonzero(active))
    return {
        "frames": frames,
        "energy_db": energy_db,
        "active": active,
        "f0": f0,
        "voicing": voicing,
    }


def summarise(values: np.ndarray, frames_per_second: float) -> np.ndarray:
    """The :data:`STATISTICS` of each row of ``values`` (``(d, T)`` -> ``(d, 19)``).

    Rows with fewer than two frames are summarised as if the frame were repeated.
    """
    if values.shape[1] < 2:
        values = np.repeat(
            values if values.shape[1] else np.zeros((len(values), 1)), 2, 1
        )
    n = values.shape[1]
    mean = values.mean(axis=1)
    centred = values - mean[:, None]
    squared = centred * centred  # products: ``**`` of 3 and 4 calls pow(), slower
    var = squared.mean(axis=1)
    std = np.sqrt(var)
    safe = np.where(var > 1e-12, var, 1.0)
    skewness = np.where(var > 1e-12, (squared * centred).mean(axis=1) / safe**1.5, 0.0)
    kurtosis = np.where(
        var > 1e-12, (squared * squared).mean(axis=1) / safe**2 - 3.0, 0.0
    )
    p1, p5, p25, p50, p75, p95, p99 = np.percentile(values, _PERCENTILES, axis=1)
    time = np.arange(n) - (n - 1) / 2
    slope = centred @ time / (time @ time) * frames_per_second
    return np.stack(
        [
            mean,
            std,
            skewness,
            kurtosis,
            values.min(axis=1),
            values.max(axis=1),
            p1,
            p5,
            p25,
            p50,
            p75,
            p95,
            p99,
            p99 - p1,
            p75 - p25,
            p95 - p5,
            slope,
            values.argmax(axis=1) / n,
            values.argmin(axis=1) / n,
        ],
        axis=1,
    )


def _first_difference(values: np.ndarray) -> np.ndarray:
    return np.diff(values, axis=1, prepend=values[:, :1])


def _mean_change(values: np.ndarray, consecutive: np.ndarray) -> float:
    changes = np.abs(np.diff(values))[consecutive]
    return float(changes.mean()) if len(changes) else 0.0


def broad_functionals(waveform: np.ndarray, config: AcousticConfig) -> np.ndarray:
    """One vector of statistics of many descriptors per utterance (module docstring).

    Names: :func:`broad_functional_names`.

    Returns:
        ``(len(broad_functional_names(config)),)`` float32 vector.
    """
    described = frame_descriptors(waveform, config)
    frames, active = described["frames"], described["active"]
    f0, voicing = described["f0"], described["voicing"]  # of the active frames
    voiced = voicing > _VOICED
    if voiced.sum() < 2:  # unvoiced or silent: the voice statistics of all frames
        voiced = np.ones_like(voiced)
    # Consecutive voiced frames (``active`` frames next to each other in time).
    positions = np.flatnonzero(active)
    consecutive = voiced[1:] & voiced[:-1] & (np.diff(positions) == 1)
    rate = config.sample_rate / config.hop_length
    voice = np.vstack([f0, 10 * np.log10(voicing / (1 - voicing) + _TINY)])[:, voiced]
    energy = described["energy_db"][active]
    parts = [
        summarise(frames[:, active], rate),
        summarise(_first_difference(frames)[:, active], rate),
        summarise(voice, rate),
        summarise(_first_difference(voice), rate),
    ]
    summary = [
        _mean_change(f0, consecutive),
        _mean_change(energy, consecutive),
        float(voiced.sum() / len(active)),
        float(voicing.sum() / len(active)),
        float(active.mean()),
        float(active.sum() / rate),
    ]
    return np.concatenate([p.ravel() for p in parts] + [np.asarray(summary)]).astype(
        np.float32
    )


def broad_functional_frame(waveform: np.ndarray, config: AcousticConfig) -> np.ndarray:
    """:func:`broad_functionals` as one row."""
    return broad_functionals(waveform, config)[None, :]


def broad_functional_dimension(config: AcousticConfig) -> int:
    return len(broad_functional_names(config))
