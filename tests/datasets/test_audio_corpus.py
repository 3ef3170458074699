import json

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from kedro.io import DatasetError

from emotion_aware_loss.corpora.corpus import read_waveform
from emotion_aware_loss.datasets import (
    AudioManifestDataset,
    CorpusError,
    DemoCorpusDataset,
    NumpyDataset,
)


def test_demo_corpus_is_written_once_and_deterministic(tmp_path):
    a = DemoCorpusDataset(
        str(tmp_path / "a"), n_utterances=20, n_speakers=2, seed=1
    ).load()
    b = DemoCorpusDataset(
        str(tmp_path / "b"), n_utterances=20, n_speakers=2, seed=1
    ).load()
    cols = ["utterance_id", "speaker", "transcript", "label"]
    pd.testing.assert_frame_equal(a.manifest[cols], b.manifest[cols])
    np.testing.assert_array_equal(a.read_audio(3, 16000), b.read_audio(3, 16000))
    stamp = json.loads((tmp_path / "a" / "demo_corpus.json").read_text())
    assert stamp["n_utterances"] == 20
    # A second load with the same settings reuses the files.
    wav = tmp_path / "a" / "wav" / f"{a.manifest['utterance_id'][0]}.wav"
    before = wav.stat().st_mtime_ns
    DemoCorpusDataset(str(tmp_path / "a"), n_utterances=20, n_speakers=2, seed=1).load()
    assert wav.stat().st_mtime_ns == before


def test_demo_corpus_is_regenerated_when_settings_change(tmp_path):
    DemoCorpusDataset(str(tmp_path), n_utterances=20, seed=1).load()
    corpus = DemoCorpusDataset(str(tmp_path), n_utterances=25, seed=1).load()
    assert len(corpus) == 25
    assert len(list((tmp_path / "wav").glob("*.wav"))) == 25


def test_read_audio_resamples_and_downmixes(tmp_path):
    stereo = np.stack([np.ones(8000), -np.ones(8000) * 0.5], axis=1) * 0.5
    sf.write(tmp_path / "x.wav", stereo, 8000)
    _manifest(tmp_path, [("u1", "x.wav")])
    corpus = AudioManifestDataset(str(tmp_path / "m.csv")).load()
    wave = corpus.read_audio(0, 16000)
    assert wave.dtype == np.float32
    assert abs(len(wave) - 16000) <= 1
    assert np.median(wave) == pytest.approx(0.125, abs=1e-3)


def _manifest(root, rows, **extra):
    table = pd.DataFrame(
        {
            "utterance_id": [r[0] for r in rows],
            "speaker": "s1",
            "transcript": "hello",
            "label": "anger",
            "audio_path": [r[1] for r in rows],
            **extra,
        }
    )
    table.to_csv(root / "m.csv", index=False)


def _wav(root, name):
    sf.write(root / name, np.zeros(1600, dtype=np.float32) + 0.1, 16000)


def test_column_mapping(tmp_path):
    _wav(tmp_path, "a.wav")
    pd.DataFrame(
        {
            "id": ["u1"],
            "spk": ["s"],
            "text": ["hi"],
            "emotion": ["joy"],
            "file": ["a.wav"],
        }
    ).to_csv(tmp_path / "m.tsv", sep="\t", index=False)
    corpus = AudioManifestDataset(
        str(tmp_path / "m.tsv"),
        columns={
            "id": "utterance_id",
            "spk": "speaker",
            "text": "transcript",
            "emotion": "label",
            "file": "audio_path",
        },
    ).load()
    assert corpus.manifest.loc[0, "label"] == "joy"
    assert corpus.manifest.loc[0, "audio_path"].endswith("a.wav")


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([("u1", "a.wav"), ("u1", "a.wav")], "duplicate utterance id 'u1'"),
        ([("u1", "missing.wav")], "missing.wav of utterance 'u1' does not exist"),
        ([("u1", "../outside.wav")], "'../outside.wav' of utterance 'u1' escapes"),
        ([("", "a.wav")], "row 2 has an empty 'utterance_id'"),
    ],
    ids=["duplicate", "missing-file", "escapes-root", "empty-id"],
)
def test_bad_manifests_name_the_row(tmp_path, rows, message):
    root = tmp_path / "corpus"
    root.mkdir()
    _wav(root, "a.wav")
    _wav(tmp_path, "outside.wav")
    _manifest(root, rows)
    with pytest.raises(CorpusError, match=message):
        AudioManifestDataset(str(root / "m.csv")).load()


