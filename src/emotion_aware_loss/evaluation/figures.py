"""Figures of the cross-validation report (Matplotlib ``Figure`` objects).

Each function returns a figure without touching ``pyplot``'s global state, so the
catalog's ``MatplotlibDataset`` saves it and nothing stays open between nodes.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.colors import to_hex
from matplotlib.figure import Figure

from emotion_aware_loss.config.layout import (
    FUSION,
    LINEAR_MODEL_PREFIXES,
    SPEECH,
    TEXT,
)
from emotion_aware_loss.losses.metrics import expected_calibration_error

TRUE_LABEL = "True emotion"
PREDICTED_LABEL = "Predicted emotion"


BASELINE_NAMES = (SPEECH, TEXT, FUSION)
BASELINE_HATCH = "//"


def distinct_colours(n: int) -> list[str]:
    """``n`` different colours, none of them grey (greys mark the baselines).

    Matplotlib's 20 "tab20" colours without its two greys, strong shades first
    (the ten "tab10" hues) then light ones; beyond 18, evenly spaced hues.
    """
    tab20 = [to_hex(c) for c in colormaps["tab20"].colors]
    palette = [c for c in tab20[0::2] + tab20[1::2] if c not in ("#7f7f7f", "#c7c7c7")]
    if n <= len(palette):
        return palette[:n]
    hues = colormaps["hsv"]
    return [to_hex(hues(i / n)) for i in range(n)]


def variant_styles(variants: list[str]) -> dict[str, dict[str, object]]:
    """Bar style per variant: its own colour; the linear baselines grey and hatched.

    Every network variant gets a colour no other variant of the figure has, and
    each baseline a shade of grey with hatching, so a reader never confuses a
    baseline with a loss variant, however many variants a run compares.
    """
    networks = [v for v in variants if v not in BASELINE_NAMES]
    baselines = [v for v in variants if v in BASELINE_NAMES]
    styles: dict[str, dict[str, object]] = {
        name: {"color": colour, "edgecolor": "none"}
        for name, colour in zip(networks, distinct_colours(len(networks)), strict=True)
    }
    greys = np.linspace(0.35, 0.75, max(len(baselines), 1))
    for name, grey in zip(baselines, greys, strict=False):
        styles[name] = {
            "color": to_hex((grey, grey, grey)),
            "edgecolor": "black",
            "hatch": BASELINE_HATCH,
        }
    return styles


def _grid(n_panels: int, max_columns: int = 4) -> tuple[int, int]:
    columns = min(n_panels, max_columns)
    return int(np.ceil(n_panels / columns)), columns


def _annotated_heatmap(
    ax,
    values: np.ndarray,
    classes: list[str],
    text: np.ndarray | None = None,
    vmin: float = 0.0,
    vmax: float = 1.0,
    cmap: str = "Blues",
    fontsize: int = 7,
):
    image = ax.imshow(values, vmin=vmin, vmax=vmax, cmap=cmap)
    middle = (vmin + vmax) / 2
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            ax.text(
                j,
                i,
                f"{values[i, j]:.2f}" if text is None else text[i, j],
                ha="center",
                va="center",
                fontsize=fontsize,
                color="white" if values[i, j] > middle else "black",
            )
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    return image


def confusion_figure(fold_metrics: list[dict], classes: list[str]) -> Figure:
    """Row-normalised confusion matrices pooled over folds, with counts.

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
            rates = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
            text = np.vectorize(lambda r, c: f"{r:.2f}\n({c})")(rates, counts)
            image = _annotated_heatmap(ax, rates, classes, text)
            ax.set_xlabel(PREDICTED_LABEL)
            ax.set_ylabel(TRUE_LABEL)
            ax.set_title(f"{variant} — {rule}")
    fig.suptitle(
        "Confusion matrices pooled over folds (row-normalised, counts in brackets)"
    )
    fig.colorbar(
        image, ax=axes.ravel().tolist(), shrink=0.6, label="Share of true class"
    )
    return fig


def per_class_recall_figure(recall: pd.DataFrame, classes: list[str]) -> Figure:
    """Grouped bars: recall of each class per variant, one panel per decision rule.

    Bars are means over folds; error bars are one standard deviation.
    """
    rules = list(dict.fromkeys(recall["decision"]))
    variants = list(dict.fromkeys(recall["variant"]))
    fig = Figure(
        figsize=(max(8.0, 1.6 * len(classes) + 0.5 * len(variants)), 4.0 * len(rules)),
        layout="constrained",
    )
    axes = fig.subplots(len(rules), 1, squeeze=False)[:, 0]
    width = 0.8 / len(variants)
    x = np.arange(len(classes))
    styles = variant_styles(variants)
    for ax, rule in zip(axes, rules, strict=True):
        part = recall[recall["decision"] == rule].set_index(["variant", "class"])
        for i, variant in enumerate(variants):
            rows = part.loc[variant].reindex(classes)
            ax.bar(
                x + (i - (len(variants) - 1) / 2) * width,
                rows["recall_mean"],
                width,
                yerr=rows["recall_std"].fillna(0.0),
                capsize=2,
                label=variant,
                linewidth=0.5,
                **styles[variant],
            )
        ax.set_xticks(x, classes)
        ax.set_ylim(0.0, 1.0)
        ax.set_ylabel("Recall (mean over folds)")
        ax.set_xlabel(TRUE_LABEL)
        ax.set_title(f"Per-class recall — decision: {rule} (error bars: ±1 std)")
        ax.grid(axis="y", alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=min(4, len(variants)))
    return fig


