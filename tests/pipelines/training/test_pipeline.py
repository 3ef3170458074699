import keras
import numpy as np
import pytest

from emotion_aware_loss.config import LossConfig
from emotion_aware_loss.losses.family import CrossEntropy, EmotionAware
from emotion_aware_loss.pipelines.fold_generation import (
    create_pipeline as folds_pipeline,
)
from emotion_aware_loss.pipelines.model_building import (
    create_pipeline as model_pipeline,
)
from emotion_aware_loss.pipelines.training import create_pipeline as training_pipeline
from emotion_aware_loss.training.stack import train_jobs

from ...conftest import run_pipeline


@pytest.fixture
def training_inputs(stage_inputs, two_fold_layout):
    base = stage_inputs
    folds = run_pipeline(folds_pipeline(), base)
    model = run_pipeline(model_pipeline(), base)
    return base | folds | model


def _two_variants(training_config) -> dict:
    """The training parameters and the loss variants of the two-fold layout."""
    return {
        "params:training": training_config,
        "params:loss_variants.cross_entropy": LossConfig(loss="cross_entropy"),
        "params:loss_variants.emotion_aware": LossConfig(
            loss="emotion_aware", alpha=1.0
        ),
    }


def _evaluation_params(training_inputs, training_config) -> dict:
    """What the evaluation of the two-fold layout reads besides the stages' outputs."""
    return _two_variants(training_config) | {
        "params:classes": list(training_inputs["input_spec"].classes),
        # made by the similarity pipeline, which these tests leave out
        "similarity_learned": training_inputs["similarity_matrix"],
        "similarity_confusions": training_inputs["similarity_matrix"],
        "params:loss_variants": {
            "cross_entropy": {"loss": "cross_entropy"},
            "emotion_aware": {"loss": "emotion_aware"},
        },
    }


def test_one_model_per_variant_and_fold(training_inputs, training_config):
    initial = [w.copy() for w in training_inputs["initial_model"].get_weights()]
    out = run_pipeline(
        training_pipeline(),
        training_inputs | _two_variants(training_config),
    )
    models = {k: v for k, v in out.items() if k.endswith(".model")}
    assert set(models) == {
        f"{v}.fold_{k}.model"
        for v in ("cross_entropy", "emotion_aware")
        for k in (0, 1)
    }
    assert isinstance(models["emotion_aware.fold_0.model"].loss, EmotionAware)
    assert isinstance(models["cross_entropy.fold_1.model"].loss, CrossEntropy)
    history = out["emotion_aware.fold_1.history"]
    assert history["fold"] == [1]
    assert (
        1 <= history["best_epoch"][0] <= len(history["loss"]) <= training_config.epochs
    )
    # the shared initial model is not modified by training
    for a, b in zip(
        initial, training_inputs["initial_model"].get_weights(), strict=True
    ):
        np.testing.assert_array_equal(a, b)
    assert isinstance(models["cross_entropy.fold_0.model"], keras.Model)


def test_trained_models_are_evaluated_per_fold(training_inputs, training_config):
    from emotion_aware_loss.pipelines.evaluation import create_pipeline as evaluation

    params = _evaluation_params(training_inputs, training_config)
    trained = run_pipeline(training_pipeline(), training_inputs | params)
    out = run_pipeline(evaluation(), training_inputs | trained | params)
    metrics = out["emotion_aware.fold_0.metrics"]
    split = training_inputs["fold_0.split"]
    n_test = int((split["split"] == "test").sum())
    assert metrics["n_test"] == n_test and metrics["fold"] == 0
    for rule in ("argmax", "min_expected_cost"):
        assert (
            np.asarray(metrics["decisions"][rule]["confusion_matrix"]).sum() == n_test
        )
    predictions = out["emotion_aware.fold_0.predictions"]
    assert set(predictions["utterance_id"]) == set(
        split.loc[split["split"] == "test", "utterance_id"]
    )
    probs = predictions.filter(like="prob_").to_numpy()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    assert (predictions["fold"] == 0).all()
    assert out["cv_summary"]["variants"].keys() == {"cross_entropy", "emotion_aware"}
    assert out["cv_fold_metrics"].shape[0] == 8  # 2 variants x 2 rules x 2 folds
    assert {"predicted_argmax", "predicted_min_expected_cost"} <= set(predictions)
    # the pooled out-of-fold predictions recompute the fold metrics
    oof = out["oof_predictions"]
    assert len(oof) == 2 * len(training_inputs["model_input_table"])
    fold = oof[(oof["variant"] == "emotion_aware") & (oof["fold"] == 0)]
    accuracy = (fold["label"] == fold["predicted_argmax"]).mean()
    assert accuracy == pytest.approx(metrics["decisions"]["argmax"]["accuracy"])
    tests = out["significance_tests"]
    assert set(tests["variant"]) == {"cross_entropy", "emotion_aware"}
    assert {"p_wilcoxon", "p_corrected_t_test", "ci_low", "significant"} <= set(tests)
    report = out["report"]
    assert "## Comparison with cross_entropy" in report
    assert "{figure:pair_costs.png}" in report  # resolved by the report dataset
    assert "tensorflow" in report  # the software versions
    for figure in (
        "confusion_matrices_plot",
        "per_class_recall_plot",
        "similarity_matrices_plot",
        "pair_costs_plot",
        "learning_curves_plot",
        "reliability_diagrams_plot",
        "frontier_plot",
    ):
        assert out[figure].axes, figure
    assert "## Calibration" in report
    assert "## Trade-off: UAR against mistake severity" in report
    points = out["frontier_points"]
    assert points["pareto"].any()
    assert set(points["variant"]) == set(out["oof_predictions"]["variant"])