def test_missing_columns_are_listed(tmp_path):
    pd.DataFrame({"utterance_id": ["u"], "label": ["anger"]}).to_csv(
        tmp_path / "m.csv", index=False
    )
    with pytest.raises(CorpusError, match="missing column.*speaker.*transcript"):
        AudioManifestDataset(str(tmp_path / "m.csv")).load()


def test_unreadable_and_empty_audio(tmp_path):
    (tmp_path / "bad.wav").write_bytes(b"not audio")
    sf.write(tmp_path / "empty.wav", np.zeros(0, dtype=np.float32), 16000)
    _wav(tmp_path, "good.wav")
    rows = [("u1", "bad.wav"), ("u2", "empty.wav"), ("u3", "good.wav")]
    _manifest(tmp_path, rows)
    # checked at load, from the headers, before any feature is computed
    with pytest.raises(CorpusError, match="bad.wav of utterance 'u1' is not readable"):
        AudioManifestDataset(str(tmp_path / "m.csv")).load()
    _manifest(tmp_path, rows[1:])
    with pytest.raises(CorpusError, match="empty.wav of utterance 'u2' is empty"):
        AudioManifestDataset(str(tmp_path / "m.csv")).load()
    with pytest.raises(CorpusError, match="cannot read audio of utterance 'u1'"):
        read_waveform(str(tmp_path / "bad.wav"), "u1", "m.csv", 16000)


def test_bad_audio_can_be_skipped_and_is_listed(tmp_path):
    (tmp_path / "bad.wav").write_bytes(b"not audio")
    _wav(tmp_path, "good.wav")
    _manifest(tmp_path, [("u1", "bad.wav"), ("u2", "missing.wav"), ("u3", "good.wav")])
    corpus = AudioManifestDataset(str(tmp_path / "m.csv"), on_bad_audio="skip").load()
    assert corpus.manifest["utterance_id"].tolist() == ["u3"]
    assert corpus.skipped["utterance_id"].tolist() == ["u1", "u2"]
    assert corpus.skipped["reason"].tolist() == [
        "audio is not readable audio",
        "audio does not exist",
    ]
    with pytest.raises(DatasetError, match="on_bad_audio must be"):
        AudioManifestDataset(str(tmp_path / "m.csv"), on_bad_audio="ignore")


def test_manifest_dataset_is_read_only(tmp_path):
    with pytest.raises(DatasetError, match="read-only"):
        AudioManifestDataset(str(tmp_path / "m.csv")).save(pd.DataFrame())


def test_numpy_dataset_round_trip_and_refuses_objects(tmp_path):
    ds = NumpyDataset(str(tmp_path / "sub" / "x.npy"))
    assert not ds.exists()
    ds.save(np.arange(6, dtype=np.float32).reshape(2, 3))
    np.testing.assert_array_equal(ds.load(), np.arange(6).reshape(2, 3))
    with pytest.raises(DatasetError, match="object array"):
        ds.save(np.array([{"a": 1}], dtype=object))
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(DatasetError, match="not a numeric"):
        NumpyDataset(str(tmp_path / "obj.npy")).load()
    assert not list((tmp_path / "sub").glob("*.tmp"))


def _peak(wave: np.ndarray) -> float:
    return float(np.abs(wave).max())


