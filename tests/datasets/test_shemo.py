import json

import pytest
from kedro.io import DatasetError

from emotion_aware_loss.datasets import CorpusError, ShemoDataset

from ..corpus_layouts import write_shemo


@pytest.fixture(scope="module")
def shemo(tiny_corpus, tmp_path_factory):
    folder = tmp_path_factory.mktemp("shemo")
    records = write_shemo(tiny_corpus, folder, fear_every=7)
    return folder, records


def test_labels_speakers_and_transcripts_from_the_release_layout(shemo):
    folder, records = shemo
    corpus = ShemoDataset(str(folder), json_path=str(folder / "shemo.json")).load()
    table = corpus.manifest.set_index("utterance_id")
    assert len(table) == len(records)
    name = next(n for n in records if n[3] == "S")
    assert table.loc[name, "label"] == "sadness"
    assert table.loc[name, "speaker"] == name[:3]
    assert table.loc[name, "transcript"] == records[name]["transcript"]
    assert "fear" in set(table["label"])  # dropped later, by preprocessing.labels
    assert corpus.read_audio(0, 16000).size > 0


def test_labels_from_json_and_without_json(shemo):
    folder, records = shemo
    from_json = ShemoDataset(
        str(folder), json_path=str(folder / "shemo.json"), labels_from="json"
    ).load()
    from_names = ShemoDataset(str(folder)).load()  # no JSON: empty transcripts
    assert from_json.manifest["label"].tolist() == from_names.manifest["label"].tolist()
    assert set(from_names.manifest["transcript"]) == {""}


def test_bad_shemo_layouts_are_named(shemo, tmp_path):
    folder, records = shemo
    bad = tmp_path / "shemo"
    bad.mkdir()
    (bad / "recording.wav").write_bytes(b"")
    with pytest.raises(
        CorpusError,
        match=r"recording.wav: the file name 'recording' is not of the 'shemo' layout "
        r"\(e.g. F21N37\)",
    ):
        ShemoDataset(str(bad)).load()
    partial = dict(list(records.items())[1:])
    (tmp_path / "partial.json").write_text(json.dumps(partial))
    first = next(iter(records))
    with pytest.raises(CorpusError, match=f"no record for utterance '{first}'"):
        ShemoDataset(str(folder), json_path=str(tmp_path / "partial.json")).load()
    odd = {k: v | {"emotion": "bored"} for k, v in records.items()}
    (tmp_path / "odd.json").write_text(json.dumps(odd))
    with pytest.raises(CorpusError, match="has emotion 'bored'"):
        ShemoDataset(
            str(folder), json_path=str(tmp_path / "odd.json"), labels_from="json"
        ).load()
    with pytest.raises(DatasetError, match="needs the ShEMO JSON"):
        ShemoDataset(str(folder), labels_from="json")
