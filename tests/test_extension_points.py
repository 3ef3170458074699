"""A new loss or feature set joins the project from one place: its registration.

The loss and the feature set below exist only in this test. Registering the loss is
all it takes for the parameters to accept it (with its hyper-parameter, default and
bound), for a sweep to vary its hyper-parameter, for the stacked training and the
evaluation to train and score it, for a saved model to reload with it, and for the
convex fit to use it. Registering the feature set is all it takes for the
parameters to accept it and for preprocessing to extract it, and the stages after
it to train and score a model on it.
"""

from __future__ import annotations

import keras
import numpy as np
import pandas as pd
import pytest
from keras import ops
from pydantic import ValidationError

from emotion_aware_loss.config import (
    AcousticConfig,
    LabelConfig,
    LossConfig,
    feature_sets,
)
from emotion_aware_loss.config.feature_sets import register_feature_set
from emotion_aware_loss.losses import family as losses
from emotion_aware_loss.losses.family import (
    HyperParameter,
    SimilarityLoss,
    per_model,
    register_loss,
    sim_loss,
)
from emotion_aware_loss.losses.sweeps import expand_sweeps
from emotion_aware_loss.models.softmax_regression import SoftmaxRegression
from emotion_aware_loss.pipelines.evaluation import create_pipeline as evaluation
from emotion_aware_loss.pipelines.fold_generation import (
    create_pipeline as folds_pipeline,
)
from emotion_aware_loss.pipelines.model_building import (
    create_pipeline as model_pipeline,
)
from emotion_aware_loss.pipelines.preprocessing import (
    create_pipeline as preprocessing_pipeline,
)
from emotion_aware_loss.pipelines.training import create_pipeline as training_pipeline

from .conftest import CLASSES, SEED_MATRIX, run_pipeline

NAME = "focal_similarity"


def focal_similarity(y_true, y_pred, similarity, from_logits=False, gamma=2.0):
    """``(1 − q)^γ · (−log q)``, ``q = Σ_j S[y, j] p_j``: ``sim_loss`` focused on
    the utterances it still gets wrong (Lin et al.'s focal weighting)."""
    base = sim_loss(y_true, y_pred, similarity, from_logits=from_logits)
    return ops.power(1.0 - ops.exp(-base), per_model(gamma, base)) * base


@pytest.fixture
def focal_loss():
    """The loss registered for one test, then removed from both registries."""

    @register_loss(
        NAME, focal_similarity, gamma=HyperParameter(2.0, "focusing strength")
    )
    class FocalSimilarity(SimilarityLoss):
        """A loss of the family that only this test knows."""

    yield FocalSimilarity
    losses.LOSS_REGISTRY.pop(NAME)
    keras.saving.get_custom_objects().pop(
        f"emotion_aware_loss>{FocalSimilarity.__name__}"
    )


def test_the_parameters_and_sweeps_take_a_registered_loss(focal_loss):
    config = LossConfig(loss=NAME, gamma=1.5)
    assert config.hyper_parameters() == {"gamma": 1.5}
    assert LossConfig(loss=NAME).hyper_parameters() == {"gamma": 2.0}  # its default
    assert config.describe() == f"{NAME}, gamma=1.5, S=hand_set"
    with pytest.raises(ValidationError, match="gamma: must be >= 0"):
        LossConfig(loss=NAME, gamma=-1.0)
    with pytest.raises(ValidationError, match=r"alpha: loss 'focal_similarity' takes"):
        LossConfig(loss=NAME, alpha=1.0)
    swept = expand_sweeps({"loss_variants": {"f": {"loss": NAME, "gamma": [1, 3]}}})
    assert set(swept["loss_variants"]) == {"f_gamma_1", "f_gamma_3"}
    with pytest.raises(ValueError, match="a loss named 'focal_similarity' is already"):
        register_loss(NAME, focal_similarity)


def test_an_expected_cost_without_targets_is_refused_naming_the_loss():
    with pytest.raises(ValueError, match="loss 'costly': an expected_cost adds"):
        register_loss("costly", focal_similarity, expected_cost=lambda s: 1.0 - s)
    assert "costly" not in losses.LOSS_REGISTRY


def test_an_unregistered_loss_is_refused_by_name():
    with pytest.raises(ValidationError, match=r"unknown loss 'focal_similarity'"):
        LossConfig(loss=NAME)


def test_a_registered_loss_trains_is_scored_and_reloads(
    focal_loss, stage_inputs, training_config, monkeypatch, tmp_path
):
    from emotion_aware_loss.config import layout  # noqa: PLC0415

    monkeypatch.setattr(
        layout, "_run_layout", layout.Layout(2, ("cross_entropy", "focal"))
    )
    variants = {"cross_entropy": {"loss": "cross_entropy"}, "focal": {"loss": NAME}}
    inputs = stage_inputs
    inputs = inputs | run_pipeline(folds_pipeline(), inputs)
    inputs = inputs | run_pipeline(model_pipeline(), inputs)
    params = {
        "params:training": training_config,
        "params:loss_variants.cross_entropy": LossConfig(loss="cross_entropy"),
        "params:loss_variants.focal": LossConfig(loss=NAME, gamma=1.0),
        "params:loss_variants": variants,
        "params:classes": list(inputs["input_spec"].classes),
    }
    trained = run_pipeline(training_pipeline(), inputs | params)
    model = trained["focal.fold_1.model"]
    assert isinstance(model.loss, focal_loss) and model.loss.gamma == 1.0
    assert trained["focal.fold_0.history"]["best_epoch"][0] >= 1

    # made by the similarity pipeline, which this slice leaves out
    learned = {
        "similarity_learned": inputs["similarity_matrix"],
        "similarity_confusions": inputs["similarity_matrix"],
    }
    out = run_pipeline(evaluation(), inputs | trained | params | learned)
    metrics = out["focal.fold_0.metrics"]
    assert 0.0 <= metrics["decisions"]["argmax"]["uar"] <= 1.0
    assert set(out["cv_summary"]["variants"]) >= {"cross_entropy", "focal"}
    assert "focal" in out["report"]

    model.save(tmp_path / "focal.keras")
    reloaded = keras.models.load_model(tmp_path / "focal.keras")
    assert type(reloaded.loss) is focal_loss
    assert reloaded.loss.get_config() == model.loss.get_config()


