import numpy as np
import pytest

from emotion_aware_loss.config import AcousticConfig
from emotion_aware_loss.features.acoustic import feature_dimension
from emotion_aware_loss.features.descriptors import (
    STATISTICS,
    broad_functional_names,
    broad_functionals,
    frame_descriptor_names,
    pitch_track,
    stft,
    summarise,
)

CONFIG = AcousticConfig(feature="broad_functionals")
SR = 16000


def _tone(hz: float, seconds: float, amplitude: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    # A harmonic-rich voice-like tone: the fundamental and four harmonics.
    wave = sum(np.sin(2 * np.pi * hz * k * t) / k for k in range(1, 6))
    return (amplitude * wave / np.abs(wave).max()).astype(np.float32)


def _features(wave: np.ndarray, config: AcousticConfig = CONFIG) -> dict[str, float]:
    values = broad_functionals(wave, config)
    return dict(zip(broad_functional_names(config), values, strict=True))


def test_every_value_is_named_once_and_the_dimension_follows_the_config():
    names = broad_functional_names(CONFIG)
    frame = frame_descriptor_names(CONFIG)
    assert len(names) == len(set(names)) == feature_dimension(CONFIG)
    assert len(names) == (2 * len(frame) + 4) * len(STATISTICS) + 6 == 2286
    fewer = AcousticConfig(feature="broad_functionals", n_mels=20)
    assert feature_dimension(fewer) == 2286 - 2 * 20 * len(STATISTICS)
    assert broad_functionals(_tone(150, 0.5), fewer).shape == (
        feature_dimension(fewer),
    )


@pytest.mark.parametrize(
    "wave",
    [
        _tone(150, 1.0),
        np.zeros(SR, dtype=np.float32),  # silence
        np.random.default_rng(0).normal(0, 0.1, SR).astype(np.float32),  # noise
        _tone(220, 0.01),  # shorter than one analysis window
        np.zeros(0, dtype=np.float32),  # empty
        np.concatenate([np.zeros(SR // 2), _tone(120, 0.3), np.zeros(SR // 2)]),
    ],
    ids=["tone", "silence", "noise", "10 ms", "empty", "tone in silence"],
)
def test_values_are_finite_float32_and_repeatable(wave):
    first = broad_functionals(wave, CONFIG)
    assert first.dtype == np.float32 and first.shape == (2286,)
    assert np.isfinite(first).all()
    np.testing.assert_array_equal(first, broad_functionals(wave.copy(), CONFIG))


def test_pitch_voicing_and_loudness_follow_the_voice():
    low = _features(_tone(100, 1.0, 0.1))
    high = _features(_tone(200, 1.0, 0.4))  # an octave up, 12 dB louder
    assert low["f0_p50"] == pytest.approx(0.0, abs=0.3)  # semitones re 100 Hz
    assert high["f0_p50"] == pytest.approx(12.0, abs=0.3)
    assert high["energy_db_mean"] - low["energy_db_mean"] == pytest.approx(12, abs=0.5)
    assert low["voiced_fraction"] > 0.9 and high["hnr_mean"] > 10
    noise = _features(np.random.default_rng(1).normal(0, 0.1, SR).astype(np.float32))
    assert noise["voicing_mean"] < 0.5 < low["voicing_mean"]
    assert noise["flatness_mean"] > high["flatness_mean"]
    assert high["centroid_mean"] > low["centroid_mean"]


def test_statistics_are_taken_over_the_active_frames_only():
    tone = _tone(150, 0.5)
    padded = np.concatenate([np.zeros(SR), tone, np.zeros(SR)]).astype(np.float32)
    alone, with_silence = _features(tone), _features(padded)
    assert with_silence["active_fraction"] == pytest.approx(0.2, abs=0.03)
    assert with_silence["active_seconds"] == pytest.approx(
        alone["active_seconds"], abs=0.05
    )
    # Silence does not drag the level statistics down.
    assert with_silence["energy_db_p50"] == pytest.approx(alone["energy_db_p50"], abs=1)
    assert with_silence["f0_mean"] == pytest.approx(alone["f0_mean"], abs=0.3)


def test_summarise_computes_the_named_statistics():
    values = np.array([[1.0, 2.0, 3.0, 4.0, 10.0]])
    got = dict(
        zip(STATISTICS, summarise(values, frames_per_second=100)[0], strict=True)
    )
    assert got["mean"] == 4.0 and got["min"] == 1.0 and got["max"] == 10.0
    assert got["std"] == pytest.approx(np.std(values))
    assert got["p50"] == 3.0 and got["iqr"] == 2.0
    assert got["skewness"] > 0 and got["argmax"] == 0.8 and got["argmin"] == 0.0
    assert got["slope"] == pytest.approx(
        np.polyfit(np.arange(5), values[0], 1)[0] * 100
    )
    flat = summarise(np.full((2, 1), 3.0), 100)  # one frame, constant rows
    assert np.isfinite(flat).all() and (flat[:, 2:4] == 0).all()


def test_the_pitch_tracker_finds_the_fundamental_across_the_range():
    for hz in (70, 130, 260, 480):
        semitones, voicing = pitch_track(_tone(hz, 0.5), SR, 160, np.arange(10, 40))
        expected = 12 * np.log2(hz / 100)
        assert np.median(semitones) == pytest.approx(expected, abs=0.3), hz
        assert np.median(voicing) > 0.8


@pytest.mark.parametrize(
    ("length", "n_fft", "hop", "win"),
    [
        (16000, 512, 160, 400),
        (7777, 512, 160, 400),
        (512, 512, 160, 400),
        (3001, 256, 64, 256),
    ],
)
def test_the_stft_is_librosas_bit_for_bit(length, n_fft, hop, win):
    librosa = pytest.importorskip("librosa")
    y = np.random.default_rng(length).normal(0, 0.1, length).astype(np.float32)
    ours = stft(y, n_fft, hop, win)
    theirs = librosa.stft(y, n_fft=n_fft, hop_length=hop, win_length=win)
    assert ours.dtype == theirs.dtype == np.complex64
    np.testing.assert_array_equal(ours, theirs)
