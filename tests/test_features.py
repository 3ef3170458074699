import numpy as np
import pytest

from emotion_aware_loss.config import AcousticConfig
from emotion_aware_loss.features import (
    feature_dimension,
    frame_features,
    functional_names,
    pad_sequences,
    utterance_functionals,
)


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
