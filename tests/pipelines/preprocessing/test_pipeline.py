import numpy as np
import pandas as pd
import pytest

from emotion_aware_loss.config import AcousticConfig, LabelConfig
from emotion_aware_loss.datasets import AudioCorpus, CorpusError
from emotion_aware_loss.features.extraction import _workers, extract_acoustic_features
from emotion_aware_loss.folds.model_inputs import prepare_utterances
from emotion_aware_loss.losses.similarity import SimilarityMatrixError
from emotion_aware_loss.pipelines.preprocessing.nodes import validate_similarity_matrix


def test_pipeline_outputs(preprocessed, tiny_corpus, classes, acoustic_config):
    features = preprocessed["acoustic_features"]
    table = preprocessed["model_input_table"]
    assert features.shape == (60, acoustic_config.max_frames, acoustic_config.n_mels)
    assert features.dtype == np.float32
    assert (
        table["utterance_id"].tolist() == tiny_corpus.manifest["utterance_id"].tolist()
    )
    assert table["label_id"].tolist() == [classes.index(x) for x in table["label"]]
    assert (table["n_frames"] > 0).all() and (table["n_frames"] <= 120).all()
    # padded frames are zero, valid frames are not
    row = int(np.argmin(table["n_frames"]))
    assert np.all(features[row, table["n_frames"][row] :] == 0)
    spec = preprocessed["input_spec"].to_dict()
    # the corpus's own vocabulary (under max_vocab_size=200) plus padding and OOV
    words = {w for text in tiny_corpus.manifest["transcript"] for w in text.split()}
    assert 2 < len(words) < 200
    # the corpus's longest transcript, under max_tokens=12
    longest = tiny_corpus.manifest["transcript"].str.split().str.len().max()
    assert longest < 12
    assert spec.pop("extractors")["speech"]["library"] == "librosa"
    assert spec == {
        "speech": True,
        "n_frames": 120,
        "n_features": 16,
        "acoustic_feature": "logmel",
        "max_tokens": longest,
        "vocab_size": len(words) + 2,
        "classes": list(classes),
        "text_input": "tokens",
        "text_features": 0,
        "text_frames": 0,
    }
    # no text encoder: an empty text-features array, one row per utterance
    assert preprocessed["text_features"].shape == (60, 0)
    assert list(preprocessed["similarity_matrix"].index) == classes


def test_unknown_label_names_the_utterance(tiny_corpus, classes, text_config):
    manifest = tiny_corpus.manifest.copy()
    manifest.loc[4, "label"] = "fear"
    bad = AudioCorpus(manifest, "corpus.csv")
    with pytest.raises(CorpusError, match=r"corpus.csv: utterance .* has label 'fear'"):
        prepare_utterances(bad, classes, text_config, LabelConfig())


def test_labels_are_mapped_and_dropped_labels_listed(tiny_corpus, classes, text_config):
    manifest = tiny_corpus.manifest.copy()
    manifest["label"] = manifest["label"].replace({"anger": "angry"})
    manifest.loc[[3, 7], "label"] = "fearful"
    corpus = AudioCorpus(manifest, "corpus.csv")
    labels = LabelConfig(mapping={"angry": "anger", "fearful": "fear"}, drop=["fear"])
    table, skipped = prepare_utterances(corpus, classes, text_config, labels)
    assert len(table) == len(manifest) - 2
    assert "angry" not in set(table["label"]) and "anger" in set(table["label"])
    assert (
        skipped["utterance_id"].tolist()
        == manifest.loc[[3, 7], "utterance_id"].tolist()
    )
    assert set(skipped["label"]) == {"fear"}
    # audio is read for the kept utterances only, in their order
    selected = corpus.select(table["utterance_id"].tolist())
    assert selected.manifest["utterance_id"].tolist() == table["utterance_id"].tolist()


def test_a_class_cannot_also_be_dropped(tiny_corpus, classes, text_config):
    with pytest.raises(CorpusError, match=r"drop lists \['anger'\]"):
        prepare_utterances(
            tiny_corpus, classes, text_config, LabelConfig(drop=["anger"])
        )


def test_similarity_labels_must_cover_classes(similarity_frame):
    with pytest.raises(SimilarityMatrixError, match="missing \\['fear'\\]"):
        validate_similarity_matrix(similarity_frame, [*similarity_frame.index, "fear"])


def test_tokens_are_normalised(tiny_corpus, classes, text_config):
    table, skipped = prepare_utterances(
        tiny_corpus, classes, text_config, LabelConfig()
    )
    assert skipped.empty
    assert isinstance(table, pd.DataFrame)
    assert all(t == t.lower() and "," not in t for t in table["tokens"])


