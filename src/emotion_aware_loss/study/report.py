"""The study's Markdown report: the table a paper prints, the tests, their limits."""

from __future__ import annotations

import pandas as pd

from emotion_aware_loss.config import StudyTestsConfig
from emotion_aware_loss.study.tables import HIGHER_IS_BETTER, LINEAR_BEST, block_scores

METRIC_NAMES = {
    "uar": "UAR",
    "accuracy": "accuracy",
    "macro_f1": "macro F1",
    "mistake_severity": "mistake severity",
}


def _cell(row: pd.Series, metric: str) -> str:
    return f"{row[f'{metric}_mean']:.3f} ± {row[f'{metric}_std']:.3f}"


def paper_table(
    summary: pd.DataFrame,
    tests: pd.DataFrame,
    fold_metrics: pd.DataFrame,
    config: StudyTestsConfig,
) -> str:
    """Methods × corpora (mean ± std over seeds and folds) and average ranks."""
    metric = config.metrics[0]
    rows = summary[summary["decision"] == config.decision]
    corpora = list(dict.fromkeys(rows["corpus"]))
    ranks = tests[(tests["metric"] == metric) & (tests["test"] == "average_rank")]
    rank = dict(zip(ranks["method"], ranks["average_rank"], strict=True))
    _, best = block_scores(fold_metrics, metric, config.decision)
    higher = HIGHER_IS_BETTER[metric]
    lines = [
        "| method | " + " | ".join(corpora) + " | average rank |",
        "|---|" + "---|" * (len(corpora) + 1),
    ]
    cells: dict[str, dict[str, str]] = {}
    values: dict[str, dict[str, float]] = {}
    for _, row in rows.iterrows():
        name = row["variant"] if row["kind"] == "loss variant" else None
        if name is None:
            continue
        cells.setdefault(name, {})[row["corpus"]] = _cell(row, metric)
        values.setdefault(name, {})[row["corpus"]] = row[f"{metric}_mean"]
    for corpus in corpora:
        chosen = best[best.index.str.startswith(f"{corpus}, ")]
        if chosen.empty:
            continue
        baseline = chosen.mode().iloc[0]
        row = rows[(rows["corpus"] == corpus) & (rows["variant"] == baseline)].iloc[0]
        cells.setdefault(LINEAR_BEST, {})[corpus] = f"{_cell(row, metric)} ({baseline})"
        values.setdefault(LINEAR_BEST, {})[corpus] = row[f"{metric}_mean"]
    leaders = {
        corpus: (max if higher else min)(
            (v[corpus] for v in values.values() if corpus in v), default=None
        )
        for corpus in corpora
    }
    for method in sorted(cells, key=lambda m: rank.get(m, float("inf"))):
        shown = []
        for corpus in corpora:
            text = cells[method].get(corpus, "—")
            if values[method].get(corpus) == leaders[corpus]:
                text = f"**{text}**"
            shown.append(text)
        lines.append(
            f"| {method} | "
            + " | ".join(shown)
            + f" | {rank.get(method, float('nan')):.2f} |"
        )
    return "\n".join(lines)


def _p(value: float) -> str:
    return "—" if pd.isna(value) else f"{value:.3f}"


def comparison_table(tests: pd.DataFrame, metric: str, reference: str) -> str:
    """Every method against ``reference``: difference, wins, Holm-adjusted p-values."""
    part = tests[(tests["metric"] == metric) & (tests["reference"] == reference)]
    if part.empty:
        return ""
    z = part[part["test"] == "rank_z"].set_index("method")
    w = part[part["test"] == "wilcoxon"].set_index("method")
    lines = [
        f"| method − {reference} | mean difference | wins / losses | "
        "p rank z (Holm) | p Wilcoxon (Holm) |",
        "|---|---|---|---|---|",
    ]
    for method, row in z.iterrows():
        lines.append(
            f"| {method} | {row['mean_difference']:+.4f} | "
            f"{int(row['wins'])} / {int(row['losses'])} | {_p(row['p_holm'])} | "
            f"{_p(w.at[method, 'p_holm'])} |"
        )
    return "\n".join(lines)


