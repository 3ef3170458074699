import numpy as np
import pytest

from emotion_aware_loss.config import AcousticConfig, FinalModelConfig
from emotion_aware_loss.config.layout import Layout, layout_from_parameters
from emotion_aware_loss.folds.cross_validation import fit_scaler
from emotion_aware_loss.inference.recognizer import EmotionRecognizer
from emotion_aware_loss.losses.family import EmotionAware, SoftTarget
from emotion_aware_loss.models.inputs import InputSpec
from emotion_aware_loss.pipelines.final_model import create_pipeline
from emotion_aware_loss.pipelines.final_model.nodes import (
    _check_features_from_audio,
    final_epochs,
)
from emotion_aware_loss.pipelines.model_building import (
    create_pipeline as model_pipeline,
)

from ...conftest import run_pipeline

VARIANTS = {
    "cross_entropy": {"loss": "cross_entropy"},
    "emotion_aware": {"loss": "emotion_aware", "alpha": 1.5},
    "soft_target": {"loss": "soft_target", "beta": 3.0},
}


@pytest.fixture(scope="module")
def initial_model(stage_inputs):
    return run_pipeline(model_pipeline(), stage_inputs)["initial_model"]


@pytest.fixture
def final_inputs(stage_inputs, initial_model, acoustic_config, training_config):
    return stage_inputs | {
        "initial_model": initial_model,
        "params:final_model": FinalModelConfig(),
        "params:loss_variants": VARIANTS,
        "params:training": training_config,
        "params:preprocessing.acoustic": acoustic_config,
        "emotion_aware.fold_0.history": {"best_epoch": [2]},
        "emotion_aware.fold_1.history": {"best_epoch": [3]},
    }


@pytest.mark.parametrize(
    ("rule", "best", "epochs"),
    [("median_best", [2, 3], 3), ("median_best", [1, 2, 9], 2), (7, [2, 3], 7)],
)
def test_epochs_follow_the_rule(rule, best, epochs):
    histories = {f"fold_{k}": {"best_epoch": [b]} for k, b in enumerate(best)}
    assert final_epochs(rule, histories) == epochs


def test_median_best_counts_every_member_of_an_ensemble():
    histories = {
        "fold_0": {"best_epoch": [2], "member_best_epochs": [2, 9, 10]},
        "fold_1": {"best_epoch": [3], "member_best_epochs": [3, 8, 11]},
    }
    assert final_epochs("median_best", histories) == 9  # median of 2 3 8 9 10 11


def test_median_best_needs_histories():
    with pytest.raises(ValueError, match="best_epoch"):
        final_epochs("median_best", {})


def test_epochs_must_be_positive_or_median_best():
    with pytest.raises(ValueError, match="epochs"):
        FinalModelConfig(epochs=0)
    with pytest.raises(ValueError, match="epochs"):
        FinalModelConfig(epochs="best")


