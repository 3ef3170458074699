import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from scipy.special import softmax

from emotion_aware_loss.config import EvaluationConfig
from emotion_aware_loss.evaluation.provenance import (
    blas_libraries,
    compute_environment,
)
from emotion_aware_loss.evaluation.scoring import (
    model_temperature,
    score_test_predictions,
)
from emotion_aware_loss.losses.metrics import decide, expected_calibration_error
from emotion_aware_loss.models.calibration import apply_temperature, fit_temperature
from emotion_aware_loss.pipelines.evaluation import create_pipeline
from emotion_aware_loss.pipelines.evaluation.nodes import (
    FIGURES,
    plot_reliability,
    summarise_cross_validation,
    write_report,
)


def _rule_metrics(accuracy):
    return {
        "accuracy": accuracy,
        "uar": accuracy / 2,
        "macro_f1": 0.3,
        "weighted_f1": 0.4,
        "cross_entropy": 1.2,
        "mistake_severity": 0.5,
        "semantic_cost": 0.2,
        "ece": 0.1,
        "confusion_matrix": np.eye(5, dtype=int).tolist(),
    }


def _fold_metrics(fold, accuracy):
    return {
        "fold": fold,
        "n_test": 10,
        "classes": list("abcde"),
        "decisions": {
            "argmax": _rule_metrics(accuracy),
            "min_expected_cost": _rule_metrics(accuracy - 0.1),
        },
    }


def _summarise(classes, emotion_aware_fold_1):
    """Two folds: cross_entropy 0.5 and 0.7, emotion_aware 0.6 and the given value."""
    return summarise_cross_validation(
        classes,
        cross_entropy__fold_0=_fold_metrics(0, 0.5),
        cross_entropy__fold_1=_fold_metrics(1, 0.7),
        emotion_aware__fold_0=_fold_metrics(0, 0.6),
        emotion_aware__fold_1=_fold_metrics(1, emotion_aware_fold_1),
    )


def test_summary_mean_and_std(classes):
    folds, summary, recall, figure = _summarise(classes, 0.6)
    assert isinstance(folds, pd.DataFrame) and len(folds) == 8
    assert folds["variant"].tolist()[:4] == ["cross_entropy"] * 4
    ce = summary["variants"]["cross_entropy"]["argmax"]
    assert ce["accuracy_mean"] == 0.6
    assert np.isclose(ce["accuracy_std"], np.std([0.5, 0.7], ddof=1))
    assert np.isclose(
        summary["variants"]["cross_entropy"]["min_expected_cost"]["accuracy_mean"], 0.5
    )
    assert summary["variants"]["emotion_aware"]["argmax"]["accuracy_std"] == 0.0
    assert (recall["recall_mean"] == 1.0).all()  # identity confusion matrices
    assert len(recall) == 2 * 2 * 5  # variants x rules x classes
    # 2 variants x 2 decision rules + colour bar
    assert isinstance(figure, Figure) and len(figure.axes) == 5


def _setup(classes):
    return {
        "classes": classes,
        "corpus": {
            "n_utterances": 20,
            "n_speakers": 2,
            "class_counts": dict.fromkeys(classes, 4),
        },
        "inputs": "logmel acoustic features",
        "protocol": {
            "n_folds": 2,
            "n_repeats": 1,
            "speaker_independent": False,
            "validation_fraction": 0.15,
        },
        "training": {
            "learning_rate": 0.001,
            "batch_size": 32,
            "epochs": 40,
            "monitor": "val_accuracy",
            "patience": 8,
            "min_steps": 600,
        },
        "model": "a model",
        "seed": 42,
        "losses": {
            "cross_entropy": "cross_entropy",
            "emotion_aware": "emotion_aware, alpha=2, S=hand_set",
        },
        "software": {"python": "3.11.0"},
    }


def _significance() -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "variant": "emotion_aware",
                "decision": "argmax",
                "metric": "accuracy",
                "reference": "cross_entropy (argmax)",
                "n_folds": 2,
                "mean_difference": 0.1,
                "std_difference": 0.0,
                "wins": 2,
                "ci_low": 0.02,
                "ci_high": 0.18,
                "p_wilcoxon": 0.5,
                "p_t_test": 0.0,
                "p_corrected_t_test": 0.0004,
                "p_adjusted": 0.0008,
                "significant": True,
            }
        ]
    )


