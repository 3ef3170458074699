import numpy as np
import pandas as pd
import pytest
from kedro.io import DatasetError

from emotion_aware_loss.datasets import (
    CorpusError,
    EmbeddingMatrixDataset,
    PrecomputedCorpusDataset,
)

NAMES = ["anger", "surprise", "happiness", "sadness", "neutral"]


def write_seed_layout(folder, n=60, n_features=52, seed=0):
    """The seed's arrays: features, labels, padded token ids and an embedding matrix."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 5
    features = rng.normal(size=(n, n_features)) + labels[:, None] * 0.5
    tokens = np.zeros((n, 12), dtype=np.int64)
    for i, k in enumerate(labels):
        length = rng.integers(3, 12)
        tokens[i, :length] = rng.integers(1, 30, length)
        tokens[i, 0] = 30 + k  # one class-revealing word
    np.save(folder / "selected_features_data.npy", features)
    np.save(folder / "labels.npy", labels)
    np.save(folder / "padded_docs.npy", tokens)
    np.save(folder / "embedding_matrix.npy", rng.normal(size=(35, 8)).astype("float32"))
    return features, labels, tokens


def test_seed_numpy_layout(tmp_path):
    features, labels, tokens = write_seed_layout(tmp_path)
    corpus = PrecomputedCorpusDataset(
        features=str(tmp_path / "selected_features_data.npy"),
        labels=str(tmp_path / "labels.npy"),
        label_names=NAMES,
        token_ids=str(tmp_path / "padded_docs.npy"),
    ).load()
    assert corpus.vector and corpus.features.shape == (60, 1, 52)
    assert (corpus.n_frames == 1).all()
    assert corpus.manifest["label"].tolist() == [NAMES[k] for k in labels]
    first = corpus.manifest["transcript"][0].split()
    assert first == [f"id{t}" for t in tokens[0] if t]
    vectors = EmbeddingMatrixDataset(str(tmp_path / "embedding_matrix.npy")).load()
    dim, found = vectors.lookup(["id3", "id0", "id99", "hello"])
    assert dim == 8 and set(found) == {"id3"}  # padding and out-of-range ids excluded


def test_tabular_layout_with_frame_sequences(tmp_path):
    table = pd.DataFrame(
        {
            "utterance_id": ["a", "b", "c"],
            "speaker": ["s1", "s1", "s2"],
            "transcript": ["hi there", "so sad", "wow"],
            "label": ["happiness", "sadness", "surprise"],
            "f_0": [0.1, 0.2, 0.3],
            "f_1": [1.0, 2.0, 3.0],
        }
    )
    table.to_csv(tmp_path / "t.csv", index=False)
    corpus = PrecomputedCorpusDataset(
        table=str(tmp_path / "t.csv"), feature_prefix="f_"
    ).load()
    assert corpus.features.shape == (3, 1, 2)
    assert corpus.manifest["speaker"].tolist() == ["s1", "s1", "s2"]
    np.save(tmp_path / "seq.npy", np.ones((3, 7, 4)))
    np.save(tmp_path / "len.npy", np.array([7, 3, 5]))
    seq = PrecomputedCorpusDataset(
        features=str(tmp_path / "seq.npy"),
        lengths=str(tmp_path / "len.npy"),
        table=str(tmp_path / "t.csv"),
    ).load()
    assert not seq.vector and seq.n_frames.tolist() == [7, 3, 5]
    assert seq.manifest["utterance_id"].tolist() == ["a", "b", "c"]


def test_bad_precomputed_inputs_are_named(tmp_path):
    write_seed_layout(tmp_path, n=10)
    feats = str(tmp_path / "selected_features_data.npy")
    np.save(tmp_path / "short.npy", np.zeros(9, dtype=int))
    with pytest.raises(CorpusError, match="short.npy has 9 labels but .* has 10"):
        PrecomputedCorpusDataset(
            features=feats, labels=str(tmp_path / "short.npy"), label_names=NAMES
        ).load()
    np.save(tmp_path / "big.npy", np.full(10, 7))
    with pytest.raises(CorpusError, match="label ids must be in 0..4"):
        PrecomputedCorpusDataset(
            features=feats, labels=str(tmp_path / "big.npy"), label_names=NAMES
        ).load()
    nan = np.zeros((10, 4))
    nan[6, 2] = np.nan
    np.save(tmp_path / "nan.npy", nan)
    with pytest.raises(CorpusError, match="feature 2 of utterance row 6 is NaN or inf"):
        PrecomputedCorpusDataset(
            features=str(tmp_path / "nan.npy"),
            labels=str(tmp_path / "labels.npy"),
            label_names=NAMES,
        ).load()
    with pytest.raises(CorpusError, match="missing.npy does not exist"):
        PrecomputedCorpusDataset(
            features=str(tmp_path / "missing.npy"), labels=feats, label_names=NAMES
        ).load()
    with pytest.raises(DatasetError, match="needs `label_names`"):
        PrecomputedCorpusDataset(features=feats, labels=feats)
