import sys

import numpy as np
import pytest

from emotion_aware_loss.config import AcousticConfig
from emotion_aware_loss.extras import MissingExtraError
from emotion_aware_loss.features.acoustic import (
    feature_dimension,
    frame_features,
    functional_names,
    pad_sequences,
    utterance_functionals,
)
from emotion_aware_loss.features.opensmile import opensmile_features, opensmile_names


def test_logmel_and_mfcc_shapes():
    wave = np.sin(2 * np.pi * 200 * np.arange(16000) / 16000).astype(np.float32)
    logmel = AcousticConfig(n_mels=20)
    mfcc = AcousticConfig(feature="mfcc", n_mfcc=13, deltas=True)
    a = frame_features(wave, logmel)
    b = frame_features(wave, mfcc)
    assert a.shape == (101, 20) and a.dtype == np.float32
    assert b.shape == (101, feature_dimension(mfcc)) == (101, 39)
    assert np.isfinite(a).all() and np.isfinite(b).all()


def test_louder_audio_has_higher_log_mel():
    wave = np.sin(2 * np.pi * 200 * np.arange(8000) / 16000).astype(np.float32)
    cfg = AcousticConfig(n_mels=20)
    assert frame_features(wave, cfg).mean() < frame_features(4 * wave, cfg).mean()


def test_very_short_audio_gets_zero_deltas():
    cfg = AcousticConfig(feature="mfcc", deltas=True)
    feats = frame_features(np.zeros(200, dtype=np.float32) + 0.01, cfg)
    assert feats.shape[1] == 39
    assert np.all(feats[:, 13:] == 0)


def test_pad_sequences_pads_and_truncates():
    out, lengths = pad_sequences(
        [np.ones((3, 2)), np.ones((7, 2))], max_frames=5, n_features=2
    )
    assert out.shape == (2, 5, 2)
    assert lengths.tolist() == [3, 5]
    assert out[0, 3:].sum() == 0 and out[1].sum() == 10


def test_functionals_name_every_value_and_follow_the_voice():
    config = AcousticConfig(feature="functionals", n_mfcc=13)
    t = np.arange(16000) / 16000
    low = 0.1 * np.sin(2 * np.pi * 100 * t)
    high = 0.4 * np.sin(2 * np.pi * 200 * t)  # an octave up, 12 dB louder
    names = functional_names(config)
    a, b = (
        dict(zip(names, utterance_functionals(w, config), strict=True))
        for w in (low, high)
    )
    assert len(names) == len(set(names)) == feature_dimension(config) == 68
    assert a["pitch_st_mean"] == pytest.approx(0.0, abs=0.3)
    assert b["pitch_st_mean"] == pytest.approx(12.0, abs=0.3)
    assert b["energy_db_mean"] - a["energy_db_mean"] == pytest.approx(12.0, abs=0.5)
    assert b["centroid_mean"] > a["centroid_mean"]
    short = utterance_functionals(low[:100], config)  # shorter than one window
    assert np.isfinite(short).all()


def test_long_sequences_are_cropped_at_the_head_or_centre():
    seq = np.arange(10, dtype=np.float32)[:, None]
    head, lengths = pad_sequences([seq, seq[:2]], 4, 1, n=2)
    centre, _ = pad_sequences(iter([seq, seq[:2]]), 4, 1, n=2, crop="center")
    assert head[0, :, 0].tolist() == [0, 1, 2, 3]
    assert centre[0, :, 0].tolist() == [3, 4, 5, 6]
    assert lengths.tolist() == [4, 2] and centre[1, :, 0].tolist() == [0, 1, 0, 0]
    with pytest.raises(ValueError, match="expected 3 sequences, got 2"):
        pad_sequences([seq, seq], 4, 1, n=3)


def _voice(pitch: float, seconds: float = 1.5, rate: int = 16000) -> np.ndarray:
    """A vowel-like harmonic tone with a little vibrato and noise."""
    t = np.arange(int(seconds * rate)) / rate
    f0 = pitch * (1 + 0.03 * np.sin(2 * np.pi * 5 * t))
    phase = 2 * np.pi * np.cumsum(f0) / rate
    wave = sum(np.sin(k * phase) / k for k in range(1, 8))
    wave += 0.01 * np.random.default_rng(0).standard_normal(len(t))
    return (0.2 * wave).astype(np.float32)


def test_egemaps_gives_88_named_finite_values_that_follow_the_voice():
    config = AcousticConfig(feature="egemaps")
    names = opensmile_names("egemaps")
    assert len(names) == 88 == feature_dimension(config)
    assert len(set(names)) == 88 and "F0semitoneFrom27.5Hz_sma3nz_amean" in names
    low, high = (opensmile_features(_voice(p), config) for p in (120.0, 240.0))
    assert low.shape == high.shape == (1, 88) and low.dtype == np.float32
    assert np.isfinite(low).all() and np.isfinite(high).all()
    pitch = names.index("F0semitoneFrom27.5Hz_sma3nz_amean")
    # one octave up is 12 semitones
    assert high[0, pitch] - low[0, pitch] == pytest.approx(12.0, abs=1.0)
    loudness = names.index("loudness_sma3_amean")
    quieter = opensmile_features(0.1 * _voice(120.0), config)
    assert quieter[0, loudness] < low[0, loudness]


def test_egemaps_of_very_short_or_silent_audio_has_no_nan():
    config = AcousticConfig(feature="egemaps")
    for wave in (np.zeros(100, np.float32), _voice(150.0, seconds=0.02)):
        values = opensmile_features(wave, config)
        assert values.shape == (1, 88) and np.isfinite(values).all()


def test_egemaps_low_level_descriptors_are_frames_every_10_ms():
    config = AcousticConfig(feature="egemaps_lld")
    frames = opensmile_features(_voice(200.0, seconds=1.0), config)
    assert frames.shape[1] == 25 == feature_dimension(config)
    assert 95 <= frames.shape[0] <= 100 and np.isfinite(frames).all()
    assert (
        not config.utterance_level and AcousticConfig(feature="egemaps").utterance_level
    )


def test_compare_functionals_at_another_sample_rate():
    config = AcousticConfig(feature="compare", sample_rate=22050)
    values = opensmile_features(_voice(200.0, rate=22050), config)
    assert values.shape == (1, 6373) == (1, feature_dimension(config))
    assert np.isfinite(values).all()


def test_a_missing_extra_names_the_pip_command(monkeypatch):
    from emotion_aware_loss.features import opensmile as smile

    monkeypatch.setitem(sys.modules, "opensmile", None)  # as if not installed
    smile._smile.cache_clear()
    try:
        with pytest.raises(MissingExtraError, match=r'pip install -e "\.\[egemaps\]"'):
            feature_dimension(AcousticConfig(feature="egemaps"))
    finally:
        smile._smile.cache_clear()


def test_egemaps_works_after_tensorflow_is_loaded():
    """openSMILE's library loaded after TensorFlow used to corrupt the heap."""
    import subprocess

    code = (
        "import tensorflow, numpy as np\n"
        "from emotion_aware_loss.config import AcousticConfig\n"
        "from emotion_aware_loss.features.opensmile import opensmile_features\n"
        "y = np.sin(np.arange(32000) / 16.0).astype(np.float32)\n"
        "for _ in range(20):\n"
        "    v = opensmile_features(y, AcousticConfig(feature='egemaps'))\n"
        "print(v.shape, bool(np.isfinite(v).all()))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().endswith("(1, 88) True")
