"""Comparing loss variants over several corpora and seeds (Demšar, JMLR 2006).

One run of the project compares the variants on one corpus with one seed; with five
folds almost nothing can be significant there. Over several data sets the field's
standard is rank-based: each *block* (a corpus, or a corpus and a seed) ranks the
methods by their score, the Friedman test asks whether the average ranks differ
more than chance allows, and post-hoc tests compare methods pairwise, with the
Nemenyi critical difference (all pairs) or with Holm's step-down adjustment
(every method against one reference). This module holds those statistics on a
``blocks × methods`` table of scores (e.g. each run's mean UAR over folds); the
tests come from SciPy, the critical-difference diagram is drawn with Matplotlib.

References:
    J. Demšar, *Statistical Comparisons of Classifiers over Multiple Data Sets*,
    JMLR 7, 2006 (average ranks, Friedman and Iman–Davenport statistics, the
    Nemenyi critical difference, CD diagrams, Holm's procedure against a control).
    A. Benavoli, G. Corani, F. Mangili, *Should We Really Use Post-Hoc Tests Based
    on Mean-Ranks?*, JMLR 17, 2016 (pairwise Wilcoxon tests against a control).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy import stats

from emotion_aware_loss.evaluation.significance import holm


def _checked(scores: pd.DataFrame) -> pd.DataFrame:
    """The scores as floats, refusing what the rank tests cannot use."""
    if scores.shape[1] < 2:
        raise ValueError(
            f"a comparison needs at least 2 methods (columns), got {list(scores)}"
        )
    if scores.shape[0] < 2:
        raise ValueError(
            f"a comparison needs at least 2 blocks (rows), got {list(scores.index)}"
        )
    values = scores.astype(float)
    missing = values.isna()
    if missing.any().any():
        block, method = next(
            (b, m) for b in values.index for m in values.columns if missing.at[b, m]
        )
        raise ValueError(
            f"no score for method {method!r} in block {block!r}: every method needs "
            "a score in every block"
        )
    return values


def ranks(scores: pd.DataFrame, higher_is_better: bool = True) -> pd.DataFrame:
    """Each block's ranks of the methods (1 = best; ties share the mean rank)."""
    values = _checked(scores)
    ordered = -values.to_numpy() if higher_is_better else values.to_numpy()
    return pd.DataFrame(
        stats.rankdata(ordered, axis=1), index=values.index, columns=values.columns
    )


def average_ranks(scores: pd.DataFrame, higher_is_better: bool = True) -> pd.Series:
    """Mean rank of every method over the blocks, best (lowest) first."""
    return ranks(scores, higher_is_better).mean().sort_values()


def friedman_statistics(average: pd.Series | np.ndarray, n_blocks: int) -> dict:
    """Friedman's chi-square and the Iman–Davenport F from average ranks.

    Demšar (2006), section 3.2.2: ``chi2 = 12 N / (k (k + 1)) (Σ R_j² − k (k + 1)² / 4)``
    with ``k - 1`` degrees of freedom, and ``F = (N − 1) chi2 / (N (k − 1) − chi2)``
    with ``(k − 1, (k − 1)(N − 1))`` (less conservative). No correction for ties.
    """
    r = np.asarray(average, dtype=float)
    k, n = len(r), int(n_blocks)
    chi2 = 12.0 * n / (k * (k + 1)) * (np.sum(r**2) - k * (k + 1) ** 2 / 4.0)
    denominator = n * (k - 1) - chi2
    f = (n - 1) * chi2 / denominator if denominator > 0 else math.inf
    df1, df2 = k - 1, (k - 1) * (n - 1)
    return {
        "n_blocks": n,
        "n_methods": k,
        "chi2": float(chi2),
        "p_chi2": float(stats.chi2.sf(chi2, k - 1)),
        "iman_davenport_f": float(f),
        "p_iman_davenport": float(stats.f.sf(f, df1, df2)) if math.isfinite(f) else 0.0,
    }


def friedman(scores: pd.DataFrame, higher_is_better: bool = True) -> dict:
    """The Friedman test over the blocks of ``scores`` (methods as columns).

    Returns:
        ``friedman_statistics`` of the average ranks, plus SciPy's tie-corrected
        statistic and p-value (``chi2_tie_corrected``, ``p_tie_corrected``), which
        equal the uncorrected ones when no block has ties.
    """
    values = _checked(scores)
    if values.shape[1] < 3:
        raise ValueError(
            "the Friedman test needs at least 3 methods; for 2 use a paired test "
            "(e.g. scipy.stats.wilcoxon) over the blocks"
        )
    result = friedman_statistics(
        ranks(values, higher_is_better).mean().to_numpy(), len(values)
    )
    corrected = stats.friedmanchisquare(*values.to_numpy().T)
    return result | {
        "chi2_tie_corrected": float(corrected.statistic),
        "p_tie_corrected": float(corrected.pvalue),
    }