def test_final_model_trains_on_every_utterance(final_inputs, two_fold_layout):
    pipeline = create_pipeline()
    assert "emotion_aware.fold_1.history" in pipeline.inputs()
    initial = final_inputs["initial_model"]
    initial_weights = [w.copy() for w in initial.get_weights()]
    out = run_pipeline(pipeline, final_inputs)
    recognizer, history = out["final_model"], out["final_model_history"]
    assert isinstance(recognizer, EmotionRecognizer)
    assert isinstance(recognizer.model.loss, EmotionAware)
    assert recognizer.model.loss.alpha == pytest.approx(1.5)
    assert recognizer.variant == "emotion_aware"
    table = final_inputs["model_input_table"]
    # median of best epochs 2 and 3, rounded half up; every utterance is used
    assert history["epochs"] == 3 and len(history["loss"]) == 3
    assert history["fold_best_epochs"] == {"fold_0": 2, "fold_1": 3}
    assert recognizer.details["n_utterances"] == len(table)
    # scaler and vocabulary are fitted on all utterances, not on a fold
    features = final_inputs["acoustic_features"]
    n_frames = table["n_frames"].to_numpy()
    expected = fit_scaler(features, n_frames, np.arange(len(table)))
    np.testing.assert_allclose(recognizer.feature_scaler["mean"], expected["mean"])
    words = {w for text in table["tokens"] for w in text.split()}
    assert set(recognizer.vocabulary) == words
    assert recognizer.classes == list(final_inputs["input_spec"].classes)
    np.testing.assert_array_equal(
        recognizer.similarity, final_inputs["similarity_matrix"].to_numpy()
    )
    # training changed a copy; the shared initial model is left untouched
    for a, b in zip(initial_weights, initial.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert any(
        not np.array_equal(a, b)
        for a, b in zip(
            initial.get_weights(), recognizer.model.get_weights(), strict=True
        )
    )


def test_a_fixed_epoch_count_and_another_variant(
    final_inputs, two_fold_layout, monkeypatch
):
    from emotion_aware_loss.config import layout

    monkeypatch.setattr(
        layout,
        "_run_layout",
        Layout(2, tuple(VARIANTS), final_variant="soft_target"),
    )
    inputs = final_inputs | {
        "params:final_model": FinalModelConfig(variant="soft_target", epochs=1),
        "soft_target.fold_0.history": {"best_epoch": [5]},
        "soft_target.fold_1.history": {"best_epoch": [5]},
    }
    out = run_pipeline(create_pipeline(), inputs)
    assert isinstance(out["final_model"].model.loss, SoftTarget)
    assert out["final_model_history"]["epochs"] == 1


def test_an_unconfigured_variant_is_refused_naming_the_key():
    from emotion_aware_loss.pipelines.final_model.nodes import train_final_model

    unknown = FinalModelConfig(variant="focal")
    with pytest.raises(ValueError, match=r"final_model\.variant 'focal'"):
        train_final_model(*[None] * 7, unknown, VARIANTS, *[None] * 5)


def test_the_run_refuses_an_unconfigured_variant_before_any_node(monkeypatch):
    from emotion_aware_loss.config import layout
    from emotion_aware_loss.run.hooks import LayoutHooks

    params = {
        "cross_validation": {"n_folds": 2},
        "loss_variants": {"cross_entropy": {"loss": "cross_entropy"}},
        "final_model": {"variant": "emotion_aware"},
    }
    monkeypatch.setattr(layout, "_run_layout", layout_from_parameters(params))
    pipeline = create_pipeline()  # still builds, without the variant's histories
    assert not any(name.endswith(".history") for name in pipeline.inputs())
    with pytest.raises(ValueError, match="not one of the loss_variants"):
        LayoutHooks().before_pipeline_run({}, pipeline)
    # other pipelines run as before
    LayoutHooks().before_pipeline_run({}, model_pipeline())


def test_learned_variants_train_with_the_summary_matrix():
    layout = layout_from_parameters(
        {
            "loss_variants": {
                "cross_entropy": {"loss": "cross_entropy"},
                "ea_learned": {"loss": "emotion_aware", "similarity": "learned"},
                "ea_va": {"loss": "emotion_aware", "similarity": "valence_arousal"},
            },
            "final_model": {"variant": "ea_learned"},
        }
    )
    assert layout.final_similarity_dataset() == "similarity_learned"
    assert (
        Layout(
            2, ("a",), ("valence_arousal",), final_variant="a"
        ).final_similarity_dataset()
        == "similarity_valence_arousal"
    )


def test_precomputed_features_are_refused():
    def spec(**settings):
        return InputSpec(("a", "b"), max_tokens=4, vocab_size=6, **settings)

    vector = spec(n_frames=0, n_features=68, acoustic_feature="functionals")
    with pytest.raises(ValueError, match="from_features"):
        _check_features_from_audio(vector, AcousticConfig())
    _check_features_from_audio(vector, AcousticConfig(feature="functionals"))
    _check_features_from_audio(
        spec(n_frames=0, n_features=0, acoustic_feature="logmel", speech=False),
        AcousticConfig(),
    )
    marked = spec(n_frames=300, n_features=40, acoustic_feature="logmel")
    _check_features_from_audio(marked, AcousticConfig())
    with pytest.raises(ValueError, match="precomputed"):
        _check_features_from_audio(
            spec(n_frames=300, n_features=40, acoustic_feature="precomputed"),
            AcousticConfig(),
        )


def test_a_learned_variant_trains_with_the_matrix_averaged_over_folds(
    final_inputs, monkeypatch
):
    from emotion_aware_loss.config import layout

    monkeypatch.setattr(
        layout,
        "_run_layout",
        Layout(
            2,
            ("cross_entropy", "ea_learned"),
            ("hand_set", "learned"),
            final_variant="ea_learned",
        ),
    )
    hand_set = final_inputs["similarity_matrix"]
    learned = hand_set * 0.5 + 0.5  # any valid matrix other than the hand-set one
    inputs = final_inputs | {
        "params:final_model": FinalModelConfig(variant="ea_learned", epochs=1),
        "params:loss_variants": VARIANTS
        | {"ea_learned": {"loss": "emotion_aware", "similarity": "learned"}},
        "similarity_learned": learned,
        "ea_learned.fold_0.history": {"best_epoch": [1]},
        "ea_learned.fold_1.history": {"best_epoch": [1]},
    }
    out = run_pipeline(create_pipeline(), inputs)
    recognizer = out["final_model"]
    np.testing.assert_allclose(recognizer.model.loss.similarity, learned.to_numpy())
    # decisions still use the hand-set matrix
    np.testing.assert_array_equal(recognizer.similarity, hand_set.to_numpy())
    assert recognizer.loss.similarity == "learned"
