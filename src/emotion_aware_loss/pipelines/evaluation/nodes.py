"""Nodes of the evaluation pipeline.

Longer than most node files: the evaluation pipeline has thirteen node functions
(scoring, summaries, comparisons, figures, the report), each a thin function over
the library, and a pipeline's node functions live in its one ``nodes.py``
(``tests/test_catalog.py``).
"""

from __future__ import annotations

import logging

import keras
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from emotion_aware_loss.config import (
    SCALAR_METRICS,
    BaselinesConfig,
    CrossValidationConfig,
    EvaluationConfig,
    LossConfig,
    ModelConfig,
    TrainingConfig,
)
from emotion_aware_loss.config.layout import (
    CONVEX_PREFIX,
    baseline_names,
    convex_name,
    reference_baseline,
)
from emotion_aware_loss.evaluation.figures import (
    confusion_figure,
    frontier_figure,
    learning_curves_figure,
    pair_cost_figure,
    per_class_recall_figure,
    reliability_figure,
    similarity_figure,
)
from emotion_aware_loss.evaluation.frontier import frontier_points, frontier_summary
from emotion_aware_loss.evaluation.reporting import (
    fold_table,
    markdown_report,
    summary_table,
)
from emotion_aware_loss.evaluation.scoring import (
    UNCALIBRATED,
    model_temperature,
    score_test_predictions,
    temperature_fit,
)
from emotion_aware_loss.evaluation.setup_description import describe_run
from emotion_aware_loss.evaluation.significance import (
    bootstrap_comparisons,
    fold_comparisons,
    per_class_recall,
    significance_table,
)
from emotion_aware_loss.folds.cross_validation import TEST, FoldInputs, rows_of
from emotion_aware_loss.losses.family import make_loss, pair_costs
from emotion_aware_loss.losses.similarity import SIMILARITY_SOURCES
from emotion_aware_loss.models.blend import blend, choose_weight
from emotion_aware_loss.models.calibration import apply_temperature
from emotion_aware_loss.models.inputs import InputSpec
from emotion_aware_loss.training.fitting import predict

logger = logging.getLogger(__name__)

# Caption -> file name of every figure the report links (catalog entries of the
# same names without the extension).
FIGURES = {
    "Confusion matrices per variant": "confusion_matrices.png",
    "Per-class recall": "per_class_recall.png",
    "Similarity matrices, hand-set and derived": "similarity_matrices.png",
    "Loss per (true, predicted) pair": "pair_costs.png",
    "Learning curves per fold": "learning_curves.png",
    "Reliability diagrams": "reliability_diagrams.png",
    "UAR against mistake severity (decision-rule frontier)": "frontier.png",
}


def evaluate_model(
    model: keras.Model,
    history: dict,
    model_input_table: pd.DataFrame,
    acoustic_features: np.ndarray,
    split: pd.DataFrame,
    feature_scaler: dict[str, list[float]],
    vocabulary: list[str],
    similarity_matrix: pd.DataFrame,
    input_spec: InputSpec,
    text_features: np.ndarray | None = None,
    evaluation: EvaluationConfig | None = None,
) -> tuple[dict, pd.DataFrame]:
    """Score a trained model on its fold's test part.

    With ``evaluation.calibration: temperature`` the probabilities are divided by
    a temperature fitted on the network's early-stopped predictions on the
    validation part (``history``; 1 for a network trained without one). The ECE uses
    ``evaluation.ece_bins``, as the reliability figure does.

    Returns:
        The fold's metrics under each decision rule (``decisions.argmax`` and
        ``decisions.min_expected_cost``: accuracy, UAR, F1, cross-entropy, mistake
        severity, semantic cost, ECE, confusion matrix; of the calibrated
        probabilities), ``calibration`` (``temperature``, ``ece_uncalibrated``,
        ``cross_entropy_uncalibrated``), and its test predictions
        (``utterance_id, fold, repeat, label, predicted_<rule>..., prob_<class>...,
        temperature, uncalibrated_<class>...``: the calibrated probabilities, the
        temperature and the probabilities as the model gave them).
    """
    inputs, labels, rows = FoldInputs(
        utterances=model_input_table,
        acoustic_features=acoustic_features,
        split=split,
        feature_scaler=feature_scaler,
        vocabulary=vocabulary,
        max_tokens=input_spec.max_tokens,
        text_features=text_features,
    ).part(TEST)
    probabilities = predict(model, inputs)
    evaluation = evaluation or EvaluationConfig()
    return score_test_predictions(
        probabilities,
        labels,
        rows,
        model_input_table,
        split,
        similarity_matrix,
        list(input_spec.classes),
        evaluation.ece_bins,
        model_temperature(history, evaluation),
    )


