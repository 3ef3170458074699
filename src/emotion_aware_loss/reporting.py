"""Cross-validation summaries: tables, Markdown report and confusion figures."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

SCALAR_METRICS = (
    "accuracy",
    "uar",
    "macro_f1",
    "weighted_f1",
    "cross_entropy",
    "mistake_severity",
    "semantic_cost",
    "ece",
)
METRIC_TITLES = {
    "accuracy": "Accuracy",
    "uar": "UAR",
    "macro_f1": "Macro-F1",
    "weighted_f1": "Weighted-F1",
    "cross_entropy": "Cross-entropy",
    "mistake_severity": "Mistake severity",
    "semantic_cost": "Semantic cost",
    "ece": "ECE",
}
KEYS = ["variant", "decision"]


def fold_table(fold_metrics: list[dict]) -> pd.DataFrame:
    """One row per (variant, decision rule, fold) with the scalar metrics."""
    rows = [
        {
            "variant": m["variant"],
            "decision": rule,
            "fold": m["fold"],
            "n_test": m["n_test"],
        }
        | {k: values[k] for k in SCALAR_METRICS}
        for m in fold_metrics
        for rule, values in m["decisions"].items()
    ]
    order = list(dict.fromkeys(m["variant"] for m in fold_metrics))
    table = pd.DataFrame(rows)
    table["variant"] = pd.Categorical(table["variant"], categories=order, ordered=True)
    table = table.sort_values([*KEYS, "fold"], kind="stable").reset_index(drop=True)
    table["variant"] = table["variant"].astype(str)
    return table


def summary_table(folds: pd.DataFrame) -> pd.DataFrame:
    """Mean and sample standard deviation over folds per variant and decision rule."""
    grouped = folds.groupby(KEYS, sort=False)[list(SCALAR_METRICS)]
    mean = grouped.mean().add_suffix("_mean")
    std = grouped.std(ddof=1).fillna(0.0).add_suffix("_std")
    out = pd.concat([mean, std], axis=1)
    out.insert(0, "n_folds", grouped.size())
    return out.reset_index()


def markdown_report(
    folds: pd.DataFrame,
    summary: pd.DataFrame,
    classes: list[str],
    decimals: int,
    figure_name: str,
    descriptions: dict[str, str] | None = None,
) -> str:
    """A short Markdown report: mean ± std per variant and rule, then per fold.

    ``descriptions`` (variant -> loss, hyper-parameters, similarity) are listed
    first when given.
    """

    def fmt(value: float) -> str:
        return "n/a" if pd.isna(value) else f"{value:.{decimals}f}"

    n_folds = int(folds["fold"].nunique())
    n_utts = int(folds.groupby(KEYS)["n_test"].sum().iloc[0])
    titles = " | ".join(METRIC_TITLES[m] for m in SCALAR_METRICS)
    header = f"| Variant | Decision | {titles} |"
    rule = "|---" * (len(SCALAR_METRICS) + 2) + "|"
    lines = [
        "# Cross-validation report",
        "",
        f"{n_folds}-fold cross-validation over {n_utts} utterances; classes: "
        f"{', '.join(classes)}.",
        "Mean ± standard deviation over folds. Higher is better for accuracy, UAR "
        "and F1; lower is better for cross-entropy, mistake severity (mean "
        "1 − S[true, predicted] over wrong predictions), semantic cost (the same "
        "over all predictions) and ECE (expected calibration error). Decision "
        "`argmax` predicts the most probable class, `min_expected_cost` the class "
        "with the lowest expected cost Σ_i p_i (1 − S[i, j]); both and all cost "
        "metrics use the hand-set similarity matrix, whatever matrix a variant "
        "trained with.",
        "",
        *(
            ["| Variant | Loss |", "|---|---|"]
            + [f"| {name} | {text} |" for name, text in (descriptions or {}).items()]
            + [""]
            if descriptions
            else []
        ),
        header,
        rule,
    ]
    for _, row in summary.iterrows():
        cells = [
            f"{fmt(row[f'{m}_mean'])} ± {fmt(row[f'{m}_std'])}" for m in SCALAR_METRICS
        ]
        lines.append(
            f"| {row['variant']} | {row['decision']} | " + " | ".join(cells) + " |"
        )
    lines += [
        "",
        "## Per fold",
        "",
        header.replace("| Decision |", "| Decision | Fold |"),
        "|---" + rule,
    ]
    for _, row in folds.iterrows():
        cells = [fmt(row[m]) for m in SCALAR_METRICS]
        lines.append(
            f"| {row['variant']} | {row['decision']} | {row['fold']} | "
            + " | ".join(cells)
            + " |"
        )
    lines += ["", f"Confusion matrices pooled over folds: `{figure_name}`.", ""]
    return "\n".join(lines)


def confusion_figure(fold_metrics: list[dict], classes: list[str]) -> Figure:
    """Row-normalised confusion matrices pooled over folds.

    One column per variant, one row per decision rule.
    """
    variants = list(dict.fromkeys(m["variant"] for m in fold_metrics))
    rules = list(fold_metrics[0]["decisions"])
    fig = Figure(
        figsize=(4.4 * len(variants) + 1.0, 4.2 * len(rules)), layout="constrained"
    )
    axes = fig.subplots(len(rules), len(variants), squeeze=False)
    image = None
    for row, rule in enumerate(rules):
        for col, variant in enumerate(variants):
            ax = axes[row, col]
            counts = sum(
                np.asarray(m["decisions"][rule]["confusion_matrix"])
                for m in fold_metrics
                if m["variant"] == variant
            )
            image = _confusion_panel(ax, counts, classes)
            ax.set_title(f"{variant} — {rule}")
    fig.suptitle(
        "Confusion matrices pooled over folds (row-normalised, counts in brackets)"
    )
    fig.colorbar(
        image, ax=axes.ravel().tolist(), shrink=0.6, label="Share of true class"
    )
    return fig


def _confusion_panel(ax, counts: np.ndarray, classes: list[str]):
    rates = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    image = ax.imshow(rates, vmin=0.0, vmax=1.0, cmap="Blues")
    for i in range(len(classes)):
        for j in range(len(classes)):
            ax.text(
                j,
                i,
                f"{rates[i, j]:.2f}\n({counts[i, j]})",
                ha="center",
                va="center",
                fontsize=7,
                color="white" if rates[i, j] > 0.5 else "black",
            )
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("Predicted emotion")
    ax.set_ylabel("True emotion")
    return image
