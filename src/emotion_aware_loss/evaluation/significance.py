"""Paired comparisons of loss variants: fold-level tests and an utterance bootstrap.

Every variant is trained on the same folds, validation splits, initial weights and
batches as the baseline, so the per-fold differences are paired. Two kinds of
evidence are computed:

* **Fold-level tests** on the per-fold differences ``d_f = m_variant - m_baseline``:
  the Wilcoxon signed-rank test, the paired t-test, and the corrected resampled
  t-test of Nadeau and Bengio (2003) as recommended for (repeated) cross-validation
  by Bouckaert and Frank (2004). The corrected test replaces ``var(d) / J`` by
  ``(1 / J + n_test / n_train) var(d)``, because the training sets of the folds
  overlap and the plain t-test is then too liberal. With five folds the exact
  two-sided Wilcoxon p-value cannot be below 1/16 = 0.0625.
* **An utterance-level bootstrap** over the pooled out-of-fold predictions: the
  utterances are resampled with replacement (all repeats of a resampled utterance
  together), the metric difference is recomputed on every resample, and the
  percentile interval is reported.

P-values can be adjusted for the number of variants compared with Holm's
step-down method (within each decision rule and metric).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
from scipy import stats

from emotion_aware_loss.losses.similarity import cost_matrix

TESTS = ("wilcoxon", "t_test", "corrected_t_test", "bootstrap")
# Metrics the bootstrap recomputes from predictions (all from a confusion matrix,
# except cross-entropy, which needs the probability of the true class).
BOOTSTRAP_METRICS = (
    "accuracy",
    "uar",
    "macro_f1",
    "cross_entropy",
    "mistake_severity",
    "semantic_cost",
)
RESAMPLE_CHUNK = 100  # bootstrap resamples scored at a time
EPSILON = 1e-15  # probabilities are clipped as scikit-learn's log_loss does


def wilcoxon_p(differences: np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank p-value; 1.0 when every difference is 0."""
    differences = np.asarray(differences, dtype=float)
    if not np.any(differences != 0):
        return 1.0
    return float(stats.wilcoxon(differences, zero_method="wilcox").pvalue)


def paired_t_p(differences: np.ndarray, variance_factor: float | None = None) -> float:
    """Two-sided p-value of a one-sample t-test of the paired differences.

    Args:
        differences: Per-fold differences.
        variance_factor: ``None`` for the plain paired t-test (``1 / J``); the
            corrected resampled t-test passes ``1 / J + n_test / n_train``.

    Returns:
        The p-value; 1.0 when the differences are all equal to 0, 0.0 when they
        are all equal and non-zero (no variance), ``nan`` for fewer than two folds.
    """
    d = np.asarray(differences, dtype=float)
    if len(d) < 2:
        return float("nan")
    mean, var = d.mean(), d.var(ddof=1)
    if var == 0:
        return 1.0 if mean == 0 else 0.0
    factor = 1.0 / len(d) if variance_factor is None else variance_factor
    t = mean / np.sqrt(factor * var)
    return float(2 * stats.t.sf(abs(t), df=len(d) - 1))


def holm(p_values: np.ndarray) -> np.ndarray:
    """Holm's step-down adjustment of a family of p-values (``nan`` kept)."""
    p = np.asarray(p_values, dtype=float)
    adjusted = np.full_like(p, np.nan)
    finite = np.flatnonzero(~np.isnan(p))
    order = finite[np.argsort(p[finite], kind="stable")]
    m = len(order)
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[index]))
        adjusted[index] = running
    return adjusted


