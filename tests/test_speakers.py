import numpy as np
import pandas as pd
import pytest

from emotion_aware_loss.config import AcousticConfig
from emotion_aware_loss.folds.speakers import (
    normalise_by_speaker,
    normalise_speakers,
    speaker_statistics,
)


@pytest.fixture
def corpus(tmp_path):
    """Three speakers (12, 12 and 3 utterances) of frames with their own offsets."""
    rng = np.random.default_rng(0)
    speakers = pd.Series(["a"] * 12 + ["b"] * 12 + ["c"] * 3)
    offsets = speakers.map({"a": -5.0, "b": 5.0, "c": 40.0}).to_numpy()
    features = rng.normal(size=(27, 6, 2)) * 2 + offsets[:, None, None]
    n_frames = rng.integers(2, 7, size=27)
    features[np.arange(6)[None, :] >= n_frames[:, None]] = 0.0  # padding
    np.save(tmp_path / "f.npy", features.astype(np.float32))
    mapped = np.load(tmp_path / "f.npy", mmap_mode="r")
    table = pd.DataFrame({"speaker": speakers, "n_frames": n_frames})
    return mapped, table


def _valid(features, n_frames, rows):
    return np.concatenate([features[r, : n_frames[r]] for r in rows])


def test_each_speaker_with_enough_utterances_gets_zero_mean_unit_variance(corpus):
    features, table = corpus
    n_frames = table["n_frames"].to_numpy()
    statistics = speaker_statistics(features, n_frames, table["speaker"], 10)
    assert sorted(statistics["speakers"]) == ["a", "b"]
    assert statistics["speakers"]["a"]["utterances"] == 12
    normalised = normalise_by_speaker(features, n_frames, table["speaker"], statistics)
    assert normalised.shape == features.shape and normalised.dtype == np.float32
    for speaker in ("a", "b"):
        rows = np.flatnonzero(table["speaker"] == speaker)
        frames = _valid(normalised, n_frames, rows)
        np.testing.assert_allclose(frames.mean(axis=0), 0.0, atol=1e-5)
        np.testing.assert_allclose(frames.std(axis=0), 1.0, atol=1e-5)
    # Speaker c (3 utterances) is standardised with the whole corpus's statistics.
    corpus_frames = _valid(features, n_frames, range(27))
    rows = np.flatnonzero(table["speaker"] == "c")
    expected = (_valid(features, n_frames, rows) - corpus_frames.mean(0)) / (
        corpus_frames.std(0)
    )
    np.testing.assert_allclose(_valid(normalised, n_frames, rows), expected, rtol=1e-4)
    padding = np.arange(6)[None, :] >= n_frames[:, None]
    assert (np.asarray(normalised)[padding] == 0).all()


def test_prediction_uses_the_training_corpus_statistics_for_small_speakers(corpus):
    features, table = corpus
    n_frames = table["n_frames"].to_numpy()
    training = {"mean": [100.0, 100.0], "std": [10.0, 10.0]}
    statistics = speaker_statistics(
        features, n_frames, table["speaker"], 10, corpus=training
    )
    assert statistics["corpus"] is training
    normalised = normalise_by_speaker(features, n_frames, table["speaker"], statistics)
    row = int(np.flatnonzero(table["speaker"] == "c")[0])
    frames = slice(0, n_frames[row])
    np.testing.assert_allclose(
        normalised[row, frames], (features[row, frames] - 100.0) / 10.0, rtol=1e-5
    )


def test_normalisation_follows_the_settings(corpus):
    features, table = corpus
    off = AcousticConfig()
    same, statistics = normalise_speakers(features, table, off)
    assert same is features and statistics == {}
    on = AcousticConfig(speaker_normalisation=True, speaker_min_utterances=3)
    normalised, statistics = normalise_speakers(features, table, on)
    assert sorted(statistics["speakers"]) == ["a", "b", "c"]
    assert statistics["min_utterances"] == 3
    text_only = table.assign(n_frames=0)
    assert normalise_speakers(features, text_only, on)[1] == {}
    with pytest.raises(ValueError, match="speaker_min_utterances"):
        AcousticConfig(speaker_normalisation=True, speaker_min_utterances=1)