def _columns(table: pd.DataFrame, prefix: str, classes: list[str]) -> np.ndarray:
    return table[[f"{prefix}{c}" for c in classes]].to_numpy(dtype=np.float64)


def score_ensemble(
    network_predictions: pd.DataFrame,
    history: dict,
    linear_predictions: pd.DataFrame,
    linear_held_out: pd.DataFrame,
    model_input_table: pd.DataFrame,
    split: pd.DataFrame,
    similarity_matrix: pd.DataFrame,
    input_spec: InputSpec,
    evaluation: EvaluationConfig,
) -> tuple[dict, pd.DataFrame]:
    """A network averaged with a linear model (:mod:`emotion_aware_loss.models.blend`),
    scored on the fold's test part like any model.

    The network's weight is ``evaluation.ensemble_weight``, or, with
    ``validation``, chosen on the validation part: the early-stopped network's
    probabilities there (``history``), calibrated at its temperature, against the
    linear model's held-out ones on the same utterances. The mean is calibrated
    again on the same rows, as ``linear_fusion`` is.

    Returns:
        Metrics (with ``ensemble``: the network's weight and the linear model) and
        predictions, as :func:`evaluate_model` gives them.
    """
    classes = list(input_spec.classes)
    rows = rows_of(model_input_table, split, TEST)
    ids = model_input_table["utterance_id"].to_numpy()[rows]
    for name, table in (
        ("network", network_predictions),
        ("linear", linear_predictions),
    ):
        if not np.array_equal(table["utterance_id"].to_numpy(), ids):
            raise ValueError(
                f"the {name} predictions do not hold the fold's test utterances in "
                "order; rerun the fold's training and baselines"
            )
    fixed = evaluation.ensemble_weight != "validation"
    weight = float(evaluation.ensemble_weight) if fixed else 0.5
    temperature = 1.0
    held = linear_held_out.set_index("utterance_id")
    validation = history.get("validation_utterances", [])
    if len(validation) and set(validation) <= set(held.index):
        labels = np.asarray(history["validation_labels"], dtype=np.int64)
        network = apply_temperature(
            np.asarray(history["validation_probabilities"]),
            model_temperature(history, evaluation),
        )
        linear = _columns(held.loc[validation], "prob_", classes)
        if not fixed:
            weight = choose_weight(network, linear, labels)
        fit = temperature_fit(evaluation)
        if fit is not None:
            temperature = fit(blend(network, linear, weight), labels)
    else:
        logger.warning(
            "no validation predictions to choose the ensemble's weight on or to "
            "calibrate it with; averaging with weight %g",
            weight,
        )
    labels = model_input_table["label_id"].to_numpy(dtype=np.int64)[rows]
    mixed = blend(
        _columns(network_predictions, "prob_", classes),
        _columns(linear_predictions, "prob_", classes),
        weight,
    )
    uncalibrated = blend(
        _columns(network_predictions, UNCALIBRATED, classes),
        _columns(linear_predictions, UNCALIBRATED, classes),
        weight,
    )
    metrics, predictions = score_test_predictions(
        mixed,
        labels,
        rows,
        model_input_table,
        split,
        similarity_matrix,
        classes,
        evaluation.ece_bins,
        temperature,
        uncalibrated,
    )
    metrics["ensemble"] = {"network_weight": weight}
    return metrics, predictions


def _records(fold_metrics: dict[str, dict]) -> list[dict]:
    """Fold metrics keyed ``<variant>__fold_<k>`` as records with ``variant``."""
    return [
        metrics | {"variant": key.rpartition("__fold_")[0]}
        for key, metrics in fold_metrics.items()
    ]


def collect_predictions(**fold_predictions: pd.DataFrame) -> pd.DataFrame:
    """Pool the out-of-fold predictions of every variant into one table.

    Args:
        **fold_predictions: Test predictions of each fold, keyed
            ``<variant>__fold_<k>``.

    Returns:
        ``variant, repeat, fold, utterance_id, label, predicted_<rule>...,
        prob_<class>...``: every utterance once per variant and repeat, so any
        metric can be recomputed without retraining.
    """
    frames = []
    for key, predictions in fold_predictions.items():
        frame = predictions.copy()
        if "repeat" not in frame:
            frame["repeat"] = 0
        frame.insert(0, "variant", key.rpartition("__fold_")[0])
        frames.append(frame)
    pooled = pd.concat(frames, ignore_index=True)
    first = ["variant", "repeat", "fold", "utterance_id", "label"]
    return pooled[first + [c for c in pooled.columns if c not in first]]


