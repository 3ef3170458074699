"""Shared fixtures: a tiny demo corpus and small configurations."""

from __future__ import annotations

import os

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from emotion_aware_loss.config import (  # noqa: E402
    AcousticConfig,
    BaselinesConfig,
    CrossValidationConfig,
    EvaluationConfig,
    LabelConfig,
    ModelConfig,
    TextConfig,
    TrainingConfig,
)
from emotion_aware_loss.datasets import AudioCorpus, DemoCorpusDataset  # noqa: E402

CLASSES = ["anger", "surprise", "happiness", "sadness", "neutral"]
SEED_MATRIX = [
    [1.0, 0.5, 0.2, 0.6, 0.3],
    [0.5, 1.0, 0.6, 0.4, 0.5],
    [0.2, 0.6, 1.0, 0.2, 0.5],
    [0.6, 0.4, 0.2, 1.0, 0.5],
    [0.3, 0.5, 0.5, 0.5, 1.0],
]


@pytest.fixture(scope="session")
def classes() -> list[str]:
    return list(CLASSES)


@pytest.fixture
def similarity_frame() -> pd.DataFrame:
    return pd.DataFrame(SEED_MATRIX, index=CLASSES, columns=CLASSES)


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory) -> AudioCorpus:
    """60 synthetic utterances (every class has at least 4)."""
    root = tmp_path_factory.mktemp("corpus") / "demo"
    return DemoCorpusDataset(str(root), n_utterances=60, n_speakers=4, seed=3).load()


@pytest.fixture(scope="session")
def acoustic_config() -> AcousticConfig:
    return AcousticConfig(n_mels=16, max_frames=120)


@pytest.fixture(scope="session")
def text_config() -> TextConfig:
    return TextConfig(max_tokens=12, max_vocab_size=200)


@pytest.fixture(scope="session")
def cv_config() -> CrossValidationConfig:
    return CrossValidationConfig(n_folds=2, validation_fraction=0.2)


@pytest.fixture(scope="session")
def model_config() -> ModelConfig:
    return ModelConfig.model_validate(
        {
            "speech": {"blocks": [{"filters": 8, "kernel_size": 3, "dropout": 0.1}]},
            "text": {"embedding_dim": 8, "filters": 8},
            "fusion": {"dense_units": [8]},
        }
    )


@pytest.fixture(scope="session")
def training_config() -> TrainingConfig:
    return TrainingConfig(epochs=2, batch_size=16, patience=1)


def run_pipeline(pipeline, inputs: dict) -> dict:
    """Run ``pipeline`` on in-memory inputs and return all its outputs, loaded."""
    from kedro.io import DataCatalog, MemoryDataset  # noqa: PLC0415
    from kedro.runner import SequentialRunner  # noqa: PLC0415

    class KeptMemoryDataset(MemoryDataset):
        """Keeps intermediate outputs after the runner releases them."""

        def _release(self) -> None:
            pass

    datasets = {
        name: KeptMemoryDataset(copy_mode="assign") for name in pipeline.all_outputs()
    }
    datasets |= {
        name: MemoryDataset(value, copy_mode="assign")
        for name, value in inputs.items()
        if name in pipeline.inputs()
    }
    catalog = DataCatalog(datasets)
    SequentialRunner().run(pipeline, catalog)
    return {name: catalog.load(name) for name in pipeline.all_outputs()}


@pytest.fixture
def two_fold_layout(monkeypatch):
    """Build fold pipelines for 2 folds and the two default variants."""
    from emotion_aware_loss.config import layout  # noqa: PLC0415

    value = layout.Layout(2, ("cross_entropy", "emotion_aware"))
    monkeypatch.setattr(layout, "_run_layout", value)
    return value


@pytest.fixture(scope="session")
def preprocessed(tiny_corpus, classes, acoustic_config, text_config) -> dict:
    """Outputs of the preprocessing pipeline on the tiny corpus."""
    from emotion_aware_loss.pipelines.preprocessing import create_pipeline  # noqa: PLC0415

    frame = pd.DataFrame(SEED_MATRIX, index=CLASSES, columns=CLASSES)
    return run_pipeline(
        create_pipeline(),
        {
            "corpus": tiny_corpus,
            "emotion_similarity": frame,
            "params:classes": classes,
            "params:preprocessing.text": text_config,
            "params:preprocessing.labels": LabelConfig(),
            "params:preprocessing.acoustic": acoustic_config,
        },
    )


@pytest.fixture(scope="session")
def stage_inputs(preprocessed, cv_config, text_config, model_config) -> dict:
    """What the stages after preprocessing read: its outputs and their parameters."""
    from emotion_aware_loss.datasets import WordVectors  # noqa: PLC0415

    return {
        "model_input_table": preprocessed["model_input_table"],
        "acoustic_features": preprocessed["acoustic_features"],
        "text_features": preprocessed["text_features"],
        "speaker_statistics": preprocessed["speaker_statistics"],
        "similarity_matrix": preprocessed["similarity_matrix"],
        "input_spec": preprocessed["input_spec"],
        "params:cross_validation": cv_config,
        "params:seed": 1,
        "params:preprocessing.text": text_config,
        "word_vectors": WordVectors(None),
        "params:model": model_config,
        # read by the evaluation's report nodes
        "similarity_valence_arousal": preprocessed["similarity_matrix"],
        "params:preprocessing": {"text": text_config.model_dump()},
        "params:evaluation": EvaluationConfig(bootstrap={"n_resamples": 100}),
        "params:baselines": BaselinesConfig(text={"min_df": 1}),
    }
