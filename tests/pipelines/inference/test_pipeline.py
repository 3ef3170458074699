from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from emotion_aware_loss.config import FinalModelConfig
from emotion_aware_loss.datasets import AudioManifestDataset, CorpusError
from emotion_aware_loss.folds.cross_validation import model_inputs
from emotion_aware_loss.inference.prediction import predict
from emotion_aware_loss.pipelines.final_model import create_pipeline as final_model
from emotion_aware_loss.pipelines.inference import create_pipeline as inference
from emotion_aware_loss.pipelines.model_building import (
    create_pipeline as model_pipeline,
)
from emotion_aware_loss.training.fitting import select_inputs

from ...conftest import run_pipeline

PICKED = [3, 17, 42]


@pytest.fixture
def recognizer(stage_inputs, acoustic_config, training_config, two_fold_layout):
    inputs = stage_inputs | {
        "params:final_model": FinalModelConfig(epochs=2),
        "params:loss_variants": {"emotion_aware": {"loss": "emotion_aware"}},
        "params:training": training_config,
        "params:preprocessing.acoustic": acoustic_config,
        "emotion_aware.fold_0.history": {"best_epoch": [1]},
        "emotion_aware.fold_1.history": {"best_epoch": [1]},
    }
    inputs |= run_pipeline(model_pipeline(), inputs)
    return run_pipeline(final_model(), inputs)["final_model"]


def _manifest(tiny_corpus, folder: Path, rows: list[int], **columns) -> Path:
    table = tiny_corpus.manifest.iloc[rows]
    frame = pd.DataFrame(
        {
            "utterance_id": [f"new_{i}" for i in rows],
            "audio_path": table["audio_path"].tolist(),
            **columns,
        }
    )
    path = folder / "manifest.csv"
    frame.to_csv(path, index=False)
    return path


def test_inference_matches_the_training_features(
    recognizer, tiny_corpus, preprocessed, tmp_path
):
    """New audio goes through exactly the preprocessing of the training audio."""
    transcripts = tiny_corpus.manifest["transcript"].iloc[PICKED].tolist()
    path = _manifest(tiny_corpus, tmp_path, PICKED, transcript=transcripts)
    corpus = AudioManifestDataset(
        str(path), audio_root="/", allow_outside_root=True, labelled=False
    ).load()
    out = run_pipeline(
        inference(), {"inference_corpus": corpus, "final_model": recognizer}
    )
    table = out["inference_predictions"]
    classes = recognizer.classes
    assert table["utterance_id"].tolist() == [f"new_{i}" for i in PICKED]
    assert table["predicted_argmax"].isin(classes).all()
    assert table["predicted_min_expected_cost"].isin(classes).all()

    utterances = preprocessed["model_input_table"]
    rows = np.flatnonzero(
        utterances["utterance_id"].isin(
            tiny_corpus.manifest["utterance_id"].iloc[PICKED]
        )
    )
    x, _ = model_inputs(
        utterances,
        preprocessed["acoustic_features"],
        rows,
        recognizer.feature_scaler,
        recognizer.vocabulary,
        recognizer.input_spec.max_tokens,
    )
    expected = recognizer.model.predict(select_inputs(recognizer.model, x), verbose=0)
    probs = table[[f"prob_{c}" for c in classes]].to_numpy()
    np.testing.assert_allclose(probs, expected, rtol=1e-4, atol=1e-6)

    # predict() takes the same path
    api = predict(
        tiny_corpus.manifest["audio_path"].iloc[PICKED].tolist(),
        transcripts,
        model=recognizer,
    )
    np.testing.assert_allclose(
        api[[f"prob_{c}" for c in classes]].to_numpy(), probs, rtol=1e-5, atol=1e-7
    )


def test_a_manifest_without_transcripts_or_labels_is_accepted(
    recognizer, tiny_corpus, tmp_path
):
    path = _manifest(tiny_corpus, tmp_path, PICKED[:2])
    corpus = AudioManifestDataset(
        str(path), audio_root="/", allow_outside_root=True, labelled=False
    ).load()
    out = run_pipeline(
        inference(), {"inference_corpus": corpus, "final_model": recognizer}
    )
    assert len(out["inference_predictions"]) == 2


def test_bad_manifests_are_refused_naming_the_fault(recognizer, tiny_corpus, tmp_path):
    path = _manifest(tiny_corpus, tmp_path, PICKED[:1])
    frame = pd.read_csv(path)
    frame.loc[0, "audio_path"] = "/missing/new.wav"
    frame.to_csv(path, index=False)
    dataset = AudioManifestDataset(
        str(path), audio_root="/", allow_outside_root=True, labelled=False
    )
    with pytest.raises(CorpusError, match=r"/missing/new\.wav of utterance 'new_3'"):
        dataset.load()
    frame.iloc[:0].to_csv(path, index=False)
    with pytest.raises(CorpusError, match="no utterances to classify"):
        run_pipeline(
            inference(), {"inference_corpus": dataset.load(), "final_model": recognizer}
        )
    # a labelled corpus manifest still needs its labels
    frame = pd.DataFrame({"utterance_id": ["a"], "audio_path": ["x.wav"]})
    frame.to_csv(path, index=False)
    with pytest.raises(CorpusError, match="missing column"):
        AudioManifestDataset(str(path)).load()