def similarity_figure(matrices: Mapping[str, pd.DataFrame]) -> Figure:
    """Heatmaps of the similarity matrices side by side (hand-set and derived)."""
    rows, columns = _grid(len(matrices))
    fig = Figure(figsize=(4.2 * columns + 1.0, 4.0 * rows), layout="constrained")
    axes = fig.subplots(rows, columns, squeeze=False).ravel()
    image = None
    for ax, (title, matrix) in zip(axes, matrices.items(), strict=False):
        classes = [str(c) for c in matrix.index]
        image = _annotated_heatmap(ax, matrix.to_numpy(dtype=float), classes)
        ax.set_title(title)
        ax.set_xlabel("Emotion")
        ax.set_ylabel("Emotion")
    for ax in axes[len(matrices) :]:
        ax.set_axis_off()
    fig.suptitle("Similarity between emotions S (1 = identical, 0 = unrelated)")
    fig.colorbar(image, ax=axes.tolist(), shrink=0.6, label="Similarity S")
    return fig


def pair_cost_figure(
    costs: Mapping[str, np.ndarray], classes: list[str], confidence: float
) -> Figure:
    """The loss each variant charges per (true, predicted) pair, as heatmaps.

    Every panel shares one colour scale, so the panels compare directly; the
    diagonal is a confident correct prediction.
    """
    rows, columns = _grid(len(costs))
    fig = Figure(figsize=(4.2 * columns + 1.0, 4.0 * rows), layout="constrained")
    axes = fig.subplots(rows, columns, squeeze=False).ravel()
    vmax = max(float(np.max(c)) for c in costs.values())
    image = None
    for ax, (variant, values) in zip(axes, costs.items(), strict=False):
        image = _annotated_heatmap(ax, values, classes, vmax=vmax, cmap="Reds")
        ax.set_title(variant, fontsize=9)
        ax.set_xlabel(PREDICTED_LABEL)
        ax.set_ylabel(TRUE_LABEL)
    for ax in axes[len(costs) :]:
        ax.set_axis_off()
    fig.suptitle(
        "Loss per utterance when the model gives p = "
        f"{confidence:g} to the predicted emotion (rest spread evenly)"
    )
    fig.colorbar(image, ax=axes.tolist(), shrink=0.6, label="Loss (nats)")
    return fig


def learning_curves_figure(
    histories: Mapping[str, Mapping[str, dict]], monitor: str
) -> Figure:
    """Training and validation loss, and the monitored score, per fold.

    Args:
        histories: ``{variant: {fold: history}}`` as saved by the training step.
        monitor: The early-stopping metric (``val_accuracy`` or ``val_uar``).

    Returns:
        One row per variant: the losses (solid: training, dashed: validation) and
        the monitored validation score, one colour per fold; a dot marks the
        restored (best) epoch.
    """
    fig = Figure(figsize=(11.0, 2.8 * len(histories)), layout="constrained")
    axes = fig.subplots(len(histories), 2, squeeze=False)
    n_folds = max((len(folds) for folds in histories.values()), default=0)
    colours = distinct_colours(n_folds)
    for row, (variant, folds) in enumerate(histories.items()):
        loss_ax, score_ax = axes[row]
        for i, (fold, history) in enumerate(folds.items()):
            colour = colours[i]
            epochs = np.arange(1, len(history["loss"]) + 1)
            best = int(history["best_epoch"][0])
            loss_ax.plot(epochs, history["loss"], color=colour, label=fold)
            loss_ax.plot(epochs, history["val_loss"], color=colour, linestyle="--")
            score_ax.plot(epochs, history[monitor], color=colour, label=fold)
            score_ax.plot(best, history[monitor][best - 1], "o", color=colour)
        loss_ax.set_title(f"{variant}: loss (solid train, dashed validation)")
        loss_ax.set_ylabel("Loss (nats)")
        score_ax.set_title(f"{variant}: {monitor} (dot: restored epoch)")
        score_ax.set_ylabel(monitor.replace("val_", "Validation ").replace("_", " "))
        for ax in (loss_ax, score_ax):
            ax.set_xlabel("Epoch")
            ax.grid(alpha=0.3)
    axes[0, 1].legend(fontsize=7, ncols=2)
    return fig


def _reliability(
    probabilities: np.ndarray, labels: np.ndarray, n_bins: int
) -> tuple[np.ndarray, np.ndarray, float]:
    """Accuracy and count per confidence bin, and the ECE over the same bins."""
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    bins = np.minimum((confidence * n_bins).astype(int), n_bins - 1)
    count = np.bincount(bins, minlength=n_bins)
    accuracy = np.bincount(bins, weights=correct, minlength=n_bins) / np.maximum(
        count, 1
    )
    return accuracy, count, expected_calibration_error(labels, probabilities, n_bins)


