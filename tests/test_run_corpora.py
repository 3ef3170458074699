"""End-to-end: other corpus layouts and single-modality models through ``kedro run``.

Each case changes only ``conf/local`` of a copy of this project, as a user would.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from emotion_aware_loss.datasets import DemoCorpusDataset

from .corpus_layouts import write_shemo
from .tiny_project import TINY_PARAMETERS, TWO_VARIANTS, copy_project, kedro, versions

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo_audio(tmp_path_factory):
    folder = tmp_path_factory.mktemp("demo")
    return DemoCorpusDataset(str(folder), n_utterances=60, n_speakers=4, seed=5).load()


def _project(
    tmp_path: Path, catalog: str = "", modalities: str = "", acoustic: str = ""
) -> Path:
    parameters = TINY_PARAMETERS + TWO_VARIANTS
    if modalities:
        parameters = parameters.replace(
            "model:\n", f"model:\n  modalities: {modalities}\n"
        )
    if acoustic:
        # conf/local replaces a whole top-level block, so all of it is given
        parameters += (
            f"preprocessing:\n  acoustic: {acoustic}\n  text: {{}}\n  labels: {{}}\n"
        )
    return copy_project(tmp_path, parameters, catalog)


# each network also averaged with the linear baseline (evaluation.ensembles: all)
NETWORKS = {"cross_entropy", "emotion_aware"} | {
    "ensemble_cross_entropy",
    "ensemble_emotion_aware",
}
BOTH = NETWORKS | {"linear_speech", "linear_text", "linear_fusion"}


def _summary(project: Path) -> dict:
    folder = project / "data" / "08_reporting" / "cv_summary.json"
    (version,) = versions(folder)
    return json.loads((version / "cv_summary.json").read_text())


def test_shemo_layout_runs_with_fear_dropped(tmp_path, demo_audio):
    shemo = tmp_path / "shemo"
    records = write_shemo(demo_audio, shemo, fear_every=9)
    project = _project(
        tmp_path / "project",
        catalog=f"""
corpus:
  type: emotion_aware_loss.datasets.ShemoDataset
  path: {shemo}
  json_path: {shemo / "shemo.json"}
  labels_from: json
""",
    )
    kedro(project, "run")
    summary = _summary(project)
    assert set(summary["variants"]) == BOTH
    (version,) = versions(project / "data/02_intermediate/skipped_utterances.csv")
    skipped = (version / "skipped_utterances.csv").read_text().splitlines()[1:]
    n_fear = sum(r["emotion"] == "fearful" for r in records.values())
    assert len(skipped) == n_fear > 0
    assert all(line.split(",")[1] == "fear" for line in skipped)


def test_speech_only_model_runs(tmp_path):
    project = _project(tmp_path, modalities="[speech]")
    kedro(project, "run")
    assert set(_summary(project)["variants"]) == NETWORKS | {"linear_speech"}
    assert _model_inputs(project) == ["speech"]


def test_text_only_corpus_runs_a_text_model(tmp_path, demo_audio):
    manifest = demo_audio.manifest.drop(columns="audio_path")
    manifest = manifest.rename(columns={"transcript": "text", "label": "emotion"})
    manifest.to_csv(tmp_path / "texts.csv", index=False)
    catalog = f"""
corpus:
  type: emotion_aware_loss.datasets.AudioManifestDataset
  filepath: {tmp_path / "texts.csv"}
  columns: {{text: transcript, emotion: label}}
"""
    project = _project(tmp_path / "project", catalog=catalog, modalities="[text]")
    kedro(project, "run")
    assert set(_summary(project)["variants"]) == NETWORKS | {"linear_text"}
    assert _model_inputs(project) == ["text"]
    # the same corpus with a speech model fails before training, saying why
    result = kedro(project, "run", "--params=model.modalities=[speech]", check=False)
    assert result.returncode != 0
    assert "corpus has no audio" in result.stdout + result.stderr
    assert "train_model_node" not in result.stdout + result.stderr


def test_functionals_and_pre_trained_word_vectors_run(tmp_path, demo_audio):
    words = sorted(
        {w.lower() for t in demo_audio.manifest["transcript"] for w in t.split()}
    )
    rows = [
        f"{w} " + " ".join(f"{(i * 7 + d) % 11 / 10:.1f}" for d in range(8))
        for i, w in enumerate(words)
    ]
    (tmp_path / "words.vec").write_text(f"{len(rows)} 8\n" + "\n".join(rows) + "\n")
    catalog = f"""
word_vectors:
  type: emotion_aware_loss.datasets.WordVectorsDataset
  filepath: {tmp_path / "words.vec"}
"""
    project = _project(
        tmp_path / "project", catalog=catalog, acoustic="{feature: functionals}"
    )
    kedro(project, "run", "--pipelines=preprocessing,fold_generation,model_building")
    spec = json.loads((project / "data/05_model_input/input_spec.json").read_text())
    assert spec["n_frames"] == 0 and spec["n_features"] == 68
    import numpy as np

    matrix = np.load(project / "data/05_model_input/folds/fold_0/embedding_matrix.npy")
    assert matrix.shape == (spec["vocab_size"], 8) and matrix[2:].any()
    kedro(project, "run")
    assert set(_summary(project)["variants"]) == BOTH


def _model_inputs(project: Path) -> list[str]:
    import keras

    import emotion_aware_loss.losses.family  # noqa: F401  (registers the custom objects)

    folder = project / "data/06_models/emotion_aware/fold_0/model.keras"
    (version,) = versions(folder)
    model = keras.models.load_model(version / "model.keras")
    return [t.name.split(":")[0] for t in model.inputs]


def test_seed_numpy_layout_runs_from_features(tmp_path):
    from .datasets.test_precomputed import write_seed_layout

    seed = tmp_path / "seed"
    seed.mkdir()
    write_seed_layout(seed)
    catalog = f"""
corpus_features:
  type: emotion_aware_loss.datasets.PrecomputedCorpusDataset
  features: {seed / "selected_features_data.npy"}
  labels: {seed / "labels.npy"}
  label_names: [anger, surprise, happiness, sadness, neutral]
  token_ids: {seed / "padded_docs.npy"}
word_vectors:
  type: emotion_aware_loss.datasets.EmbeddingMatrixDataset
  filepath: {seed / "embedding_matrix.npy"}
"""
    project = _project(tmp_path / "project", catalog=catalog)
    kedro(project, "run", "--pipelines=from_features")
    assert set(_summary(project)["variants"]) == BOTH
    assert not (project / "data/01_raw/demo_corpus").exists()  # no audio involved
    spec = json.loads((project / "data/05_model_input/input_spec.json").read_text())
    assert spec["n_frames"] == 0 and spec["n_features"] == 52