def test_empty_transcripts_are_kept_refused_or_skipped(
    tiny_corpus, classes, text_config
):
    manifest = tiny_corpus.manifest.copy()
    manifest.loc[[2, 5], "transcript"] = " "
    corpus = AudioCorpus(manifest, "corpus.csv")
    kept, _ = prepare_utterances(corpus, classes, text_config, LabelConfig())
    assert len(kept) == len(manifest)
    with pytest.raises(
        CorpusError, match=r"utterance .* has an empty transcript \(2 such"
    ):
        prepare_utterances(
            corpus,
            classes,
            text_config.model_copy(update={"empty_transcripts": "error"}),
            LabelConfig(),
        )
    table, skipped = prepare_utterances(
        corpus,
        classes,
        text_config.model_copy(update={"empty_transcripts": "skip"}),
        LabelConfig(),
    )
    assert len(table) == len(manifest) - 2
    assert skipped["reason"].tolist() == ["empty transcript"] * 2


def test_nan_audio_is_refused_naming_the_utterance(tmp_path, acoustic_config):
    import soundfile as sf

    from emotion_aware_loss.datasets import AudioManifestDataset

    wave = np.full(1600, 0.1, dtype=np.float32)
    sf.write(tmp_path / "ok.wav", wave, 16000, subtype="FLOAT")
    wave[100] = np.nan
    sf.write(tmp_path / "nan.wav", wave, 16000, subtype="FLOAT")
    pd.DataFrame(
        {
            "utterance_id": ["ok", "bad"],
            "speaker": "s",
            "transcript": "x",
            "label": "anger",
            "audio_path": ["ok.wav", "nan.wav"],
        }
    ).to_csv(tmp_path / "m.csv", index=False)
    corpus = AudioManifestDataset(str(tmp_path / "m.csv")).load()
    table = corpus.manifest[["utterance_id"]]
    with pytest.raises(CorpusError, match="utterance 'bad' at .*nan.wav holds NaN"):
        extract_acoustic_features(corpus, table, acoustic_config)


def test_constant_features_are_reported(caplog):
    from emotion_aware_loss.folds.cross_validation import fit_scaler

    features = np.random.default_rng(0).normal(size=(4, 3, 2)).astype("float32")
    features[..., 1] = 5.0
    with caplog.at_level("WARNING"):
        scaler = fit_scaler(features, np.array([3, 3, 3, 3]), np.arange(4))
    assert "feature(s) [1] are constant" in caplog.text
    assert scaler["std"][1] == 1.0


def test_sequence_length_and_vocabulary_follow_the_corpus():
    from emotion_aware_loss.config import TextConfig
    from emotion_aware_loss.folds.model_inputs import (
        corpus_sequence_length,
        corpus_vocabulary_size,
    )

    table = pd.DataFrame({"tokens": ["a b c", "a ! d e f", "", "b"]})
    assert corpus_sequence_length(table, TextConfig(max_tokens=48)) == 5
    assert corpus_sequence_length(table, TextConfig(max_tokens=3)) == 3
    assert corpus_vocabulary_size(table, TextConfig(max_vocab_size=5000)) == 7
    assert corpus_vocabulary_size(table, TextConfig(max_vocab_size=4)) == 4
    assert corpus_vocabulary_size(table, TextConfig(min_count=2)) == 2
    # no transcripts at all: the configured limits
    empty = pd.DataFrame({"tokens": ["", ""]})
    assert corpus_sequence_length(empty, TextConfig(max_tokens=48)) == 1
    speech_only = pd.DataFrame({"utterance_id": ["u1"]})
    assert corpus_sequence_length(speech_only, TextConfig(max_tokens=48)) == 48


@pytest.mark.parametrize("feature", ["logmel", "broad_functionals"])
def test_extraction_workers_give_the_serial_features(tiny_corpus, feature):
    table = tiny_corpus.manifest[["utterance_id"]].iloc[:7]
    config = AcousticConfig(feature=feature, n_mels=16, max_frames=120)
    serial, lengths = extract_acoustic_features(tiny_corpus, table, config)
    for workers in ("threads", "processes"):
        parallel, parallel_lengths = extract_acoustic_features(
            tiny_corpus,
            table,
            config.model_copy(
                update={"n_jobs": 2, "batch_size": 3, "workers": workers}
            ),
        )
        np.testing.assert_array_equal(parallel, serial)
        assert parallel_lengths["n_frames"].tolist() == lengths["n_frames"].tolist()


def test_opensmile_features_run_in_processes_even_when_threads_are_asked():
    threads = AcousticConfig(feature="egemaps", n_jobs=2, workers="threads")
    assert _workers(threads) == "processes"
    assert _workers(threads.model_copy(update={"feature": "mfcc"})) == "threads"
