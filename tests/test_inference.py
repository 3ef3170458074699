"""End-to-end: ``kedro run`` writes the final model, which then classifies new files.

A tiny copy of the project trains (50 utterances, 2 folds, 2 epochs, two loss
variants); three new WAV files with transcripts go through
``kedro run --pipelines=inference`` and through :func:`emotion_aware_loss.predict`.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from .tiny_project import TINY_PARAMETERS, TWO_VARIANTS, copy_project, kedro, versions

pytestmark = pytest.mark.slow

INFERENCE_CATALOG = """
inference_corpus:
  type: emotion_aware_loss.datasets.AudioManifestDataset
  filepath: data/01_raw/new/manifest.csv
  labelled: false
"""
TRANSCRIPTS = ["I cannot believe you did that", "what a lovely day", ""]


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    path = copy_project(
        tmp_path_factory.mktemp("inference_project"),
        TINY_PARAMETERS + TWO_VARIANTS,
        INFERENCE_CATALOG,
    )
    kedro(path, "run")
    return path


@pytest.fixture(scope="module")
def new_files(project):
    """Three new recordings (one at 22.05 kHz, resampled like training audio)."""
    folder = project / "data" / "01_raw" / "new"
    folder.mkdir()
    rng = np.random.default_rng(7)
    rows = []
    for i, (pitch, rate) in enumerate([(140, 16000), (230, 16000), (190, 22050)]):
        t = np.arange(int(1.2 * rate)) / rate
        wave = 0.2 * np.sin(2 * np.pi * pitch * t * (1 + 0.1 * t))
        wave += 0.01 * rng.standard_normal(len(t))
        sf.write(folder / f"clip{i}.wav", wave.astype(np.float32), rate)
        rows.append(
            {
                "utterance_id": f"clip{i}",
                "audio_path": f"clip{i}.wav",
                "transcript": TRANSCRIPTS[i],
            }
        )
    pd.DataFrame(rows).to_csv(folder / "manifest.csv", index=False)
    return folder


def test_kedro_run_saves_a_final_model_that_loads_alone(project):
    from emotion_aware_loss.inference.recognizer import EmotionRecognizer

    (version,) = versions(project / "data/06_models/final_model")
    recognizer = EmotionRecognizer.load(version / "final_model")
    assert recognizer.variant == "emotion_aware"
    assert recognizer.modalities == ("speech", "text")
    assert len(recognizer.vocabulary) > 0
    history_file = project / "data/07_model_output/final_model/history.json"
    (history_version,) = versions(history_file)
    history = json.loads((history_version / "history.json").read_text())
    best = sorted(history["fold_best_epochs"].values())
    assert history["epochs"] == int(np.floor(np.median(best) + 0.5))
    assert len(history["loss"]) == history["epochs"]
    assert history["n_utterances"] == recognizer.details["n_utterances"] == 50


def test_inference_pipeline_and_predict_agree_on_new_files(
    project, new_files, monkeypatch
):
    from emotion_aware_loss import predict

    kedro(project, "run", "--pipelines=inference")
    (version,) = versions(project / "data/07_model_output/inference_predictions.csv")
    written = pd.read_csv(version / "inference_predictions.csv")
    classes = ["anger", "surprise", "happiness", "sadness", "neutral"]
    probs = [f"prob_{c}" for c in classes]
    assert list(written.columns) == [
        "utterance_id",
        *probs,
        "predicted_argmax",
        "predicted_min_expected_cost",
    ]
    assert written["utterance_id"].tolist() == ["clip0", "clip1", "clip2"]
    np.testing.assert_allclose(written[probs].sum(axis=1), 1.0, rtol=1e-5)
    assert written["predicted_min_expected_cost"].isin(classes).all()

    # the Python API from the project folder uses the latest final model
    monkeypatch.chdir(project)
    paths = [f"data/01_raw/new/clip{i}.wav" for i in range(3)]
    api = predict(paths, TRANSCRIPTS)
    assert api["utterance_id"].tolist() == paths
    np.testing.assert_allclose(
        api[probs].to_numpy(), written[probs].to_numpy(), rtol=1e-4, atol=1e-6
    )
    for rule in ("predicted_argmax", "predicted_min_expected_cost"):
        assert api[rule].tolist() == written[rule].tolist()


def test_a_missing_new_file_stops_inference_naming_it(project, new_files):
    broken = new_files / "broken.csv"
    pd.DataFrame(
        {"utterance_id": ["gone"], "audio_path": ["gone.wav"], "transcript": ["x"]}
    ).to_csv(broken, index=False)
    env = project / "conf" / "broken"
    env.mkdir()
    (env / "catalog.yml").write_text(
        INFERENCE_CATALOG.replace("manifest.csv", "broken.csv")
    )
    result = kedro(project, "run", "--pipelines=inference", "--env=broken", check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "gone.wav" in output and "'gone'" in output


def test_an_unknown_final_variant_fails_before_training(project):
    result = kedro(
        project,
        "run",
        "--pipelines=final_model",
        "--params=final_model.variant=focal",
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "final_model.variant 'focal'" in output
    assert "Running node" not in output