def test_map_audio_in_parallel_batches_keeps_the_order(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(7):
        sf.write(
            tmp_path / f"{i}.wav", rng.uniform(-1, 1, 400 + 100 * i) * 0.1 * i, 16000
        )
    _manifest(tmp_path, [(f"u{i}", f"{i}.wav") for i in range(7)])
    corpus = AudioManifestDataset(str(tmp_path / "m.csv")).load()
    serial = list(corpus.map_audio(len, 16000))
    parallel = list(corpus.map_audio(len, 16000, n_jobs=2, batch_size=3))
    assert serial == parallel == [400 + 100 * i for i in range(7)]
    peaks = list(corpus.map_audio(_peak, 16000, n_jobs=2, batch_size=2))
    assert peaks == pytest.approx(
        [_peak(corpus.read_audio(i, 16000)) for i in range(7)]
    )


def test_silence_is_trimmed_on_request(tmp_path):
    tone = 0.5 * np.sin(2 * np.pi * 220 * np.arange(8000) / 16000)
    padded = np.concatenate([np.zeros(8000), tone, np.zeros(8000)])
    sf.write(tmp_path / "t.wav", padded, 16000)
    _manifest(tmp_path, [("u1", "t.wav")])
    corpus = AudioManifestDataset(str(tmp_path / "m.csv")).load()
    assert len(corpus.read_audio(0, 16000)) == 24000
    trimmed = corpus.read_audio(0, 16000, trim_top_db=30)
    assert 8000 <= len(trimmed) < 12000  # the tone plus less than a frame each side


def test_model_saves_are_atomic(tmp_path, monkeypatch):
    import keras
    from kedro.io import Version

    from emotion_aware_loss.datasets.keras_model_dataset import KerasModelDataset

    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    dataset = KerasModelDataset(
        filepath=str(tmp_path / "m.keras"), version=Version(None, None)
    )
    dataset.save(model)
    assert dataset.load().count_params() == 8
    assert not list(tmp_path.rglob("*.partial"))
    # a crash between writing and renaming leaves no file a load would accept
    crashing = KerasModelDataset(
        filepath=str(tmp_path / "c.keras"), version=Version(None, None)
    )

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(crashing._fs, "mv", crash)
    with pytest.raises(KeyboardInterrupt):
        crashing.save(model)
    assert not crashing.exists()
    assert len(list(tmp_path.rglob("c.keras/*/*.partial"))) == 1


def test_sample_rate_and_channel_requirements_name_the_utterance(tmp_path, caplog):
    sf.write(tmp_path / "mono16.wav", np.full(1600, 0.1), 16000)
    sf.write(tmp_path / "mono8.wav", np.full(800, 0.1), 8000)
    sf.write(tmp_path / "stereo.wav", np.full((1600, 2), 0.1), 16000)
    _manifest(tmp_path, [("a", "mono16.wav"), ("b", "mono8.wav"), ("c", "stereo.wav")])
    manifest = str(tmp_path / "m.csv")
    with caplog.at_level("INFO"):
        corpus = AudioManifestDataset(manifest).load()  # converted when read
    assert len(corpus) == 3 and "sample rates {16000: 2, 8000: 1}" in caplog.text
    with pytest.raises(CorpusError, match="'b' has sample rate 8000 Hz, not the re"):
        AudioManifestDataset(manifest, require_sample_rate=16000).load()
    with pytest.raises(CorpusError, match="'c' has 2 channels, not the required mono"):
        AudioManifestDataset(manifest, require_mono=True).load()
    strict = AudioManifestDataset(
        manifest, require_sample_rate=16000, require_mono=True, on_bad_audio="skip"
    ).load()
    assert strict.manifest["utterance_id"].tolist() == ["a"]
    assert strict.skipped["utterance_id"].tolist() == ["b", "c"]


def test_paths_outside_the_root_only_when_allowed(tmp_path):
    root = tmp_path / "corpus"
    root.mkdir()
    _wav(tmp_path, "outside.wav")
    _manifest(root, [("u1", "../outside.wav")])
    with pytest.raises(CorpusError, match="escapes the corpus root"):
        AudioManifestDataset(str(root / "m.csv")).load()
    corpus = AudioManifestDataset(str(root / "m.csv"), allow_outside_root=True).load()
    assert corpus.manifest["audio_path"][0] == str((tmp_path / "outside.wav").resolve())


def test_a_speech_only_manifest_needs_no_transcript_column(tmp_path):
    _wav(tmp_path, "a.wav")
    pd.DataFrame(
        {
            "utterance_id": ["u1"],
            "speaker": ["s"],
            "label": ["anger"],
            "audio_path": ["a.wav"],
        }
    ).to_csv(tmp_path / "m.csv", index=False)
    corpus = AudioManifestDataset(str(tmp_path / "m.csv")).load()
    assert corpus.manifest["transcript"].tolist() == [""]
    assert corpus.has_audio