def test_report_has_setup_results_tests_and_figures(classes):
    folds, _, recall, _ = _summarise(classes, 0.8)
    significance = _significance()
    report = write_report(
        _setup(classes), folds, significance, recall, EvaluationConfig(decimals=3)
    )
    assert "2-fold stratified cross-validation" in report
    assert "patience 8 counted after 600 optimiser steps and the best" in report
    assert "| emotion_aware | emotion_aware, alpha=2, S=hand_set |" in report
    assert "| cross_entropy | argmax | 0.600 ± 0.141 |" in report
    assert "| emotion_aware | min_expected_cost | 1 | 0.700 |" in report
    assert (
        "| emotion_aware | argmax | Accuracy | cross_entropy (argmax) | +0.100 ± 0.000 "
        "| 2/2 | [+0.020, +0.180] | 0.500 | < 0.001 | < 0.001 | < 0.001 | **yes** |"
    ) in report
    assert "Holm" in report and "corrected resampled t-test p-value" in report
    for name in FIGURES.values():
        assert f"({{figure:{name}}})" in report
    assert "| python | 3.11.0 |" in report


def test_report_names_the_convex_fits_that_did_not_converge(classes):
    """A softmax regression's rows carry ``converged``; the report lists the folds
    whose final fit missed its criterion, and says nothing when all met it or no
    model says (networks, scikit-learn's baselines)."""

    def fold(k, converged):
        return _fold_metrics(k, 0.6) | {"converged": converged}

    folds, _, recall, _ = summarise_cross_validation(
        classes,
        cross_entropy__fold_0=_fold_metrics(0, 0.5),
        cross_entropy__fold_1=_fold_metrics(1, 0.7),
        convex_emotion_aware__fold_0=fold(0, False),
        convex_emotion_aware__fold_1=fold(1, True),
        convex_soft_target__fold_0=fold(0, True),
        convex_soft_target__fold_1=fold(1, True),
    )
    report = write_report(
        _setup(classes), folds, _significance(), recall, EvaluationConfig()
    )
    assert "## Convex fits that did not converge" in report
    assert "| convex_emotion_aware | 1 of 2 (fold 0) |" in report
    assert "convex_soft_target |" not in report.split("did not converge")[1][:900]
    converged, _, recall, _ = _summarise(classes, 0.8)
    quiet = write_report(
        _setup(classes), converged, _significance(), recall, EvaluationConfig()
    )
    assert "did not converge" not in quiet


def test_pipeline_structure(two_fold_layout):
    pipeline = create_pipeline()
    names = {n.name for n in pipeline.nodes}
    assert "emotion_aware.fold_1.evaluate_model_node" in names
    assert "summarise_cross_validation_node" in names
    outputs = set(pipeline.all_outputs())
    assert {
        "report",
        "report_setup",
        "significance_tests",
        "oof_predictions",
        "cv_summary",
        "cv_fold_metrics",
        "per_class_recall",
    } <= outputs
    assert {f"{name[:-4]}_plot" for name in FIGURES.values()} <= outputs


def test_report_records_the_machine_figures_depend_on(classes):
    hardware = compute_environment()
    blas = {key for key in hardware if key.startswith("BLAS (")}
    assert set(hardware) - blas == {
        "cpu",
        "vector extensions",
        "cores available",
        "TensorFlow intra-op threads",
        "TensorFlow inter-op threads",
        "oneDNN",
        "GPU",
    }
    assert int(hardware["cores available"]) >= 1
    # NumPy's and SciPy's BLAS, each with the kernels it chose for this CPU
    assert {"BLAS (numpy)", "BLAS (scipy)"} <= blas
    assert all(" kernels" in hardware[key] for key in blas)
    folds, _, recall, _ = _summarise(classes, 0.8)
    setup = _setup(classes) | {"hardware": hardware}
    report = write_report(setup, folds, _significance(), recall, EvaluationConfig())
    hardware_section = report.split("## Hardware", 1)[1]
    assert f"| cpu | {hardware['cpu']} |" in hardware_section
    assert f"| oneDNN | {hardware['oneDNN']} |" in hardware_section
    assert f"| BLAS (numpy) | {hardware['BLAS (numpy)']} |" in hardware_section


