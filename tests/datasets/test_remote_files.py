"""The read-only datasets on a file system other than the local disk.

fsspec's in-memory file system (``memory://``) stands for an object store: the
datasets cannot take a local path of it, so every read goes through fsspec. The S3
end-to-end run is in ``tests/test_remote_storage.py``.
"""

import io
import uuid

import fsspec
import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from emotion_aware_loss.datasets import (
    AudioManifestDataset,
    CorpusError,
    DemoCorpusDataset,
    EmbeddingMatrixDataset,
    PrecomputedCorpusDataset,
    WordVectorsDataset,
)


@pytest.fixture
def bucket() -> str:
    # memory:///<bucket>: Kedro's URL parsing drops the host part of memory:// URLs
    return f"memory:///bucket-{uuid.uuid4().hex}"


def _put(url: str, content: bytes) -> None:
    with fsspec.open(url, "wb") as handle:
        handle.write(content)


def _wav(seconds: float, rate: int = 16000) -> bytes:
    buffer = io.BytesIO()
    t = np.arange(int(seconds * rate)) / rate
    sf.write(buffer, 0.3 * np.sin(2 * np.pi * 220 * t), rate, format="WAV")
    return buffer.getvalue()


def test_a_manifest_corpus_reads_its_audio_from_the_store(bucket):
    _put(f"{bucket}/corpus/wav/a.wav", _wav(0.5))
    _put(f"{bucket}/corpus/wav/b.wav", _wav(0.25, rate=8000))
    manifest = (
        "utterance_id,speaker,transcript,label,audio_path\n"
        "a,s1,hello,anger,wav/a.wav\n"
        "b,s2,bye,sadness,wav/b.wav\n"
    )
    _put(f"{bucket}/corpus/manifest.csv", manifest.encode())
    corpus = AudioManifestDataset(f"{bucket}/corpus/manifest.csv").load()
    assert corpus.manifest["audio_path"].tolist() == [
        f"memory:///{bucket[len('memory://') :]}/corpus/wav/a.wav",
        f"memory:///{bucket[len('memory://') :]}/corpus/wav/b.wav",
    ] or all(p.startswith("memory://") for p in corpus.manifest["audio_path"])
    waves = list(corpus.map_audio(len, sample_rate=16000))
    assert waves == [8000, 4000]  # b resampled from 8 kHz


def test_bad_remote_audio_is_named(bucket):
    _put(f"{bucket}/c/x.wav", b"not audio")
    table = "utterance_id,speaker,transcript,label,audio_path\nx,s,t,anger,x.wav\n"
    _put(f"{bucket}/c/manifest.csv", table.encode())
    with pytest.raises(CorpusError, match="x.wav of utterance 'x' is not readable"):
        AudioManifestDataset(f"{bucket}/c/manifest.csv").load()
    escaping = (
        "utterance_id,speaker,transcript,label,audio_path\ny,s,t,anger,../y.wav\n"
    )
    _put(f"{bucket}/c/escaping.csv", escaping.encode())
    with pytest.raises(CorpusError, match="escapes the corpus root"):
        AudioManifestDataset(f"{bucket}/c/escaping.csv").load()


def test_the_demo_corpus_is_generated_into_the_store(bucket):
    dataset = DemoCorpusDataset(f"{bucket}/demo", n_utterances=12, n_speakers=2)
    corpus = dataset.load()
    fs = fsspec.filesystem("memory")
    root = bucket[len("memory://") :]
    assert fs.isfile(f"{root}/demo/demo_corpus.json")
    assert len(fs.ls(f"{root}/demo/wav")) == 12
    assert len(corpus) == 12 and corpus.read_audio(0, 16000).size > 0
    again = DemoCorpusDataset(f"{bucket}/demo", n_utterances=12, n_speakers=2).load()
    pd.testing.assert_frame_equal(again.manifest, corpus.manifest)  # not regenerated


def _npy(url: str, array: np.ndarray) -> None:
    buffer = io.BytesIO()
    np.save(buffer, array)
    _put(url, buffer.getvalue())


def test_precomputed_features_and_vectors_are_read_from_the_store(bucket):
    _npy(f"{bucket}/f.npy", np.arange(12.0).reshape(4, 3))
    _npy(f"{bucket}/labels.npy", np.array([0, 1, 1, 0]))
    _npy(f"{bucket}/matrix.npy", np.ones((5, 2), dtype=np.float32))
    _put(f"{bucket}/w.vec", b"2 2\nhello 1 2\nworld 3 4\n")
    corpus = PrecomputedCorpusDataset(
        features=f"{bucket}/f.npy",
        labels=f"{bucket}/labels.npy",
        label_names=["anger", "sadness"],
    ).load()
    assert corpus.features.shape == (4, 1, 3)
    assert corpus.manifest["label"].tolist() == ["anger", "sadness", "sadness", "anger"]
    dim, found = EmbeddingMatrixDataset(f"{bucket}/matrix.npy").load().lookup(["id2"])
    assert dim == 2 and set(found) == {"id2"}
    dim, found = WordVectorsDataset(f"{bucket}/w.vec").load().lookup(["world"])
    assert dim == 2 and found["world"].tolist() == [3.0, 4.0]
    with pytest.raises(CorpusError, match="does not exist"):
        PrecomputedCorpusDataset(features=f"{bucket}/missing.npy").load()