def fold_comparisons(
    folds: pd.DataFrame,
    baseline: str,
    metrics: tuple[str, ...],
    n_utterances: int,
) -> pd.DataFrame:
    """Paired fold-level comparisons of every (variant, decision) with the baseline.

    A variant is compared with the baseline under the same decision rule; the
    baseline's other decision rules are compared with its ``argmax`` (the effect of
    the rule alone).

    Args:
        folds: One row per (variant, decision, fold) with ``n_test`` and the metrics.
        baseline: The reference variant (``cross_entropy``).
        metrics: Metric columns to compare.
        n_utterances: Corpus size (``n_train = n_utterances - n_test`` per fold,
            for the corrected t-test).

    Returns:
        One row per (variant, decision, metric): the reference it is compared
        with, ``n_folds``, ``mean_difference``, ``std_difference``, ``wins`` (folds
        where the variant is higher), and ``p_wilcoxon``, ``p_t_test``,
        ``p_corrected_t_test``.

    Raises:
        ValueError: If ``baseline`` is not among the variants.
    """
    if baseline not in set(folds["variant"]):
        raise ValueError(
            f"evaluation.baseline={baseline!r} is not a trained variant; "
            f"variants: {sorted(set(folds['variant']))}"
        )
    indexed = folds.set_index(["variant", "decision", "fold"]).sort_index()
    rows = []
    for (variant, decision), part in folds.groupby(["variant", "decision"], sort=False):
        if variant == baseline:
            if decision == "argmax":
                continue
            reference = (baseline, "argmax")
        else:
            reference = (baseline, decision)
        ref = indexed.loc[reference].loc[part["fold"].to_numpy()]
        n_test = part["n_test"].to_numpy(dtype=float)
        ratio = float(np.mean(n_test / (n_utterances - n_test)))
        for metric in metrics:
            d = part[metric].to_numpy(dtype=float) - ref[metric].to_numpy(dtype=float)
            d = d[~np.isnan(d)]
            rows.append(
                {
                    "variant": variant,
                    "decision": decision,
                    "metric": metric,
                    "reference": f"{reference[0]} ({reference[1]})",
                    "n_folds": len(d),
                    "mean_difference": float(d.mean()) if len(d) else float("nan"),
                    "std_difference": float(d.std(ddof=1))
                    if len(d) > 1
                    else float("nan"),
                    "wins": int((d > 0).sum()),
                    "p_wilcoxon": wilcoxon_p(d) if len(d) else float("nan"),
                    "p_t_test": paired_t_p(d),
                    "p_corrected_t_test": paired_t_p(d, 1.0 / max(len(d), 1) + ratio),
                }
            )
    return pd.DataFrame(rows)


def _aligned(
    oof: pd.DataFrame, variant: str, classes: list[str]
) -> tuple[pd.DataFrame, np.ndarray]:
    """The variant's predictions ordered by (repeat, utterance), and its p(true)."""
    part = oof[oof["variant"] == variant].sort_values(["repeat", "utterance_id"])
    probabilities = part[[f"prob_{c}" for c in classes]].to_numpy(dtype=float)
    labels = part["label"].map({c: i for i, c in enumerate(classes)}).to_numpy()
    p_true = probabilities[np.arange(len(part)), labels]
    return part.reset_index(drop=True), np.clip(p_true, EPSILON, 1.0)


def metrics_from_confusions(
    confusions: np.ndarray, cost: np.ndarray
) -> dict[str, np.ndarray]:
    """Confusion-based metrics of a stack of ``(..., K, K)`` confusion matrices.

    UAR averages the recall of the classes present in the truth; macro-F1 averages
    F1 over the classes present in the truth or the predictions (scikit-learn's
    conventions); mistake severity is ``nan`` without mistakes.
    """
    confusions = np.asarray(confusions, dtype=float)
    total = confusions.sum(axis=(-2, -1))
    tp = np.diagonal(confusions, axis1=-2, axis2=-1)
    true = confusions.sum(axis=-1)
    predicted = confusions.sum(axis=-2)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.where(true > 0, tp / true, 0.0)
        present = true > 0
        uar = (recall * present).sum(axis=-1) / present.sum(axis=-1)
        f1 = np.where(true + predicted > 0, 2 * tp / (true + predicted), 0.0)
        seen = (true + predicted) > 0
        macro_f1 = (f1 * seen).sum(axis=-1) / seen.sum(axis=-1)
        cost_sum = (confusions * cost).sum(axis=(-2, -1))
        mistakes = total - tp.sum(axis=-1)
        severity = np.where(mistakes > 0, cost_sum / mistakes, np.nan)
    return {
        "accuracy": tp.sum(axis=-1) / total,
        "uar": uar,
        "macro_f1": macro_f1,
        "mistake_severity": severity,
        "semantic_cost": cost_sum / total,
    }


