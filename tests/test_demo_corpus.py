import numpy as np

from emotion_aware_loss.demo_corpus import (
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