def reliability_figure(
    oof: pd.DataFrame,
    classes: list[str],
    n_bins: int = 15,
    uncalibrated: str = "uncalibrated_",
) -> Figure:
    """Reliability diagrams of the top-class confidence, one panel per variant.

    Bars show the accuracy of the calibrated predictions in each confidence bin,
    the outlined steps that of the probabilities before calibration (columns
    ``<uncalibrated><class>``, when the table has them); the diagonal is perfect
    calibration; the title gives both ECEs over the same bins, of the out-of-fold
    predictions pooled over folds (the report's tables give the mean of the
    per-fold ECEs, with the same bins: ``evaluation.ece_bins``).
    """
    variants = list(dict.fromkeys(oof["variant"]))
    rows, columns = _grid(len(variants))
    fig = Figure(figsize=(3.6 * columns, 3.4 * rows), layout="constrained")
    axes = fig.subplots(rows, columns, squeeze=False).ravel()
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    before = [f"{uncalibrated}{c}" for c in classes]
    for ax, variant in zip(axes, variants, strict=False):
        part = oof[oof["variant"] == variant]
        labels = part["label"].map({c: i for i, c in enumerate(classes)}).to_numpy()
        probabilities = part[[f"prob_{c}" for c in classes]].to_numpy(dtype=float)
        accuracy, count, ece = _reliability(probabilities, labels, n_bins)
        ax.bar(
            edges[:-1],
            np.where(count > 0, accuracy, 0.0),
            width=1.0 / n_bins,
            align="edge",
            edgecolor="black",
            label="accuracy (calibrated)",
        )
        title = f"ECE {ece:.3f}"
        if set(before) <= set(part.columns):
            raw = part[before].to_numpy(dtype=float)
            accuracy, count, raw_ece = _reliability(raw, labels, n_bins)
            ax.stairs(
                np.where(count > 0, accuracy, 0.0),
                edges,
                color="tab:red",
                linewidth=1.5,
                label="accuracy (uncalibrated)",
            )
            title = f"ECE {raw_ece:.3f} → {ece:.3f}"
        ax.plot([0, 1], [0, 1], "k--", linewidth=1, label="perfect calibration")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_title(f"{variant} (pooled {title}, {n_bins} bins)", fontsize=9)
        ax.set_xlabel("Confidence (top-class probability)")
        ax.set_ylabel("Accuracy in bin")
    for ax in axes[len(variants) :]:
        ax.set_axis_off()
    axes[0].legend(fontsize=7, loc="upper left")
    fig.suptitle(
        "Reliability diagrams of the out-of-fold predictions (argmax), before and "
        "after calibration"
    )
    return fig


def frontier_figure(summary: pd.DataFrame) -> Figure:
    """UAR against mistake severity of every model over the decision rule's weight.

    Each model is a line from its ``argmax`` point (circle, ``w = 0``) to its
    ``min_expected_cost`` point (square, ``w = 1``) with error bars of one standard
    deviation over folds at both ends; the linear baselines are dashed; the Pareto
    front over all points is the thick grey line.

    Args:
        summary: :func:`emotion_aware_loss.evaluation.frontier.frontier_summary`.
    """
    fig = Figure(figsize=(7.5, 5.2), layout="constrained")
    ax = fig.subplots()
    front = summary[summary["pareto"]].sort_values("mistake_severity_mean")
    ax.plot(
        front["mistake_severity_mean"],
        front["uar_mean"],
        color="0.75",
        linewidth=6,
        solid_capstyle="round",
        zorder=0,
        label="Pareto front",
    )
    colours = colormaps["tab10"]
    for i, (variant, rows) in enumerate(summary.groupby("variant", sort=False)):
        part = rows.sort_values("weight")
        colour = colours(i % 10)
        style = "--" if variant.startswith(LINEAR_MODEL_PREFIXES) else "-"
        ax.plot(
            part["mistake_severity_mean"],
            part["uar_mean"],
            style,
            color=colour,
            linewidth=1.2,
            label=variant,
        )
        for end, marker in ((part.iloc[0], "o"), (part.iloc[-1], "s")):
            ax.errorbar(
                end["mistake_severity_mean"],
                end["uar_mean"],
                xerr=end["mistake_severity_std"],
                yerr=end["uar_std"],
                fmt=marker,
                color=colour,
                markersize=6,
                elinewidth=0.6,
                capsize=2,
                alpha=0.9,
            )
    ax.set_xlabel(
        "Mistake severity (mean 1 − S[true, predicted] over mistakes; lower is milder)"
    )
    ax.set_ylabel("UAR")
    ax.set_title(
        "UAR against mistake severity: ○ argmax to □ minimum expected cost\n"
        "(mean over folds, ± 1 std; the rule's cost weight w from 0 to 1)",
        fontsize=9,
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncols=2, loc="best")
    return fig