def test_the_blas_libraries_are_listed_in_one_order(monkeypatch):
    # threadpoolctl lists the loaded libraries in no fixed order (seen: NumPy's
    # first in some processes, SciPy's in others); report_setup's bytes must
    # not follow it.
    import threadpoolctl  # noqa: PLC0415

    libraries = threadpoolctl.threadpool_info()
    listed = []
    for order in (libraries, libraries[::-1]):
        monkeypatch.setattr(threadpoolctl, "threadpool_info", lambda o=order: o)
        listed.append(list(blas_libraries().items()))
    assert listed[0] == listed[1]
    assert [key for key, _ in listed[0]] == sorted(key for key, _ in listed[0])


def test_tables_and_reliability_figure_use_one_ece_bin_count(two_fold_layout, classes):
    evaluation = EvaluationConfig(ece_bins=7)
    rng = np.random.default_rng(0)
    probabilities = rng.dirichlet(np.ones(len(classes)), size=60)
    labels = rng.integers(0, len(classes), size=60)
    oof = pd.DataFrame(
        {"variant": "v", "label": [classes[i] for i in labels]}
        | {f"prob_{c}": probabilities[:, j] for j, c in enumerate(classes)}
    )
    figure = plot_reliability(oof, classes, evaluation)
    ece = expected_calibration_error(labels, probabilities, 7)
    assert ece != expected_calibration_error(labels, probabilities, 15)
    assert figure.axes[0].get_title() == f"v (pooled ECE {ece:.3f}, 7 bins)"
    # every per-fold evaluation (the tables' ECE) reads the same setting
    per_fold = [
        n for n in create_pipeline().nodes if n.name.endswith("evaluate_model_node")
    ]
    assert per_fold
    assert all("params:evaluation" in n.inputs for n in per_fold)
    folds, _, recall, _ = _summarise(classes, 0.8)
    report = write_report(_setup(classes), folds, _significance(), recall, evaluation)
    assert "ECE (expected calibration error, 7 bins;" in report
    with pytest.raises(ValueError, match="reliability_bins is now evaluation.ece_bins"):
        EvaluationConfig(reliability_bins=10)


def test_report_says_how_the_baselines_chose_their_regularisation():
    from emotion_aware_loss.config import BaselinesConfig, CrossValidationConfig
    from emotion_aware_loss.evaluation.setup_description import _baseline_selection

    grouped = _baseline_selection(
        BaselinesConfig(c_grid=[0.01, 1.0]),
        CrossValidationConfig(speaker_independent=True),
    )
    assert "C in 0.01, 1" in grouped
    assert "3 inner folds of each fold's training and validation parts" in grouped
    assert "grouped by speaker" in grouped
    stratified = _baseline_selection(
        BaselinesConfig(inner_folds=4), CrossValidationConfig()
    )
    assert "4 inner folds" in stratified and "speaker" not in stratified
    validation = _baseline_selection(
        BaselinesConfig(selection="validation"), CrossValidationConfig()
    )
    assert "chosen by UAR on its validation part" in validation


