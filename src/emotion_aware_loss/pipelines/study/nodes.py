"""Nodes of the study's aggregation: thin wrappers over the study modules."""

from __future__ import annotations

import logging

import pandas as pd
from matplotlib.figure import Figure

from emotion_aware_loss.config import StudyTestsConfig
from emotion_aware_loss.evaluation.figures import frontier_figure
from emotion_aware_loss.evaluation.frontier import frontier_summary
from emotion_aware_loss.study.comparison import critical_difference_figure
from emotion_aware_loss.study.report import METRIC_NAMES, study_markdown
from emotion_aware_loss.study.tables import (
    gather_runs,
    rank_tests,
    summarise_study,
)

logger = logging.getLogger(__name__)


def collect_study_metrics(**run_metrics: pd.DataFrame) -> pd.DataFrame:
    """Every run's per-fold metrics in one table.

    Args:
        **run_metrics: Each run's ``cv_fold_metrics``, keyed ``<corpus>__seed_<seed>``.

    Returns:
        The rows of all runs with ``corpus`` and ``seed`` columns first.
    """
    return gather_runs(run_metrics)


def summarise_study_runs(study_fold_metrics: pd.DataFrame) -> pd.DataFrame:
    """Variant × corpus × decision rule: mean and spread over seeds and folds.

    Args:
        study_fold_metrics: The output of ``collect_study_metrics``.

    Returns:
        One row per (corpus, variant, decision rule); see ``summarise_study``.
    """
    return summarise_study(study_fold_metrics)


def test_study_runs(
    study_fold_metrics: pd.DataFrame, tests: StudyTestsConfig
) -> pd.DataFrame:
    """Friedman test, average ranks and Holm-adjusted comparisons over the blocks.

    Args:
        study_fold_metrics: The output of ``collect_study_metrics``.
        tests: Reference variant, decision rule, metrics and significance level.

    Returns:
        The long table of ``rank_tests``.
    """
    table = rank_tests(study_fold_metrics, tests)
    first = table[(table["metric"] == tests.metrics[0]) & (table["test"] == "friedman")]
    if not first.empty:
        logger.info(
            "Study, %s over %d blocks: Friedman p = %.3f",
            METRIC_NAMES[tests.metrics[0]],
            int(first["n_blocks"].iloc[0]),
            first["p_value"].iloc[0],
        )
    return table


def plot_critical_difference(
    study_tests: pd.DataFrame, tests: StudyTestsConfig
) -> Figure:
    """Demšar's critical-difference diagram of the first metric's average ranks.

    Args:
        study_tests: The output of ``test_study_runs``.
        tests: Which metric comes first.

    Returns:
        The diagram.
    """
    metric = tests.metrics[0]
    part = study_tests[study_tests["metric"] == metric]
    ranks = part[part["test"] == "average_rank"].set_index("method")["average_rank"]
    omnibus = part[part["test"].str.startswith("friedman")].iloc[0]
    title = (
        f"{METRIC_NAMES[metric]} average ranks over {int(omnibus['n_blocks'])} "
        f"corpus × seed blocks (Nemenyi, α = {tests.alpha})"
    )
    return critical_difference_figure(ranks, omnibus["critical_difference"], title)


def write_study_report(
    study_summary: pd.DataFrame,
    study_tests: pd.DataFrame,
    study_fold_metrics: pd.DataFrame,
    tests: StudyTestsConfig,
) -> str:
    """The study report: the paper's table, the tests and what they do not show.

    Args:
        study_summary: The output of ``summarise_study_runs``.
        study_tests: The output of ``test_study_runs``.
        study_fold_metrics: The output of ``collect_study_metrics``.
        tests: Reference variant, decision rule, metrics and significance level.

    Returns:
        Markdown; its figure link is resolved when the report is saved.
    """
    return study_markdown(study_summary, study_tests, study_fold_metrics, tests)


def aggregate_frontiers(**run_points: pd.DataFrame) -> tuple[pd.DataFrame, Figure]:
    """The frontier over corpora and seeds: each (model, rule weight)'s UAR and
    mistake severity averaged over the runs (each run's mean over its folds), with
    the spread over runs and the Pareto points recomputed.

    Args:
        **run_points: Each run's ``frontier_points``, keyed ``<corpus>__seed_<seed>``.

    Returns:
        The aggregated points (``variant, weight``, mean and std over runs,
        ``pareto``) and their figure.
    """
    points = pd.concat(
        [
            frame[["variant", "weight"]].assign(
                fold=i,
                uar=frame["uar_mean"],
                mistake_severity=frame["mistake_severity_mean"],
            )
            for i, frame in enumerate(run_points.values())
        ],
        ignore_index=True,
    )
    summary = frontier_summary(points)
    figure = frontier_figure(summary)
    figure.axes[0].set_title(
        f"UAR against mistake severity over {len(run_points)} corpus × seed runs: "
        "○ argmax to □ minimum expected cost\n(mean over runs of each run's mean "
        "over folds, ± 1 std over runs)",
        fontsize=9,
    )
    return summary, figure
