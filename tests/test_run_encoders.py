"""End-to-end: openSMILE and pre-trained ONNX encoders through ``kedro run``.

Two tiny copies of the project: one with eGeMAPS speech features and an ONNX text
encoder, one with an ONNX speech encoder's frames and trainable token embeddings.
Each trains, saves the final model, classifies new files through the
``inference`` pipeline and ``predict()``, and its bundle refuses another encoder.
The encoders and tokenizer are built in the test (nothing is downloaded).
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import yaml

from emotion_aware_loss import predict
from emotion_aware_loss.inference.recognizer import EmotionRecognizer, RecognizerError

from . import tiny_encoders
from .tiny_project import TINY_PARAMETERS, copy_project, kedro, versions

pytestmark = pytest.mark.slow

ONE_VARIANT = """
loss_variants:
  cross_entropy: {loss: cross_entropy}
final_model:
  variant: cross_entropy
"""
INFERENCE_CATALOG = """
inference_corpus:
  type: emotion_aware_loss.datasets.AudioManifestDataset
  filepath: data/01_raw/new/manifest.csv
  labelled: false
"""
TRANSCRIPTS = ["I cannot believe you did that", "what a lovely day", ""]
WORDS = "i cannot believe you did that what a lovely day leave me alone so".split()


def _deep_update(base: dict, new: dict) -> dict:
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _deep_update(base[key], value)
        else:
            base[key] = value
    return base


def _project(path):
    """A tiny copy whose small settings are in conf/base, conf/local empty.

    Kedro merges ``--params`` into each environment's parameters before the
    environments replace each other's top-level blocks, so with a
    ``conf/local/parameters.yml`` a dotted ``--params`` key would drop the rest
    of its block; a fresh clone has none, and neither has this copy.
    """
    project = copy_project(path, "", INFERENCE_CATALOG)
    (project / "conf" / "local" / "parameters.yml").unlink()
    tiny = yaml.safe_load(TINY_PARAMETERS + ONE_VARIANT)
    for file in sorted((project / "conf" / "base").glob("parameters*.yml")):
        blocks = yaml.safe_load(file.read_text()) or {}
        for key in set(blocks) & set(tiny):
            value = tiny.pop(key)  # the variant list is replaced, not merged
            blocks[key] = (
                value if key == "loss_variants" else _deep_update(blocks[key], value)
            )
        file.write_text(yaml.safe_dump(blocks, sort_keys=False))
    assert not tiny, f"blocks not found in conf/base: {sorted(tiny)}"
    folder = project / "data" / "01_raw" / "new"
    folder.mkdir(parents=True)
    rows = []
    for i, pitch in enumerate([140, 230, 190]):
        t = np.arange(int(1.2 * 16000)) / 16000
        wave = 0.2 * np.sin(2 * np.pi * pitch * t * (1 + 0.1 * t))
        sf.write(folder / f"clip{i}.wav", wave.astype(np.float32), 16000)
        rows.append(
            {"utterance_id": f"clip{i}", "audio_path": f"clip{i}.wav"}
            | {"transcript": TRANSCRIPTS[i]}
        )
    pd.DataFrame(rows).to_csv(folder / "manifest.csv", index=False)
    return project


def _latest(folder):
    return versions(folder)[-1] / folder.name


def _check_inference(project):
    """The inference pipeline and predict() give the same probabilities."""
    kedro(project, "run", "--pipelines=inference")
    table = pd.read_csv(
        _latest(project / "data/07_model_output/inference_predictions.csv")
    )
    paths = [str(project / "data/01_raw/new" / f"clip{i}.wav") for i in range(3)]
    api = predict(paths, TRANSCRIPTS, model=project / "data/06_models/final_model")
    probs = [c for c in table.columns if c.startswith("prob_")]
    assert len(table) == len(api) == 3 and len(probs) == 5
    np.testing.assert_allclose(table[probs], api[probs], atol=1e-5)
    return table


@pytest.fixture(scope="module")
def egemaps_with_text_encoder(tmp_path_factory):
    """eGeMAPS vectors (given with --params) and an ONNX text encoder."""
    project = _project(tmp_path_factory.mktemp("egemaps_text"))
    encoders = project / "data" / "01_raw" / "encoders"
    model, tokenizer = tiny_encoders.text_encoder_with_tokenizer(encoders, WORDS)
    kedro(
        project,
        "run",
        "--params=preprocessing.acoustic.feature=egemaps,"
        f"preprocessing.text.encoder.path={model},"
        f"preprocessing.text.encoder.tokenizer={tokenizer}",
    )
    return project, model, tokenizer


def test_egemaps_and_a_text_encoder_run_end_to_end(egemaps_with_text_encoder):
    project, model, _ = egemaps_with_text_encoder
    spec = json.loads((project / "data/05_model_input/input_spec.json").read_text())
    assert (spec["acoustic_feature"], spec["n_frames"], spec["n_features"]) == (
        "egemaps",
        0,
        88,
    )
    assert spec["extractors"]["speech"]["library"] == "opensmile"
    assert (spec["text_input"], spec["text_features"]) == ("embeddings", 8)
    features = np.load(project / "data/04_feature/acoustic_features.npy")
    assert features.shape == (50, 1, 88) and np.isfinite(features).all()
    assert np.load(project / "data/04_feature/text_features.npy").shape == (50, 8)
    report = (_latest(project / "data/08_reporting/report.md")).read_text()
    assert "egemaps acoustic features (88 per utterance) (opensmile" in report
    assert f"from the frozen text encoder {model}" in report
    _check_inference(project)


def test_the_bundle_refuses_another_text_encoder(egemaps_with_text_encoder, tmp_path):
    project, model, tokenizer = egemaps_with_text_encoder
    bundle = _latest(project / "data/06_models/final_model")
    state = json.loads((bundle / "recognizer.json").read_text())
    recorded = state["input_spec"]["extractors"]["text"]
    assert recorded["file"]["path"] == str(model) and recorded["tokenizer"]["bytes"]
    moved = tmp_path / "moved.onnx"
    shutil.copy(model, moved)
    tiny_encoders.text_encoder(model, vocab_size=64, seed=1)  # another model there
    with pytest.raises(RecognizerError, match=r"text encoder .*different file"):
        EmotionRecognizer.load(bundle)
    recognizer = EmotionRecognizer.load(bundle, encoder_paths={"text": str(moved)})
    assert recognizer.text.encoder.path == str(moved)
    paths = [str(project / "data/01_raw/new" / f"clip{i}.wav") for i in range(3)]
    table = predict(paths, TRANSCRIPTS, model=recognizer)
    assert table["predicted_argmax"].notna().all()
    shutil.copy(moved, model)  # restore for any later use


def test_an_onnx_speech_encoder_runs_end_to_end(tmp_path):
    project = _project(tmp_path / "speech_encoder")
    relative = "data/01_raw/encoders/wav2vec_tiny.onnx"
    (project / relative).parent.mkdir(parents=True)
    tiny_encoders.speech_encoder(project / relative, attention_mask=True)
    kedro(
        project,
        "run",
        "--params=preprocessing.acoustic.feature=encoder,"
        f"preprocessing.acoustic.encoder.path={relative},"
        "preprocessing.acoustic.encoder.pooling=frames,"
        "preprocessing.acoustic.max_frames=80",
    )
    spec = json.loads((project / "data/05_model_input/input_spec.json").read_text())
    assert (spec["acoustic_feature"], spec["n_frames"], spec["n_features"]) == (
        "encoder",
        80,
        8,
    )
    assert spec["extractors"]["speech"]["file"]["path"] == relative
    assert spec["text_input"] == "tokens"
    features = np.load(project / "data/04_feature/acoustic_features.npy")
    assert features.shape == (50, 80, 8) and np.isfinite(features).all()
    table = _check_inference(project)  # predict() runs from another directory
    assert set(table["predicted_argmax"]) <= {
        "anger",
        "surprise",
        "happiness",
        "sadness",
        "neutral",
    }
    # the bundle refuses a different encoder file at the recorded path
    bundle = _latest(project / "data/06_models/final_model")
    tiny_encoders.speech_encoder(project / relative, seed=3)
    with pytest.raises(RecognizerError, match=r"speech encoder .*different file"):
        EmotionRecognizer.load(bundle)
    (project / relative).unlink()
    with pytest.raises(RecognizerError, match=r"wav2vec_tiny\.onnx does not exist"):
        EmotionRecognizer.load(bundle)