def nemenyi_critical_difference(
    n_methods: int, n_blocks: int, alpha: float = 0.05
) -> float:
    """Smallest average-rank difference the Nemenyi test calls significant.

    ``CD = q_alpha sqrt(k (k + 1) / (6 N))``, with ``q_alpha`` the studentized range
    quantile divided by sqrt(2) (Demšar 2006, Table 5a: 2.569 for k = 4).
    """
    k = int(n_methods)
    q = stats.studentized_range.ppf(1.0 - alpha, k, np.inf) / math.sqrt(2.0)
    return float(q * math.sqrt(k * (k + 1) / (6.0 * n_blocks)))


def compare_with_reference(
    scores: pd.DataFrame, reference: str, higher_is_better: bool = True
) -> pd.DataFrame:
    """Every method against ``reference`` over the blocks, Holm-adjusted.

    Two tests per method: the rank-based z test of Demšar (2006, section 3.2.2:
    ``z = (R_i − R_ref) / sqrt(k (k + 1) / (6 N))``) and the Wilcoxon signed-rank
    test on the paired scores (Benavoli et al. 2016: it does not depend on the
    other methods in the comparison). Holm's step-down adjustment runs over the
    ``k − 1`` comparisons of each test.

    Returns:
        One row per other method: mean difference (method − reference), blocks it
        wins and loses, both average ranks, and the raw and Holm-adjusted p-values.
    """
    values = _checked(scores)
    if reference not in values:
        raise ValueError(
            f"reference {reference!r} is not one of the methods {list(values)}"
        )
    n, k = values.shape
    mean_rank = ranks(values, higher_is_better).mean()
    scale = math.sqrt(k * (k + 1) / (6.0 * n))
    sign = 1.0 if higher_is_better else -1.0
    rows = []
    for method in values.columns.drop(reference):
        difference = values[method] - values[reference]
        z = (mean_rank[method] - mean_rank[reference]) / scale
        if np.allclose(difference, 0.0):
            p_wilcoxon = 1.0
        else:
            p_wilcoxon = float(stats.wilcoxon(values[method], values[reference]).pvalue)
        rows.append(
            {
                "method": method,
                "reference": reference,
                "mean_difference": float(difference.mean()),
                "wins": int((sign * difference > 0).sum()),
                "losses": int((sign * difference < 0).sum()),
                "average_rank": float(mean_rank[method]),
                "reference_rank": float(mean_rank[reference]),
                "p_rank_z": float(2.0 * stats.norm.sf(abs(z))),
                "p_wilcoxon": p_wilcoxon,
            }
        )
    table = pd.DataFrame(rows)
    table["p_rank_z_holm"] = holm(table["p_rank_z"].to_numpy())
    table["p_wilcoxon_holm"] = holm(table["p_wilcoxon"].to_numpy())
    return table


def critical_difference_figure(
    average: pd.Series, critical_difference: float, title: str = ""
) -> Figure:
    """Demšar's critical-difference diagram.

    The methods on an axis of average rank (best on the left); a bar of length
    ``critical_difference`` at the top; thick lines join methods whose average
    ranks differ by less than it (not significantly different under Nemenyi).
    """
    average = average.sort_values()
    names, values = list(average.index), average.to_numpy(dtype=float)
    k = len(names)
    fig = Figure(figsize=(9.0, 1.6 + 0.28 * k), layout="constrained")
    ax = fig.subplots()
    low, high = 1, max(k, int(math.ceil(values.max())))
    margin = max(1.5, 0.4 * (high - low))  # room for the names beside the axis
    ax.set_xlim(low - margin, high + margin)
    rows = int(math.ceil(k / 2))
    ax.set_ylim(-(rows + 1.5), 1.6)
    ax.plot([low, high], [0.0, 0.0], color="black", linewidth=1)
    for tick in range(low, high + 1):
        ax.plot([tick, tick], [0.0, 0.12], color="black", linewidth=1)
        ax.text(tick, 0.22, str(tick), ha="center", va="bottom", fontsize=8)
    ax.plot([low, low + critical_difference], [1.2, 1.2], color="black", linewidth=1.5)
    ax.text(
        low + critical_difference / 2,
        1.3,
        f"CD = {critical_difference:.2f}",
        ha="center",
        va="bottom",
        fontsize=8,
    )
    for i, (name, value) in enumerate(zip(names, values, strict=True)):
        left = i < rows
        depth = -(i + 1) if left else -(k - i)
        edge = low - 0.25 if left else high + 0.25
        ax.plot([value, value, edge], [0.0, depth, depth], color="black", linewidth=0.8)
        ax.text(
            edge + (-0.03 if left else 0.03),
            depth,
            f"{name} ({value:.2f})",
            ha="right" if left else "left",
            va="center",
            fontsize=8,
        )
    # cliques: maximal runs of methods within the critical difference
    cliques = []
    for start in range(k):
        end = start
        while end + 1 < k and values[end + 1] - values[start] < critical_difference:
            end += 1
        if end > start and not any(s <= start and end <= e for s, e in cliques):
            cliques.append((start, end))
    for level, (start, end) in enumerate(cliques):
        y = -0.35 - 0.22 * level
        ax.plot(
            [values[start] - 0.03, values[end] + 0.03],
            [y, y],
            color="black",
            linewidth=3,
        )
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=9)
    return fig
