"""Cross-validation summaries: tables, Markdown report and confusion figures."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

SCALAR_METRICS = ("accuracy", "uar", "macro_f1", "cross_entropy", "mistake_severity")
METRIC_TITLES = {
    "accuracy": "Accuracy",
    "uar": "UAR",
    "macro_f1": "Macro-F1",
    "cross_entropy": "Cross-entropy",
    "mistake_severity": "Mistake severity",
}


def fold_table(fold_metrics: list[dict]) -> pd.DataFrame:
    """One row per (variant, fold) with the scalar metrics."""
    rows = [
        {"variant": m["variant"], "fold": m["fold"], "n_test": m["n_test"]}
        | {k: m[k] for k in SCALAR_METRICS}
        for m in fold_metrics
    ]
    return pd.DataFrame(rows).sort_values(["variant", "fold"]).reset_index(drop=True)


def summary_table(folds: pd.DataFrame) -> pd.DataFrame:
    """Mean and sample standard deviation over folds, one row per variant."""
    grouped = folds.groupby("variant", sort=False)[list(SCALAR_METRICS)]
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
) -> str:
    """A short Markdown report: mean ± std per variant, then per-fold values."""

    def fmt(value: float) -> str:
        return "n/a" if pd.isna(value) else f"{value:.{decimals}f}"

    n_folds = int(folds["fold"].nunique())
    n_utts = int(folds.groupby("variant")["n_test"].sum().iloc[0])
    header = (
        "| Variant | " + " | ".join(METRIC_TITLES[m] for m in SCALAR_METRICS) + " |"
    )
    rule = "|---" * (len(SCALAR_METRICS) + 1) + "|"
    lines = [
        "# Cross-validation report",
        "",
        f"{n_folds}-fold cross-validation over {n_utts} utterances; classes: "
        f"{', '.join(classes)}.",
        "Mean ± standard deviation over folds. Higher is better for accuracy, UAR "
        "and macro-F1; lower is better for cross-entropy and mistake severity "
        "(mean 1 − S[true, predicted] over wrong predictions).",
        "",
        header,
        rule,
    ]
    for _, row in summary.iterrows():
        cells = [
            f"{fmt(row[f'{m}_mean'])} ± {fmt(row[f'{m}_std'])}" for m in SCALAR_METRICS
        ]
        lines.append(f"| {row['variant']} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "## Per fold",
        "",
        header.replace("| Variant |", "| Variant | Fold |"),
        "|---" + rule,
    ]
    for _, row in folds.iterrows():
        cells = [fmt(row[m]) for m in SCALAR_METRICS]
        lines.append(
            f"| {row['variant']} | {row['fold']} | " + " | ".join(cells) + " |"
        )
    lines += [
        "",
        f"Confusion matrices pooled over folds: `{figure_name}`.",
        "",
    ]
    return "\n".join(lines)


def confusion_figure(fold_metrics: list[dict], classes: list[str]) -> Figure:
    """Row-normalised confusion matrices pooled over folds, one panel per variant."""
    variants = list(dict.fromkeys(m["variant"] for m in fold_metrics))
    fig = Figure(figsize=(4.6 * len(variants), 4.4), layout="constrained")
    axes = fig.subplots(1, len(variants), squeeze=False)[0]
    image = None
    for ax, variant in zip(axes, variants, strict=True):
        counts = sum(
            np.asarray(m["confusion_matrix"])
            for m in fold_metrics
            if m["variant"] == variant
        )
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
        ax.set_title(f"{variant}\n(row-normalised, counts in brackets)")
    fig.colorbar(image, ax=list(axes), shrink=0.8, label="Share of true class")
    return fig