def _omnibus(tests: pd.DataFrame, metric: str, alpha: float) -> str:
    part = tests[tests["metric"] == metric].set_index("test")
    name = METRIC_NAMES[metric]
    if "friedman" not in part.index:
        row = part.iloc[0]
        return (
            f"{name}: {int(row['n_methods'])} methods over {int(row['n_blocks'])} "
            "blocks; the Friedman test needs at least 3 methods."
        )
    f, i = part.loc["friedman"], part.loc["iman_davenport"]
    verdict = "differ" if f["p_value"] < alpha else "do not differ significantly"
    return (
        f"{name}: Friedman χ² = {f['statistic']:.2f} (p = {f['p_value']:.3f}), "
        f"Iman–Davenport F = {i['statistic']:.2f} (p = {i['p_value']:.3f}) over "
        f"{int(f['n_blocks'])} blocks and {int(f['n_methods'])} methods: the "
        f"average ranks {verdict} at α = {alpha}. Nemenyi critical difference "
        f"{f['critical_difference']:.2f} ranks."
    )


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _limits(n_blocks: int, n_corpora: int, n_seeds: int) -> list[str]:
    smallest = 2.0 / 2**n_blocks
    blocks = (
        f"{_count(n_corpora, 'corpus', 'corpora')} × {_count(n_seeds, 'seed', 'seeds')}"
    )
    return [
        f"- The blocks are {blocks}. Runs of one corpus "
        "share its utterances and differ only in folds, initial weights and batch "
        "order, so they are not independent data sets: the tests treat them as if "
        f"they were, and their p-values are optimistic about corpora. Evidence about "
        f"new corpora rests on {n_corpora} of them.",
        f"- With {n_blocks} blocks the smallest two-sided Wilcoxon p-value is "
        f"{smallest:.3g} (every block won); after Holm's adjustment over several "
        "methods, a difference must hold on every block to be significant. A "
        "non-significant difference does not show that two methods are equal.",
        "- Ranks ignore how large a difference is: read the mean differences and "
        "the table above with them. Rank-based post-hoc tests (rank z, Nemenyi) "
        "depend on which other methods are in the comparison; the Wilcoxon test "
        "does not (Benavoli et al., JMLR 2016).",
        f"- `{LINEAR_BEST}` is, in every block, the linear baseline with the highest "
        "UAR, chosen after seeing the test folds: a slight advantage to it.",
    ]


def study_markdown(
    summary: pd.DataFrame,
    tests: pd.DataFrame,
    fold_metrics: pd.DataFrame,
    config: StudyTestsConfig,
) -> str:
    """The study report (``{figure:...}`` links resolved by ``ReportDataset``)."""
    metric = config.metrics[0]
    corpora = list(dict.fromkeys(fold_metrics["corpus"]))
    seeds = list(dict.fromkeys(fold_metrics["seed"]))
    n_blocks = len(fold_metrics[["corpus", "seed"]].drop_duplicates())
    name = METRIC_NAMES[metric]
    parts = [
        f"# Study: {_count(len(corpora), 'corpus', 'corpora')} × "
        f"{_count(len(seeds), 'seed', 'seeds')}",
        "",
        f"Corpora: {', '.join(corpora)}; seeds: {', '.join(map(str, seeds))}; "
        f"decision rule: {config.decision}. Each run is a whole cross-validation; "
        "its own report is `data/study/<corpus>/seed_<seed>/08_reporting/report.md`.",
        "",
        f"## {name} per corpus (mean ± std over seeds and folds)",
        "",
        f"Average rank over the {n_blocks} corpus × seed blocks (1 = best); the best "
        f"value per corpus in bold; `{LINEAR_BEST}`: the linear baseline with the "
        "highest UAR in each run (named: the one chosen most often).",
        "",
        paper_table(summary, tests, fold_metrics, config),
        "",
        "## Tests over the blocks",
        "",
        *(f"- {_omnibus(tests, m, config.alpha)}" for m in config.metrics),
        "",
        "![critical difference]({figure:critical_difference.png})",
        "",
        "The decision-rule frontier over all runs (each model from its `argmax` to "
        "its `min_expected_cost` point; mean over runs, `study_frontier.csv`):",
        "",
        "![frontier]({figure:study_frontier.png})",
        "",
    ]
    for reference in (config.reference, LINEAR_BEST):
        table = comparison_table(tests, metric, reference)
        if table:
            parts += [f"### {name}: against {reference}", "", table, ""]
    parts += [
        "## What these tests show and what they do not",
        "",
        *_limits(n_blocks, len(corpora), len(seeds)),
        "",
    ]
    return "\n".join(parts)