def test_the_convex_fit_takes_a_registered_loss(focal_loss):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 6))
    y = (x[:, 0] > 0).astype(int) + 2 * (x[:, 1] > 0)
    similarity = np.asarray(SEED_MATRIX)[:4, :4]
    focal = SoftmaxRegression(NAME, similarity, {"gamma": 2.0}, C=1.0).fit(x, y)
    plain = SoftmaxRegression(C=1.0).fit(x, y)
    assert (focal.predict(x) == y).mean() > 0.8
    assert not np.allclose(focal.coef_, plain.coef_, atol=1e-3)
    # without a declared term its fits take SciPy's path, which holds Python's
    # lock: the convex fits of such a loss are not spread over threads
    assert not focal.runs_compiled()
    assert plain.runs_compiled()


def zero_crossing_statistics(waveform: np.ndarray, config) -> np.ndarray:
    """Mean, spread and 90th percentile of the zero-crossing rate over 25 ms frames,
    and the log energy: one row per utterance."""
    frame = max(1, int(0.025 * config.sample_rate))
    n = max(1, len(waveform) // frame)
    frames = np.resize(np.asarray(waveform, dtype=np.float32), (n, frame))
    rate = np.mean(np.abs(np.diff(np.sign(frames), axis=1)) > 0, axis=1)
    energy = np.log(np.mean(frames**2) + 1e-10)
    values = [rate.mean(), rate.std(), np.percentile(rate, 90), energy]
    return np.asarray(values, dtype=np.float32)[None, :]


@pytest.fixture
def zero_crossings():
    """The feature set registered for one test, then removed."""
    registered = register_feature_set(
        "zero_crossings",
        extract=zero_crossing_statistics,
        dimension=lambda config: 4,
        utterance_level=True,
    )
    yield registered
    feature_sets.FEATURE_SETS.pop("zero_crossings")


def test_a_registered_feature_set_is_extracted_trained_on_and_scored(
    zero_crossings,
    tiny_corpus,
    text_config,
    cv_config,
    model_config,
    training_config,
    stage_inputs,
    monkeypatch,
):
    from emotion_aware_loss.config import layout  # noqa: PLC0415

    with pytest.raises(ValidationError, match="unknown feature 'zero_crossing'"):
        AcousticConfig(feature="zero_crossing")
    acoustic = AcousticConfig(feature="zero_crossings")
    assert acoustic.utterance_level
    preprocessed = run_pipeline(
        preprocessing_pipeline(),
        {
            "corpus": tiny_corpus,
            "emotion_similarity": pd.DataFrame(
                SEED_MATRIX, index=CLASSES, columns=CLASSES
            ),
            "params:classes": list(CLASSES),
            "params:preprocessing.text": text_config,
            "params:preprocessing.labels": LabelConfig(),
            "params:preprocessing.acoustic": acoustic,
        },
    )
    features = preprocessed["acoustic_features"]
    assert features.shape == (len(tiny_corpus), 1, 4)
    assert preprocessed["input_spec"].acoustic_feature == "zero_crossings"
    assert preprocessed["input_spec"].n_frames == 0  # a vector per utterance
    assert preprocessed["input_spec"].extractors["speech"] == {
        "feature": "zero_crossings",
        "library": __name__,
    }

    monkeypatch.setattr(layout, "_run_layout", layout.Layout(2, ("cross_entropy",)))
    inputs = stage_inputs | {
        key: preprocessed[key]
        for key in (
            "model_input_table",
            "acoustic_features",
            "text_features",
            "speaker_statistics",
            "input_spec",
        )
    }
    inputs = inputs | run_pipeline(folds_pipeline(), inputs)
    inputs = inputs | run_pipeline(model_pipeline(), inputs)
    params = {
        "params:training": training_config,
        "params:loss_variants.cross_entropy": LossConfig(loss="cross_entropy"),
        "params:loss_variants": {"cross_entropy": {"loss": "cross_entropy"}},
        "params:classes": list(CLASSES),
        "similarity_learned": inputs["similarity_matrix"],
        "similarity_confusions": inputs["similarity_matrix"],
    }
    trained = run_pipeline(training_pipeline(), inputs | params)
    speech_input = trained["cross_entropy.fold_0.model"].get_layer("speech")
    assert tuple(speech_input.output.shape) == (None, 4)
    out = run_pipeline(evaluation(), inputs | trained | params)
    assert 0.0 <= out["cross_entropy.fold_1.metrics"]["decisions"]["argmax"]["uar"]
    assert "zero_crossings" in out["report"]