def _bootstrap_metrics(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    log_p_true: np.ndarray,
    indices: np.ndarray,
    cost: np.ndarray,
) -> dict[str, np.ndarray]:
    """Metrics on each resample; inputs are ``(R, n)``, ``indices`` is ``(B, n)``."""
    n_classes = cost.shape[0]
    n_resamples = indices.shape[0]
    confusions = np.zeros(n_resamples * n_classes * n_classes)
    offsets = np.arange(n_resamples)[:, None] * n_classes * n_classes
    log_loss = np.zeros(n_resamples)
    for r in range(y_true.shape[0]):  # repeats of the cross-validation
        cells = offsets + y_true[r][indices] * n_classes + y_pred[r][indices]
        confusions += np.bincount(cells.ravel(), minlength=confusions.size)
        log_loss += log_p_true[r][indices].sum(axis=1)
    confusions = confusions.reshape(n_resamples, n_classes, n_classes)
    out = metrics_from_confusions(confusions, cost)
    out["cross_entropy"] = -log_loss / (y_true.shape[0] * indices.shape[1])
    return out


def bootstrap_comparisons(
    oof: pd.DataFrame,
    classes: list[str],
    similarity: np.ndarray,
    baseline: str,
    decisions: tuple[str, ...],
    n_resamples: int,
    confidence: float,
    seed: int,
) -> pd.DataFrame:
    """Bootstrap confidence intervals of metric differences to the baseline.

    Utterances are resampled with replacement (the same resamples for every
    variant, so the differences are paired); an utterance predicted in several
    repeats brings all its predictions along. Pairs are formed as in
    :func:`fold_comparisons`.

    Args:
        oof: Pooled out-of-fold predictions (``variant``, ``repeat``,
            ``utterance_id``, ``label``, ``predicted_<rule>``, ``prob_<class>``).
        classes: Class order of the probability columns.
        similarity: Matrix behind the cost metrics.
        baseline: Reference variant.
        decisions: Decision rules present in ``oof``.
        n_resamples: Bootstrap resamples.
        confidence: Level of the percentile interval (e.g. 0.95).
        seed: Seed of the resampling.

    Returns:
        One row per (variant, decision, metric): ``pooled_difference`` (on all
        predictions) and ``ci_low``/``ci_high``.
    """
    cost = cost_matrix(similarity)
    index = {c: i for i, c in enumerate(classes)}
    variants = list(dict.fromkeys(oof["variant"]))
    base, _ = _aligned(oof, baseline, classes)
    n_repeats = base["repeat"].nunique()
    n = len(base) // n_repeats
    shape = (n_repeats, n)
    inputs = {}
    for variant in variants:  # each variant's predictions are aligned once
        part, p_true = _aligned(oof, variant, classes)
        if not part["utterance_id"].equals(base["utterance_id"]):
            raise ValueError(
                f"out-of-fold predictions of {variant!r} and {baseline!r} cover "
                "different utterances; they cannot be paired"
            )
        labels = part["label"].map(index).to_numpy().reshape(shape)
        log_p_true = np.log(p_true).reshape(shape)
        for decision in decisions:
            predicted = part[f"predicted_{decision}"].map(index).to_numpy()
            inputs[variant, decision] = (labels, predicted.reshape(shape), log_p_true)
    # Resamples are drawn and scored RESAMPLE_CHUNK at a time, so memory does not
    # grow with n_resamples x utterances; the draws are those of a single call.
    rng = np.random.default_rng(seed)

    def resamples() -> Iterator[np.ndarray]:
        yield np.arange(n)[None, :]  # row 0: the predictions as they are
        for start in range(0, n_resamples, RESAMPLE_CHUNK):
            yield rng.integers(0, n, (min(RESAMPLE_CHUNK, n_resamples - start), n))

    parts: dict[tuple[str, str], list[dict[str, np.ndarray]]] = {k: [] for k in inputs}
    for indices in resamples():
        for key, arrays in inputs.items():
            parts[key].append(_bootstrap_metrics(*arrays, indices, cost))
    cache = {
        key: {m: np.concatenate([p[m] for p in chunk]) for m in chunk[0]}
        for key, chunk in parts.items()
    }
    alpha = (1.0 - confidence) / 2
    rows = []
    for variant in variants:
        for decision in decisions:
            if variant == baseline and decision == "argmax":
                continue
            reference = (baseline, "argmax" if variant == baseline else decision)
            for metric in BOOTSTRAP_METRICS:
                d = cache[variant, decision][metric] - cache[reference][metric]
                resampled = d[1:][~np.isnan(d[1:])]
                low, high = (
                    np.quantile(resampled, [alpha, 1 - alpha])
                    if len(resampled)
                    else (np.nan, np.nan)
                )
                rows.append(
                    {
                        "variant": variant,
                        "decision": decision,
                        "metric": metric,
                        "pooled_difference": float(d[0]),
                        "ci_low": float(low),
                        "ci_high": float(high),
                    }
                )
    return pd.DataFrame(rows)


