"""The run's input spec: a typed object, its JSON form and its catalog dataset."""

from __future__ import annotations

import dataclasses
import json

import pytest
from kedro.io import DatasetError

from emotion_aware_loss.datasets import InputSpecDataset
from emotion_aware_loss.models.inputs import InputSpec

SPEC = InputSpec(
    classes=("anger", "sadness"),
    n_frames=0,
    n_features=16,
    max_tokens=12,
    vocab_size=40,
    acoustic_feature="functionals",
    extractors={"speech": {"feature": "functionals", "library": "librosa"}},
)


def test_the_json_form_round_trips():
    data = SPEC.to_dict()
    assert data["classes"] == ["anger", "sadness"]
    assert json.loads(json.dumps(data)) == data
    assert InputSpec.from_dict(data) == SPEC


def test_keys_of_earlier_versions_take_their_defaults():
    data = SPEC.to_dict()
    for key in ("speech", "text_input", "text_features", "text_frames", "extractors"):
        del data[key]
    spec = InputSpec.from_dict(data)
    assert spec.speech and not spec.embedded_text
    assert (spec.text_features, spec.text_frames, spec.extractors) == (0, 0, {})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"n_mels": 40}, r"spec.json: unknown key\(s\) \['n_mels'\]"),
        ({"classes": None}, r"spec.json: missing key\(s\) \['classes'\]"),
        ({"text_input": "chars"}, "text_input must be 'tokens' or 'embeddings'"),
    ],
)
def test_a_bad_spec_names_the_key(change, message):
    data = SPEC.to_dict() | change
    data = {k: v for k, v in data.items() if v is not None}
    with pytest.raises(ValueError, match=message):
        InputSpec.from_dict(data, source="spec.json")


def test_the_dataset_saves_json_and_loads_the_object(tmp_path):
    path = tmp_path / "input_spec.json"
    dataset = InputSpecDataset(filepath=str(path))
    dataset.save(SPEC)
    assert json.loads(path.read_text())["n_features"] == 16
    assert dataset.load() == SPEC
    with pytest.raises(DatasetError, match="saves an InputSpec, got dict"):
        dataset.save(SPEC.to_dict())
    path.write_text(json.dumps(SPEC.to_dict() | {"n_mels": 40}))
    with pytest.raises(DatasetError, match="input_spec.json: unknown key"):
        dataset.load()


def test_the_file_keeps_its_key_order():
    assert list(SPEC.to_dict()) == [
        "speech",
        "n_frames",
        "n_features",
        "acoustic_feature",
        "max_tokens",
        "vocab_size",
        "classes",
        "text_input",
        "text_features",
        "text_frames",
        "extractors",
    ]
    assert set(SPEC.to_dict()) == {f.name for f in dataclasses.fields(InputSpec)}