def test_refit_node_trains_on_the_training_and_validation_parts(
    training_inputs, training_config
):
    from emotion_aware_loss.folds.cross_validation import TRAIN, VALIDATION  # noqa: PLC0415

    config = training_config.model_copy(update={"refit": True})
    out = run_pipeline(
        training_pipeline(),
        training_inputs | _two_variants(config),
    )
    history = out["cross_entropy.fold_0.history"]
    assert history["refit_epochs"] == history["best_epoch"]
    assert len(history["refit_loss"]) == history["best_epoch"][0]
    split = training_inputs["fold_0.split"]
    n_val = int((split["split"] == VALIDATION).sum())
    n_both = int(split["split"].isin([TRAIN, VALIDATION]).sum())
    assert n_val > 0
    assert history["refit_utterances"] == [n_both]
    assert isinstance(out["cross_entropy.fold_0.model"], keras.Model)


def test_stacked_and_per_node_modes_write_the_same_outputs(
    training_inputs, training_config, two_fold_layout
):
    import dataclasses  # noqa: PLC0415

    inputs = training_inputs | _two_variants(training_config)
    stacked = run_pipeline(training_pipeline(two_fold_layout), inputs)
    per_node_layout = dataclasses.replace(two_fold_layout, stacked=False)
    per_node = training_pipeline(per_node_layout)
    assert len(per_node.nodes) == 4 and len(training_pipeline().nodes) == 1
    separate = run_pipeline(per_node, inputs)
    assert set(stacked) == set(separate)  # the same datasets
    for name, history in stacked.items():
        if not name.endswith(".history"):
            continue
        other = separate[name]
        assert history.keys() == other.keys(), name
        assert history["best_epoch"] == other["best_epoch"], name
        # each network of the stack is the one its own node trains (its batches
        # and dropout masks follow its seed), to float tolerance
        np.testing.assert_allclose(history["loss"], other["loss"], rtol=1e-4)
        model = name.replace(".history", ".model")
        for a, b in zip(
            stacked[model].get_weights(), separate[model].get_weights(), strict=True
        ):
            np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5)


def test_a_round_over_its_memory_budget_trains_as_several_stacks(
    training_inputs, training_config, monkeypatch
):
    from emotion_aware_loss.training import plan  # noqa: PLC0415

    inputs = training_inputs | _two_variants(training_config)
    whole = run_pipeline(training_pipeline(), inputs)
    stacks = []

    def counted(model, corpus, jobs, settings, report=None):
        stacks.append([job.name for job in jobs])
        return train_jobs(model, corpus, jobs, settings, report)

    monkeypatch.setattr(plan, "train_jobs", counted)
    # a model of this tiny network as large as the 1 MB budget: one per stack
    monkeypatch.setattr(plan, "STATE_COPIES", 10**4)
    small = training_config.model_copy(update={"stack_memory_mb": 1})
    split = run_pipeline(training_pipeline(), inputs | {"params:training": small})
    assert [len(s) for s in stacks] == [1, 1, 1, 1]
    assert set(split) == set(whole)
    for name, history in whole.items():
        if name.endswith(".history"):
            assert split[name]["best_epoch"] == history["best_epoch"]
            np.testing.assert_allclose(split[name]["loss"], history["loss"], rtol=1e-4)


