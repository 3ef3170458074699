import numpy as np

from emotion_aware_loss.corpora.demo import (
    EMOTIONS,
    _confusion_weights,
    generate_demo_corpus,
)


def test_imbalance_like_an_acted_corpus():
    manifest, waves = generate_demo_corpus(200, n_speakers=4, seed=0)
    counts = manifest["label"].value_counts()
    assert set(counts.index) == set(EMOTIONS)
    assert counts["anger"] > counts["sadness"] > counts["happiness"]
    assert counts["neutral"] > 3 * counts["surprise"]
    assert len(waves) == 200
    assert all(w.dtype == np.float32 and np.abs(w).max() <= 1.0 for w in waves)
    assert manifest["speaker"].nunique() == 4


def test_label_noise_prefers_close_emotions():
    w = _confusion_weights()
    a, s, h, sad, n = (EMOTIONS.index(e) for e in EMOTIONS)
    assert np.allclose(w.sum(axis=1), 1.0)
    assert w[h, s] > w[h, sad]  # happiness is confused with surprise, not sadness
    manifest, _ = generate_demo_corpus(300, n_speakers=3, seed=1, label_noise=0.2)
    noisy = (manifest["label"] != manifest["expressed_emotion"]).mean()
    assert 0.1 < noisy < 0.3


def test_emotion_changes_the_audio():
    manifest, waves = generate_demo_corpus(300, n_speakers=3, seed=2, label_noise=0.0)
    rms = np.array([np.sqrt(np.mean(w**2)) for w in waves])
    labels = manifest["label"].to_numpy(dtype=str)
    assert rms[labels == "anger"].mean() > 1.5 * rms[labels == "sadness"].mean()


def test_harmonics_in_threads_equal_one_piece():
    from emotion_aware_loss.corpora.demo import _CHUNK, _harmonic_chunk, _harmonics

    rng = np.random.default_rng(0)
    n = 3 * _CHUNK + 123  # several chunks and a short last one
    f0 = rng.uniform(80.0, 320.0, n)
    phase = 2 * np.pi * np.cumsum(f0) / 16000
    formants = rng.choice([300.0, 700.0, 2300.0], size=(n, 2))
    threaded = _harmonics(f0, phase, formants, 1.2, 16000)
    whole = _harmonic_chunk(f0, phase, formants, 1.2, 16000)
    assert threaded.shape == (n,)
    np.testing.assert_array_equal(threaded, whole)