def significance_table(
    fold_level: pd.DataFrame,
    bootstrap: pd.DataFrame,
    test: str,
    alpha: float,
    adjust: str,
) -> pd.DataFrame:
    """Join fold tests and bootstrap intervals and mark the significant differences.

    Args:
        fold_level: Output of :func:`fold_comparisons`.
        bootstrap: Output of :func:`bootstrap_comparisons`.
        test: Which evidence decides significance (one of ``TESTS``).
        alpha: Significance level.
        adjust: ``holm`` to adjust the chosen p-values for the number of variants
            compared (per decision rule and metric), or ``none``.

    Returns:
        The joined table with ``p_adjusted`` (for the p-value tests) and
        ``significant``. For ``bootstrap`` a difference is significant when its
        ``1 - alpha`` interval excludes 0 (the interval's level is set by the
        bootstrap confidence; ``alpha`` should match it).
    """
    table = fold_level.merge(
        bootstrap, on=["variant", "decision", "metric"], how="left"
    )
    if test == "bootstrap":
        table["p_adjusted"] = np.nan
        table["significant"] = (table["ci_low"] > 0) | (table["ci_high"] < 0)
        return table
    column = f"p_{test}"
    if adjust == "holm":
        table["p_adjusted"] = table.groupby(["decision", "metric"])[column].transform(
            lambda p: holm(p.to_numpy())
        )
    else:
        table["p_adjusted"] = table[column]
    table["significant"] = table["p_adjusted"] < alpha
    return table


def per_class_recall(fold_metrics: list[dict], classes: list[str]) -> pd.DataFrame:
    """Recall of every class per variant and decision rule, over folds and pooled.

    Returns:
        One row per (variant, decision, class): ``recall_mean``, ``recall_std``
        (over folds; folds without the class are left out) and ``recall_pooled``
        (from the confusion matrix summed over folds), plus ``support`` (pooled)
        and ``predicted_share``: the share of all test predictions that name the
        class (pooled), so a decision rule that shifts predictions onto one class
        shows.
    """
    rows = []
    groups: dict[tuple[str, str], list[np.ndarray]] = {}
    for m in fold_metrics:
        for rule, values in m["decisions"].items():
            groups.setdefault((m["variant"], rule), []).append(
                np.asarray(values["confusion_matrix"], dtype=float)
            )
    for (variant, rule), matrices in groups.items():
        stack = np.stack(matrices)
        true = stack.sum(axis=2)
        with np.errstate(invalid="ignore", divide="ignore"):
            recall = np.diagonal(stack, axis1=1, axis2=2) / true
        pooled = stack.sum(axis=0)
        predicted = pooled.sum(axis=0) / max(pooled.sum(), 1.0)
        for k, name in enumerate(classes):
            values = recall[:, k][true[:, k] > 0]
            support = pooled[k].sum()
            rows.append(
                {
                    "variant": variant,
                    "decision": rule,
                    "class": name,
                    "recall_mean": float(values.mean()) if len(values) else np.nan,
                    "recall_std": float(values.std(ddof=1))
                    if len(values) > 1
                    else np.nan,
                    "recall_pooled": float(pooled[k, k] / support)
                    if support
                    else np.nan,
                    "support": int(support),
                    "predicted_share": float(predicted[k]),
                }
            )
    return pd.DataFrame(rows)
