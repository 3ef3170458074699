"""The study's tables: every run's fold metrics gathered, summarised and tested.

Blocks are corpus × seed runs; a block's score for a method is its mean over the
run's folds. Besides the loss variants, each block has ``linear (best)``: the
linear baseline with the highest UAR in that run (``linear_speech``,
``linear_text`` or ``linear_fusion``), with all its metrics. The statistics are
those of :mod:`emotion_aware_loss.study.comparison`.
"""

from __future__ import annotations

import pandas as pd

from emotion_aware_loss.config import StudyTestsConfig
from emotion_aware_loss.config.layout import (
    FUSION,
    SPEECH,
    TEXT,
)
from emotion_aware_loss.study.comparison import (
    average_ranks,
    compare_with_reference,
    friedman,
    nemenyi_critical_difference,
)
from emotion_aware_loss.study.design import parse_run_key

LINEAR_BEST = "linear (best)"
LINEAR = (SPEECH, TEXT, FUSION)
HIGHER_IS_BETTER = {
    "uar": True,
    "accuracy": True,
    "macro_f1": True,
    "mistake_severity": False,
}
SUMMARY_METRICS = ("uar", "accuracy", "macro_f1", "mistake_severity")
TEST_COLUMNS = [
    "metric",
    "decision",
    "test",
    "method",
    "reference",
    "n_blocks",
    "n_methods",
    "mean_score",
    "average_rank",
    "mean_difference",
    "wins",
    "losses",
    "statistic",
    "p_value",
    "p_holm",
    "significant",
    "critical_difference",
]