def test_report_flags_a_decision_rule_that_moves_predictions_onto_one_class(classes):
    from emotion_aware_loss.evaluation.reporting import decision_rule_shift
    from emotion_aware_loss.evaluation.significance import per_class_recall

    k = len(classes)
    identity = (np.eye(k) * 4).astype(int).tolist()
    collapsed = np.zeros((k, k), dtype=int)
    collapsed[:, classes.index("neutral")] = 4  # every utterance called neutral
    fold_metrics = [
        {
            "variant": "flat",
            "fold": fold,
            "decisions": {
                "argmax": {"confusion_matrix": identity},
                "min_expected_cost": {"confusion_matrix": collapsed.tolist()},
            },
        }
        for fold in (0, 1)
    ] + [
        {
            "variant": "sharp",
            "fold": fold,
            "decisions": {
                "argmax": {"confusion_matrix": identity},
                "min_expected_cost": {"confusion_matrix": identity},
            },
        }
        for fold in (0, 1)
    ]
    recall = per_class_recall(fold_metrics, classes)
    shares = recall.set_index(["variant", "decision", "class"])["predicted_share"]
    assert shares["flat", "min_expected_cost", "neutral"] == 1.0
    assert np.isclose(shares["flat", "argmax", "neutral"], 1 / k)
    shifts = decision_rule_shift(recall, classes).set_index("variant")
    assert np.isclose(shifts.loc["flat", "shift"], 1 - 1 / k)
    assert shifts.loc["sharp", "shift"] == 0.0
    assert shifts.loc["flat", "top_rule"] == "neutral 1.00"
    folds, _, _, _ = _summarise(classes, 0.6)
    report = write_report(
        _setup(classes),
        folds,
        _significance(),
        recall,
        EvaluationConfig(rule_shift_warning=0.5),
    )
    section = report.split("## Decision rules and the predicted classes", 1)[1]
    section = section.split("## Figures", 1)[0]
    assert "| flat | argmax → min_expected_cost | 0.800 |" in section
    assert "**large shift**" in section
    assert "**Warning**: for flat the decision rule moves at least 50%" in section
    assert "| sharp | argmax → min_expected_cost | 0.000 |" in section
    assert "for flat, sharp" not in section


def test_report_says_whether_the_networks_were_refitted(classes):
    folds, _, recall, _ = _summarise(classes, 0.6)
    setup = _setup(classes)
    plain = write_report(setup, folds, _significance(), recall, EvaluationConfig())
    assert "the best epoch's weights restored" in plain and "(refit)" not in plain
    refit = setup | {"training": setup["training"] | {"refit": True}}
    report = write_report(refit, folds, _significance(), recall, EvaluationConfig())
    assert "trained again from its initial weights on the training and" in report
    assert "(refit)" in report


def test_probabilities_are_scored_calibrated_and_the_report_shows_both(classes):
    rng = np.random.default_rng(0)
    logits = rng.normal(scale=1.5, size=(400, len(classes)))
    calibrated = softmax(logits, axis=1)
    labels = np.array([rng.choice(len(classes), p=p) for p in calibrated])
    given = softmax(3.0 * logits, axis=1)  # three times too confident
    table = pd.DataFrame({"utterance_id": [f"u{i}" for i in range(400)]})
    split = pd.DataFrame({"fold": [0] * 400})
    similarity = pd.DataFrame(
        np.full((5, 5), 0.4) + 0.6 * np.eye(5), index=classes, columns=classes
    )
    metrics, predictions = score_test_predictions(
        given, labels, np.arange(400), table, split, similarity, classes, 10, 3.0
    )
    scaled = apply_temperature(given, 3.0)
    assert metrics["calibration"] == {
        "temperature": 3.0,
        "ece_uncalibrated": expected_calibration_error(labels, given, 10),
        "cross_entropy_uncalibrated": pytest.approx(
            -np.log(given[np.arange(400), labels]).mean()
        ),
    }
    argmax = metrics["decisions"]["argmax"]
    assert argmax["ece"] == expected_calibration_error(labels, scaled, 10)
    assert argmax["ece"] < metrics["calibration"]["ece_uncalibrated"] / 2
    assert argmax["accuracy"] == (given.argmax(1) == labels).mean()  # argmax kept
    np.testing.assert_allclose(predictions[[f"prob_{c}" for c in classes]], scaled)
    np.testing.assert_array_equal(
        predictions[[f"uncalibrated_{c}" for c in classes]], given
    )
    assert (predictions["temperature"] == 3.0).all()
    # the rule that reads the probabilities decides on the calibrated ones
    rule = decide(scaled, similarity.to_numpy(), "min_expected_cost")
    assert predictions["predicted_min_expected_cost"].tolist() == [
        classes[i] for i in rule
    ]
    # the report: temperature and both ECEs; the figure: both diagrams
    folds, _, recall, _ = summarise_cross_validation(
        classes, cross_entropy__fold_0=metrics, cross_entropy__fold_1=metrics
    )
    report = write_report(
        _setup(classes), folds, _significance(), recall, EvaluationConfig(decimals=3)
    )
    section = report.split("## Calibration")[1].split("## ")[0]
    before = metrics["calibration"]["ece_uncalibrated"]
    assert (
        f"| cross_entropy | 3.00 (3.00–3.00) | {before:.3f} → {argmax['ece']:.3f} |"
        in (section)
    )
    # the section says how the temperatures were fitted
    assert "prior on log T centred on T = 1, standard deviation 0.4" in section
    for config, said, unsaid in (
        (EvaluationConfig(temperature_prior=None), "log-likelihood", "prior"),
        (EvaluationConfig(calibration_objective="confidence"), "confidence", "prior"),
    ):
        other = write_report(_setup(classes), folds, _significance(), recall, config)
        other = other.split("## Calibration")[1].split("## ")[0]
        assert said in other and unsaid not in other
    oof = predictions.assign(variant="cross_entropy")
    figure = plot_reliability(oof, classes, EvaluationConfig(ece_bins=10))
    pooled = expected_calibration_error(labels, scaled, 10)
    assert f"ECE {before:.3f} → {pooled:.3f}" in figure.axes[0].get_title()