def test_a_network_averaged_with_its_linear_baseline_is_scored_like_a_model(
    training_inputs, training_config, monkeypatch
):
    import dataclasses

    from emotion_aware_loss.config import EvaluationConfig, layout
    from emotion_aware_loss.models.blend import blend, choose_weight
    from emotion_aware_loss.models.calibration import apply_temperature, fit_temperature
    from emotion_aware_loss.pipelines.baselines import create_pipeline as baselines
    from emotion_aware_loss.pipelines.evaluation import create_pipeline as evaluation
    from emotion_aware_loss.pipelines.evaluation.nodes import score_ensemble

    chosen = dataclasses.replace(
        layout.load_layout(),
        baselines=("linear_speech", "linear_text", "linear_fusion"),
        ensembles=("emotion_aware",),
    )
    monkeypatch.setattr(layout, "_run_layout", chosen)
    params = _evaluation_params(training_inputs, training_config)
    trained = run_pipeline(training_pipeline(), training_inputs | params)
    linear = run_pipeline(baselines(), training_inputs | params)
    out = run_pipeline(evaluation(), training_inputs | trained | linear | params)
    assert "ensemble_emotion_aware" in out["cv_summary"]["variants"]
    # fold 0 by hand: the weight chosen on the validation part, then the mean
    history = trained["emotion_aware.fold_0.history"]
    held = linear["linear_fusion.fold_0.held_out"].set_index("utterance_id")
    classes = list(training_inputs["input_spec"].classes)
    columns = [f"prob_{c}" for c in classes]
    network = np.asarray(history["validation_probabilities"])
    network = apply_temperature(
        network,
        fit_temperature(
            network,
            history["validation_labels"],
            prior=EvaluationConfig().temperature_prior,
        ),
    )
    chosen = choose_weight(
        network,
        held.loc[history["validation_utterances"], columns].to_numpy(),
        history["validation_labels"],
    )
    again = score_ensemble(
        out["emotion_aware.fold_0.predictions"],
        history,
        linear["linear_fusion.fold_0.predictions"],
        linear["linear_fusion.fold_0.held_out"],
        training_inputs["model_input_table"],
        training_inputs["fold_0.split"],
        training_inputs["similarity_matrix"],
        training_inputs["input_spec"],
        EvaluationConfig(ensemble_weight="validation"),
    )[0]
    assert again["ensemble"]["network_weight"] == chosen
    # the default: a fixed weight
    weight = EvaluationConfig().ensemble_weight
    metrics = out["ensemble_emotion_aware.fold_0.metrics"]
    assert metrics["ensemble"]["network_weight"] == weight == 0.2
    predictions = out["ensemble_emotion_aware.fold_0.predictions"]
    mean = blend(
        out["emotion_aware.fold_0.predictions"][columns].to_numpy(),
        linear["linear_fusion.fold_0.predictions"][columns].to_numpy(),
        weight,
    )
    np.testing.assert_allclose(
        predictions[columns].to_numpy(),
        apply_temperature(mean, predictions["temperature"].iloc[0]),
        rtol=1e-6,
    )
    # compared with cross_entropy and with the linear baseline, like a network
    tests = out["significance_tests"]
    assert set(tests[tests["variant"] == "ensemble_emotion_aware"]["comparison"]) == {
        "cross_entropy",
        "linear_fusion",
    }


def test_each_convex_fit_is_compared_with_the_baseline_variants_own(
    training_inputs, training_config, monkeypatch
):
    """``baselines.losses`` with the baseline variant's loss: ``convex_<variant>``
    rows are tested against ``convex_cross_entropy`` (same model, inner folds and
    solver), in a section of the report of their own; the networks are not."""
    import dataclasses

    from emotion_aware_loss.config import layout
    from emotion_aware_loss.evaluation.reporting import significance_section
    from emotion_aware_loss.pipelines.baselines import create_pipeline as baselines
    from emotion_aware_loss.pipelines.evaluation import create_pipeline as evaluation

    chosen = dataclasses.replace(
        layout.load_layout(),
        baselines=("linear_speech", "linear_text", "linear_fusion"),
        linear_losses=("cross_entropy", "emotion_aware"),
    )
    monkeypatch.setattr(layout, "_run_layout", chosen)
    params = _evaluation_params(training_inputs, training_config)
    trained = run_pipeline(training_pipeline(), training_inputs | params)
    linear = run_pipeline(baselines(), training_inputs | params)
    out = run_pipeline(evaluation(), training_inputs | trained | linear | params)
    tests = out["significance_tests"]
    own = tests[tests["comparison"] == "convex_cross_entropy"]
    assert set(own["variant"]) == {"convex_emotion_aware"}
    assert set(tests["comparison"]) == {
        "cross_entropy",
        "linear_fusion",
        "convex_cross_entropy",
    }
    config = training_inputs["params:evaluation"].model_dump()
    section = significance_section(tests, config, 4, "convex_cross_entropy")
    assert section[0] == "## The losses on the linear model (convex_cross_entropy)"
    assert any("convex_emotion_aware" in line for line in section)