def summarise_cross_validation(
    classes: list[str], **fold_metrics: dict
) -> tuple[pd.DataFrame, dict, pd.DataFrame, Figure]:
    """Aggregate per-fold metrics.

    Args:
        classes: Configured class order.
        **fold_metrics: Metrics of each fold, keyed ``<variant>__fold_<k>``.

    Returns:
        Per-fold table, summary (mean ± std per variant and decision rule,
        JSON-ready), per-class recall table and the pooled confusion-matrix figure.
    """
    records = _records(fold_metrics)
    folds = fold_table(records)
    summary = summary_table(folds)
    variants: dict[str, dict] = {}
    for _, row in summary.iterrows():
        variants.setdefault(row["variant"], {})[row["decision"]] = {
            k: (None if pd.isna(v) else float(v))
            for k, v in row.items()
            if k not in {"variant", "decision"}
        }
    summary_json = {"classes": classes, "variants": variants}
    return (
        folds,
        summary_json,
        per_class_recall(records, classes),
        confusion_figure(records, classes),
    )


def compare_with_baseline(
    cv_fold_metrics: pd.DataFrame,
    oof_predictions: pd.DataFrame,
    similarity_matrix: pd.DataFrame,
    classes: list[str],
    evaluation: EvaluationConfig,
    seed: int,
    model: ModelConfig,
) -> pd.DataFrame:
    """Paired tests over folds and bootstrap intervals over utterances.

    Up to three comparisons: every loss variant against ``evaluation.baseline``
    (its ``min_expected_cost`` row against its own ``argmax``); when the linear
    baselines were scored, every loss variant against the linear baseline of the
    same modalities (``linear_fusion`` for speech and text) under the same decision
    rule; and when ``baselines.losses`` fits the baseline variant's loss too, every
    ``convex_<variant>`` against ``convex_<baseline>``, the same softmax regression
    fitted with cross-entropy by the same solver (scikit-learn's solver stops
    elsewhere, which moved the chosen C and UAR by up to 0.9 points on the
    development corpora: benchmarks/RESULTS.md, section 19). Holm's adjustment runs
    within each comparison.

    Returns:
        One row per (comparison, variant, decision rule, metric) with the
        difference to the reference, the fold-level p-values, the bootstrap
        interval and whether the difference is significant under
        ``evaluation.significance_test``.
    """
    linear = set(baseline_names(model.modalities))
    scored = set(cv_fold_metrics["variant"])
    references = [evaluation.baseline]
    if reference_baseline(model.modalities) in scored:
        references.append(reference_baseline(model.modalities))
    # the convex fits against the baseline variant's own, by the same solver
    family = convex_name(evaluation.baseline)
    if family in scored:
        references.append(family)
    n_utterances = int(oof_predictions.groupby(["variant", "repeat"]).size().max())
    decisions = tuple(dict.fromkeys(cv_fold_metrics["decision"]))
    tables = []
    for reference in references:
        # The network's variants against the reference (and the reference's rule);
        # against the family's own, its rows only.
        keep = [
            v
            for v in dict.fromkeys(cv_fold_metrics["variant"])
            if (v.startswith(CONVEX_PREFIX) if reference == family else v not in linear)
            or v == reference
        ]
        folds = cv_fold_metrics[cv_fold_metrics["variant"].isin(keep)]
        oof = oof_predictions[oof_predictions["variant"].isin(keep)]
        fold_level = fold_comparisons(folds, reference, SCALAR_METRICS, n_utterances)
        bootstrap = bootstrap_comparisons(
            oof,
            classes,
            similarity_matrix.to_numpy(),
            reference,
            decisions,
            evaluation.bootstrap.n_resamples,
            evaluation.bootstrap.confidence,
            seed,
        )
        if reference in linear or reference == family:  # its rules: not the question
            fold_level = fold_level[fold_level["variant"] != reference]
            bootstrap = bootstrap[bootstrap["variant"] != reference]
        table = significance_table(
            fold_level,
            bootstrap,
            evaluation.significance_test,
            evaluation.alpha,
            evaluation.adjust,
        )
        table.insert(0, "comparison", reference)
        flagged = table[table["significant"]]
        logger.info(
            "%d of %d differences to %s are significant (%s, alpha %g)",
            len(flagged),
            len(table),
            reference,
            evaluation.significance_test,
            evaluation.alpha,
        )
        tables.append(table)
    return pd.concat(tables, ignore_index=True)