def test_a_network_is_calibrated_on_its_validation_predictions_unless_off():
    rng = np.random.default_rng(0)
    logits = rng.normal(scale=1.5, size=(300, 5))
    labels = np.array([rng.choice(5, p=p) for p in softmax(logits, axis=1)])
    given = softmax(2.5 * logits, axis=1)
    history = {
        "loss": [1.0],
        "validation_probabilities": given.tolist(),
        "validation_labels": labels.tolist(),
    }
    for objective in ("log_likelihood", "confidence"):
        for prior in (0.4, None):
            config = EvaluationConfig(
                calibration_objective=objective, temperature_prior=prior
            )
            assert model_temperature(history, config) == fit_temperature(
                given, labels, objective, prior
            )
            assert 1.8 < model_temperature(history, config) < 3.2
    assert model_temperature(history, EvaluationConfig(calibration="none")) == 1.0
    assert model_temperature({"loss": [1.0]}, EvaluationConfig()) == 1.0  # none held
    with pytest.raises(ValueError, match="calibration"):
        EvaluationConfig(calibration="platt")


def test_report_names_the_mildest_mistakes_within_one_point_of_uar(classes):
    def metrics(fold, uar, severity, rule_severity):
        record = _fold_metrics(fold, 2 * uar)  # _rule_metrics halves accuracy
        record["decisions"]["argmax"]["mistake_severity"] = severity
        record["decisions"]["min_expected_cost"]["uar"] = uar - 0.004
        record["decisions"]["min_expected_cost"]["mistake_severity"] = rule_severity
        return record

    folds, _, recall, _ = summarise_cross_validation(
        classes,
        cross_entropy__fold_0=metrics(0, 0.60, 0.50, 0.45),
        cross_entropy__fold_1=metrics(1, 0.60, 0.50, 0.45),
        soft_target__fold_0=metrics(0, 0.595, 0.40, 0.41),  # -0.5 points: close
        soft_target__fold_1=metrics(1, 0.595, 0.40, 0.41),
        sim_loss__fold_0=metrics(0, 0.55, 0.30, 0.30),  # milder, but -5 points
        sim_loss__fold_1=metrics(1, 0.55, 0.30, 0.30),
    )
    significance = _significance().assign(
        variant="soft_target", metric="mistake_severity", mean_difference=-0.1
    )
    report = write_report(
        _setup(classes), folds, significance, recall, EvaluationConfig()
    )
    section = report.split("## Trade-off: UAR against mistake severity")[1]
    section = section.split("\n## ")[0]
    assert "the mildest mistakes come from `soft_target` with `argmax`" in section
    assert "severity 0.4000 at UAR 0.5950" in section
    assert (
        "against `cross_entropy` with the same rule, Δ -0.1000 per fold, p decisive "
        "< 0.001, **significant**"
    ) in section
    # nothing milder within one point: said so
    folds, _, recall, _ = summarise_cross_validation(
        classes,
        cross_entropy__fold_0=metrics(0, 0.60, 0.30, 0.45),
        cross_entropy__fold_1=metrics(1, 0.60, 0.30, 0.45),
    )
    report = write_report(
        _setup(classes), folds, significance, recall, EvaluationConfig()
    )
    assert "No loss variant or decision rule lowers the mistake severity" in report
