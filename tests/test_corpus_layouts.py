"""Corpora read from their file names: the registered layouts and the dataset."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from kedro.io import DatasetError

from emotion_aware_loss.config import LabelConfig
from emotion_aware_loss.corpora import layouts
from emotion_aware_loss.corpora.corpus import CorpusError
from emotion_aware_loss.corpora.layouts import LAYOUTS, register_layout
from emotion_aware_loss.datasets import FileNameCorpusDataset
from emotion_aware_loss.pipelines.preprocessing import (
    create_pipeline as preprocessing_pipeline,
)

from .conftest import CLASSES, SEED_MATRIX, run_pipeline


def _write(folder, *names, seconds=0.2):
    folder.mkdir(parents=True, exist_ok=True)
    wave = np.sin(np.linspace(0, 200, int(16000 * seconds))).astype(np.float32)
    for name in names:
        sf.write(folder / name, 0.1 * wave, 16000)


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_every_registered_layout_reads_its_example(name, tmp_path):
    layout = LAYOUTS[name]
    assert layout.example and layout.reference
    _write(tmp_path / "audio", f"{layout.example}.wav")
    corpus = FileNameCorpusDataset(path=str(tmp_path / "audio"), layout=name).load()
    (row,) = corpus.manifest.to_dict("records")
    assert row["utterance_id"] == layout.example
    assert row["label"] in layout.labels.values()
    assert row["speaker"] and row["transcript"] == ""


def test_the_examples_say_what_they_should():
    read = {n: LAYOUTS[n].utterance(LAYOUTS[n].example) for n in LAYOUTS}
    assert read["emodb"] == {
        "utterance_id": "03a01Fa",
        "speaker": "03",
        "label": "happiness",
    }
    assert read["ravdess"]["label"] == "anger" and read["ravdess"]["speaker"] == "12"
    assert read["nemo"] == {
        "utterance_id": "EB0_anger_1",
        "speaker": "EB0",
        "label": "anger",
    }
    assert LAYOUTS["shemo"].utterance("f21n37") == {
        "utterance_id": "f21n37",
        "speaker": "F21",
        "label": "neutral",
    }


def test_a_catalog_layout_of_its_own(tmp_path):
    _write(tmp_path / "a", "spk1_ang_1.wav", "spk1_sad_2.flac")
    (tmp_path / "a" / "notes.txt").write_text("not audio")  # other files are left
    _write(tmp_path / "a" / "more", "spk2_hap_1.WAV")
    corpus = FileNameCorpusDataset(
        path=str(tmp_path / "a"),
        pattern=r"^(?P<speaker>spk\d+)_(?P<label>[a-z]+)_\d+$",
        labels={"ang": "anger", "hap": "happiness", "sad": "sadness"},
    ).load()
    table = corpus.manifest.set_index("utterance_id")
    assert table["label"].to_dict() == {
        "spk1_ang_1": "anger",
        "spk1_sad_2": "sadness",
        "spk2_hap_1": "happiness",
    }
    assert table.loc["spk2_hap_1", "speaker"] == "spk2"
    assert corpus.read_audio(0, 16000).shape == (3200,)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"layout": "emodbb"}, r"unknown corpus layout 'emodbb'; expected one of \["),
        ({}, "either layout .* or pattern and labels"),
        ({"layout": "emodb", "pattern": "x"}, "either layout"),
        (
            {"pattern": r"^(?P<code>\w+)$", "labels": {"a": "anger"}},
            "named group 'label'",
        ),
        ({"pattern": r"^(?P<label>\w+)$", "labels": {"a": "anger"}}, r"\['speaker'\]"),
        ({"pattern": r"^(?P<label>\w+$", "labels": {"a": "anger"}}, "does not compile"),
        ({"layout": "emodb", "on_bad_audio": "warn"}, "on_bad_audio"),
    ],
)
def test_bad_settings_are_refused_when_the_catalog_is_read(
    arguments, message, tmp_path
):
    with pytest.raises(DatasetError, match=message):
        FileNameCorpusDataset(path=str(tmp_path), **arguments)


def test_a_name_the_layout_cannot_read_is_named(tmp_path):
    _write(tmp_path / "emodb", "03a01Fa.wav", "03a01Xa.wav")
    dataset = FileNameCorpusDataset(path=str(tmp_path / "emodb"), layout="emodb")
    with pytest.raises(
        CorpusError, match=r"03a01Xa.wav: the file name '03a01Xa' is not"
    ):
        dataset.load()
    shutil.rmtree(tmp_path / "emodb")
    _write(tmp_path / "emodb", "3a01Fa.wav")
    with pytest.raises(CorpusError, match=r"3a01Fa.wav: .* \(e.g. 03a01Fa\)"):
        dataset.load()
    with pytest.raises(CorpusError, match="holds no"):
        FileNameCorpusDataset(
            path=str(tmp_path / "emodb"), layout="ravdess", extensions=[".mp3"]
        ).load()


def test_a_layout_registered_in_a_test_runs_through_preprocessing(
    monkeypatch, tiny_corpus, text_config, acoustic_config, tmp_path
):
    monkeypatch.setattr(layouts, "LAYOUTS", dict(LAYOUTS))
    codes = {c: c[:3] for c in CLASSES}
    register_layout(
        "three_letters",
        pattern=r"^(?P<speaker>[a-z]+\d*)-(?P<label>[a-z]{3})-\d+$",
        labels={code: c for c, code in codes.items()},
        example="spk1-ang-1",
        reference="this test",
    )
    folder = tmp_path / "named"
    folder.mkdir()
    for i, row in tiny_corpus.manifest.iterrows():
        speaker = row["speaker"].replace("_", "").lower()
        shutil.copy(
            row["audio_path"], folder / f"{speaker}-{codes[row['label']]}-{i}.wav"
        )
    corpus = FileNameCorpusDataset(path=str(folder), layout="three_letters").load()
    assert len(corpus) == len(tiny_corpus)
    counts = corpus.manifest["label"].value_counts().sort_index()
    assert counts.equals(tiny_corpus.manifest["label"].value_counts().sort_index())
    preprocessed = run_pipeline(
        preprocessing_pipeline(),
        {
            "corpus": corpus,
            "emotion_similarity": pd.DataFrame(
                SEED_MATRIX, index=CLASSES, columns=CLASSES
            ),
            "params:classes": list(CLASSES),
            "params:preprocessing.text": text_config,
            "params:preprocessing.labels": LabelConfig(),
            "params:preprocessing.acoustic": acoustic_config,
        },
    )
    assert preprocessed["acoustic_features"].shape[0] == len(tiny_corpus)
    table = preprocessed["model_input_table"]
    assert table["speaker"].nunique() == tiny_corpus.manifest["speaker"].nunique()


def test_the_corpora_page_names_every_layout():
    text = (Path(__file__).resolve().parents[1] / "docs" / "corpora.md").read_text()
    for name, layout in LAYOUTS.items():
        assert f"| `{name}` | `{layout.example}` |" in text, name