def plot_per_class_recall(per_class_recall: pd.DataFrame, classes: list[str]) -> Figure:
    """Bar chart of per-class recall per variant and decision rule."""
    return per_class_recall_figure(per_class_recall, classes)


def plot_similarities(**matrices: pd.DataFrame) -> Figure:
    """Heatmaps of the hand-set and the derived similarity matrices.

    Args:
        **matrices: Matrices keyed by their catalog name (``similarity_matrix``,
            ``similarity_valence_arousal``, ``similarity_learned``,
            ``similarity_confusions``).
    """
    titles = {s.summary_dataset: s.title for s in SIMILARITY_SOURCES.values()}
    return similarity_figure(
        {titles.get(name, name): matrix for name, matrix in matrices.items()}
    )


def plot_pair_costs(
    loss_variants: dict,
    classes: list[str],
    evaluation: EvaluationConfig,
    **matrices: pd.DataFrame,
) -> Figure:
    """The loss each variant charges for each (true, predicted) pair.

    A variant uses the matrix it trains with; for ``learned``/``confusions``
    variants (one matrix per fold) the summary over folds is shown, and a
    ``dynamic`` variant shows its starting matrix.

    Args:
        loss_variants: The ``loss_variants`` parameter block.
        classes: Class order.
        evaluation: Gives the predicted class's probability.
        **matrices: ``hand_set``, ``valence_arousal`` and, when trained,
            ``learned`` and ``confusions`` matrices.
    """
    costs = {}
    for name, raw in loss_variants.items():
        config = LossConfig.model_validate(raw)
        matrix = matrices[config.similarity].to_numpy(dtype="float32")
        loss = make_loss(config.loss, matrix, **config.hyper_parameters())
        costs[f"{name}\n{config.describe()}"] = pair_costs(
            loss, len(classes), evaluation.pair_cost_confidence
        )
    return pair_cost_figure(costs, classes, evaluation.pair_cost_confidence)


def plot_learning_curves(training: TrainingConfig, **histories: dict) -> Figure:
    """Learning curves of every fold, one row per variant.

    Args:
        training: Gives the early-stopping metric.
        **histories: Training histories keyed ``<variant>__fold_<k>``.
    """
    grouped: dict[str, dict[str, dict]] = {}
    for key, history in histories.items():
        variant, _, fold = key.rpartition("__fold_")
        grouped.setdefault(variant, {})[f"fold {fold}"] = history
    return learning_curves_figure(grouped, training.monitor)


def plot_reliability(
    oof_predictions: pd.DataFrame, classes: list[str], evaluation: EvaluationConfig
) -> Figure:
    """Reliability diagrams of the pooled out-of-fold predictions, before and
    after calibration."""
    return reliability_figure(
        oof_predictions, classes, evaluation.ece_bins, UNCALIBRATED
    )


def plot_frontier(
    oof_predictions: pd.DataFrame, similarity_matrix: pd.DataFrame, classes: list[str]
) -> tuple[pd.DataFrame, Figure]:
    """Every model's UAR and mistake severity over the decision rule's cost weight
    (:mod:`emotion_aware_loss.evaluation.frontier`), and the figure drawing them.

    Returns:
        The points (mean and std over folds per model and weight, ``pareto``) and
        the frontier figure.
    """
    points = frontier_points(oof_predictions, classes, similarity_matrix.to_numpy())
    summary = frontier_summary(points)
    return summary, frontier_figure(summary)


def describe_setup(
    model_input_table: pd.DataFrame,
    input_spec: InputSpec,
    classes: list[str],
    seed: int,
    cross_validation: CrossValidationConfig,
    training: TrainingConfig,
    model: ModelConfig,
    preprocessing: dict,
    loss_variants: dict,
    baselines: BaselinesConfig,
) -> dict:
    """The run's setup for the report (:func:`~emotion_aware_loss.evaluation.setup_description.describe_run`):
    corpus, protocol, model, losses, machine; saved as ``report_setup``."""
    return describe_run(
        model_input_table,
        input_spec,
        classes,
        seed,
        cross_validation,
        training,
        model,
        preprocessing,
        loss_variants,
        baselines,
    )


def write_report(
    report_setup: dict,
    cv_fold_metrics: pd.DataFrame,
    significance_tests: pd.DataFrame,
    per_class_recall: pd.DataFrame,
    evaluation: EvaluationConfig,
) -> str:
    """The Markdown report (figures linked as ``{figure:<name>}``, see ReportDataset)."""
    return markdown_report(
        report_setup,
        cv_fold_metrics,
        significance_tests,
        per_class_recall,
        evaluation.model_dump(),
        FIGURES,
    )