def gather_runs(run_metrics: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Every run's ``cv_fold_metrics`` in one table with ``corpus`` and ``seed``.

    Args:
        run_metrics: Each run's fold table, keyed ``<corpus>__seed_<seed>``.
    """
    frames = []
    for key, table in run_metrics.items():
        corpus, seed = parse_run_key(key)
        frames.append(table.assign(corpus=corpus, seed=seed))
    out = pd.concat(frames, ignore_index=True)
    first = ["corpus", "seed"]
    return out[first + [c for c in out.columns if c not in first]]


def summarise_study(fold_metrics: pd.DataFrame) -> pd.DataFrame:
    """Variant × corpus × decision rule: each metric's mean and spread.

    ``<metric>_std`` is over all seeds and folds, ``<metric>_seed_std`` over the
    seeds' means (how much a single run moves with its seed).
    """
    keys = ["corpus", "variant", "decision"]
    metrics = [m for m in SUMMARY_METRICS if m in fold_metrics]
    grouped = fold_metrics.groupby(keys, sort=False)[metrics]
    per_seed = fold_metrics.groupby([*keys, "seed"], sort=False)[metrics].mean()
    seed_std = per_seed.groupby(level=keys, sort=False).std(ddof=1).fillna(0.0)
    out = pd.concat(
        [
            grouped.mean().add_suffix("_mean"),
            grouped.std(ddof=1).fillna(0.0).add_suffix("_std"),
            seed_std.add_suffix("_seed_std"),
        ],
        axis=1,
    )
    columns = [f"{m}_{s}" for m in metrics for s in ("mean", "std", "seed_std")]
    out = out[columns]
    out.insert(0, "n_seeds", fold_metrics.groupby(keys, sort=False)["seed"].nunique())
    out.insert(1, "n_folds", grouped.size() // out["n_seeds"])
    out = out.reset_index()
    out.insert(2, "kind", out["variant"].map(_kind))
    return out


def _kind(variant: str) -> str:
    return "linear baseline" if variant in LINEAR else "loss variant"


def block_scores(
    fold_metrics: pd.DataFrame, metric: str, decision: str
) -> tuple[pd.DataFrame, pd.Series]:
    """Blocks × methods: each run's mean over folds, loss variants and ``linear (best)``.

    Returns:
        The scores (rows ``"<corpus>, seed <seed>"``) and, per block, which linear
        baseline ``linear (best)`` is (empty without baselines).

    Raises:
        ValueError: If no row has ``decision``.
    """
    table = fold_metrics[fold_metrics["decision"] == decision]
    if table.empty:
        raise ValueError(
            f"no fold metrics under decision rule {decision!r} "
            f"(rules present: {sorted(set(fold_metrics['decision']))})"
        )
    columns = list(dict.fromkeys([metric, "uar"]))
    means = table.groupby(["corpus", "seed", "variant"], sort=False)[columns].mean()
    score = means[metric].unstack("variant")
    order = list(dict.fromkeys(table["variant"]))
    score = score[order]
    linear = [v for v in order if v in LINEAR]
    best = pd.Series(dtype=object)
    if linear:
        best = means["uar"].unstack("variant")[linear].idxmax(axis=1)
        score[LINEAR_BEST] = [score.at[block, b] for block, b in best.items()]
        score = score.drop(columns=linear)
    labels = [f"{corpus}, seed {seed}" for corpus, seed in score.index]
    score.index = labels
    if linear:
        best.index = labels
    score.columns.name = None
    return score, best


def rank_tests(fold_metrics: pd.DataFrame, tests: StudyTestsConfig) -> pd.DataFrame:
    """Friedman test, average ranks and comparisons with the references, per metric.

    Rows (``test``): ``friedman`` (chi-square over the blocks, its p-value, the
    Nemenyi critical difference), ``iman_davenport`` (its F and p-value),
    ``average_rank`` (one per method), and, against ``tests.reference`` and against
    ``linear (best)``, ``rank_z`` (Demšar's z on average ranks) and ``wilcoxon``
    (signed-rank on the paired block scores), Holm-adjusted within each reference
    and test.
    """
    rows = []
    for metric in tests.metrics:
        higher = HIGHER_IS_BETTER[metric]
        scores, _ = block_scores(fold_metrics, metric, tests.decision)
        n, k = scores.shape
        base = {"metric": metric, "decision": tests.decision, "n_blocks": n}
        omnibus = base | {
            "test": "friedman",
            "n_methods": k,
            "critical_difference": nemenyi_critical_difference(k, n, tests.alpha),
        }
        if k < 3:  # two methods: the comparisons below are the whole test
            rows.append(omnibus | {"test": "friedman (needs 3 methods)"})
        else:
            result = friedman(scores, higher)
            rows.append(
                omnibus
                | {
                    "statistic": result["chi2"],
                    "p_value": result["p_chi2"],
                    "significant": result["p_chi2"] < tests.alpha,
                }
            )
            rows.append(
                omnibus
                | {
                    "test": "iman_davenport",
                    "statistic": result["iman_davenport_f"],
                    "p_value": result["p_iman_davenport"],
                    "significant": result["p_iman_davenport"] < tests.alpha,
                }
            )
        for method, rank in average_ranks(scores, higher).items():
            rows.append(
                base
                | {
                    "test": "average_rank",
                    "method": method,
                    "n_methods": k,
                    "average_rank": rank,
                    "mean_score": float(scores[method].mean()),
                }
            )
        for reference in (tests.reference, LINEAR_BEST):
            if reference not in scores:
                continue
            table = compare_with_reference(scores, reference, higher)
            for test in ("rank_z", "wilcoxon"):
                for _, r in table.iterrows():
                    rows.append(
                        base
                        | {
                            "test": test,
                            "method": r["method"],
                            "reference": reference,
                            "n_methods": k,
                            "average_rank": r["average_rank"],
                            "mean_difference": r["mean_difference"],
                            "wins": r["wins"],
                            "losses": r["losses"],
                            "p_value": r[f"p_{test}"],
                            "p_holm": r[f"p_{test}_holm"],
                            "significant": r[f"p_{test}_holm"] < tests.alpha,
                        }
                    )
    return pd.DataFrame(rows).reindex(columns=TEST_COLUMNS)
