"""Cross-validation summaries: the fold and summary tables and the Markdown report.

Longer than most modules for a stated reason: ``report.md`` is one document, and
each ``*_section`` function here writes one of its sections, in the order they
appear, over the number formatting and table helpers they share; the machine's
provenance is :mod:`.provenance`, the account of the set-up
:mod:`.setup_description`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from emotion_aware_loss.config import SCALAR_METRICS
from emotion_aware_loss.config.layout import CONVEX_PREFIX, LINEAR_MODEL_PREFIXES

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
        | m.get("calibration", {})
        | ({"converged": m["converged"]} if "converged" in m else {})
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


TEST_NAMES = {
    "wilcoxon": "Wilcoxon signed-rank",
    "t_test": "paired t-test",
    "corrected_t_test": "corrected resampled t-test",
}


def _fmt(value: float, decimals: int) -> str:
    return "n/a" if pd.isna(value) else f"{value:.{decimals}f}"


def _signed(value: float, decimals: int) -> str:
    return "n/a" if pd.isna(value) else f"{value:+.{decimals}f}"


def _p(value: float) -> str:
    if pd.isna(value):
        return "n/a"
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(row) + " |" for row in rows),
    ]


def setup_section(setup: dict) -> list[str]:
    """The experimental setup a methods section needs."""
    corpus, protocol, training = setup["corpus"], setup["protocol"], setup["training"]
    counts = ", ".join(f"{c} {n}" for c, n in corpus["class_counts"].items())
    folds = (
        f"{protocol['n_folds']}-fold stratified cross-validation"
        + (" grouped by speaker" if protocol["speaker_independent"] else "")
        + (
            f", repeated {protocol['n_repeats']} times with different shuffles "
            f"({protocol['n_folds'] * protocol['n_repeats']} folds in all)"
            if protocol["n_repeats"] > 1
            else ""
        )
    )
    lines = [
        "## Setup",
        "",
        f"- **Corpus**: {corpus['n_utterances']} utterances"
        + (f" from {corpus['n_speakers']} speakers" if corpus.get("n_speakers") else "")
        + f"; classes (utterances): {counts}.",
        f"- **Inputs**: {setup['inputs']}.",
        f"- **Protocol**: {folds}. In each fold {protocol['validation_fraction']:.0%} "
        "of the training part (stratified) is held out for early stopping; the "
        "feature scaler and the vocabulary are fitted on the training part only. "
        "Every variant of a fold starts from the same initial weights and sees the "
        "same batches, so per-fold differences are paired.",
        f"- **Training**: Adam (learning rate {training['learning_rate']:g}), batch "
        f"size {training['batch_size']}, at most {training['epochs']} epochs, early "
        f"stopping on {training['monitor']} with patience {training['patience']} "
        + (
            f"counted after {training['min_steps']} optimiser steps "
            if training.get("min_steps")
            else ""
        )
        + (
            "choosing the number of epochs, then each network trained again from "
            "its initial weights on the training and validation parts for that many "
            "epochs (refit); "
            if training.get("refit")
            else "and the best epoch's weights restored; "
        )
        + _class_weight_text(training.get("class_weight", "none"))
        + ".",
        f"- **Model**: {setup['model']}.",
        f"- **Seed**: {setup['seed']} (fold shuffles, initial weights and batch order "
        "derive from it).",
        "",
        *_table(
            ["Variant", "Loss"],
            [[name, text] for name, text in setup["losses"].items()]
            + [
                [name, f"linear baseline: {text}"]
                for name, text in (setup.get("baselines") or {}).items()
            ],
        ),
        "",
    ]
    if setup.get("baselines"):
        lines[-1:-1] = [
            "",
            setup.get(
                "baseline_selection",
                # setups saved before the choice was recorded
                "The linear baselines are fitted on each fold's training part, "
                "their regularisation chosen by UAR on its validation part, and "
                "scored on the same test part as the network.",
            ),
        ]
    return lines


def _class_weight_text(class_weight: str | dict) -> str:
    if class_weight == "balanced":
        return (
            "each utterance's loss weighted by n / (k · n_class) of the fold's "
            "training part (class-balanced)"
        )
    if isinstance(class_weight, dict):
        weights = ", ".join(f"{c} {w:g}" for c, w in class_weight.items())
        return f"each utterance's loss weighted by its class ({weights})"
    return "no class weighting"


def results_section(
    summary: pd.DataFrame, decimals: int, ece_bins: int = 15
) -> list[str]:
    """Mean ± standard deviation over folds of every metric."""
    rows = [
        [row["variant"], row["decision"]]
        + [
            f"{_fmt(row[f'{m}_mean'], decimals)} ± {_fmt(row[f'{m}_std'], decimals)}"
            for m in SCALAR_METRICS
        ]
        for _, row in summary.iterrows()
    ]
    return [
        "## Results",
        "",
        "Mean ± standard deviation over folds. Higher is better for accuracy, UAR "
        "(unweighted average recall) and F1; lower is better for cross-entropy, "
        "mistake severity (mean 1 − S[true, predicted] over wrong predictions), "
        "semantic cost (the same over all predictions) and ECE (expected "
        f"calibration error, {ece_bins} bins; of the calibrated probabilities, see "
        "Calibration). Decision `argmax` predicts the most probable "
        "class, `min_expected_cost` the class with the lowest expected cost "
        "Σ_i p_i (1 − S[i, j]); both and all cost metrics use the hand-set "
        "similarity matrix, whatever matrix a variant trained with.",
        "",
        *_table(
            ["Variant", "Decision", *(METRIC_TITLES[m] for m in SCALAR_METRICS)], rows
        ),
        "",
    ]


def _how_temperatures_were_fitted(evaluation: dict) -> str:
    """How the run fitted its temperatures, in words."""
    if evaluation.get("calibration_objective", "log_likelihood") == "confidence":
        return (
            "so that their mean top-class probability equals the share of right "
            "predictions (`evaluation.calibration_objective: confidence`)"
        )
    prior = evaluation.get("temperature_prior")
    text = "by their negative log-likelihood (Guo et al., 2017)"
    if prior is None:
        return text
    return (
        f"{text} with a normal prior on log T centred on T = 1, standard deviation "
        f"{prior:g} (`evaluation.temperature_prior`: the maximum a posteriori; a "
        "temperature fitted on a few dozen utterances is drawn toward 1)"
    )


def calibration_section(
    folds: pd.DataFrame, decimals: int, evaluation: dict
) -> list[str]:
    """Each model's temperature and its ECE and cross-entropy before and after
    calibration (mean over folds); empty for tables without them."""
    columns = ["temperature", "ece_uncalibrated", "cross_entropy_uncalibrated"]
    if not set(columns) <= set(folds.columns):
        return []
    one = folds[folds["decision"] == folds["decision"].iloc[0]]
    grouped = one.groupby("variant", sort=False)
    if np.allclose(one["temperature"], 1.0):
        return [
            "## Calibration",
            "",
            "Off (`evaluation.calibration: none`, or no held-out predictions): the "
            "probabilities are scored as the models give them.",
            "",
        ]
    rows = [
        [
            variant,
            f"{_fmt(part['temperature'].mean(), 2)} "
            f"({_fmt(part['temperature'].min(), 2)}–"
            f"{_fmt(part['temperature'].max(), 2)})",
            f"{_fmt(part['ece_uncalibrated'].mean(), decimals)} → "
            f"{_fmt(part['ece'].mean(), decimals)}",
            f"{_fmt(part['cross_entropy_uncalibrated'].mean(), decimals)} → "
            f"{_fmt(part['cross_entropy'].mean(), decimals)}",
        ]
        for variant, part in grouped
    ]
    return [
        "## Calibration",
        "",
        "Every model's probabilities are divided, in log space, by a temperature "
        f"fitted on held-out predictions {_how_temperatures_were_fitted(evaluation)} "
        "before they are scored, decided on (`min_expected_cost`) or "
        "averaged: a network's from its early-stopped model on the validation part "
        "(the refitted network gets the same temperature), a linear model's from "
        "its inner folds at the chosen C (`linear_fusion`: each member calibrated, "
        "then their mean). A temperature above 1 flattens over-confident "
        "probabilities. The argmax predictions do not change. Mean over folds "
        "(temperature: range), before → after; the reliability figure gives the "
        "ECE of all folds' predictions pooled (a fold's few utterances per bin "
        "make its own ECE noisy).",
        "",
        *_table(["Variant", "Temperature", "ECE", "Cross-entropy"], rows),
        "",
    ]


def convergence_section(folds: pd.DataFrame) -> list[str]:
    """The folds whose convex fit stopped short of its solver's criterion, per
    model (the ``converged`` column a softmax regression's rows carry); empty
    when every fit converged or no model says."""
    if "converged" not in folds:
        return []
    one = folds[folds["decision"] == folds["decision"].iloc[0]]
    said = one[one["converged"].notna()]
    failed = said[said["converged"].eq(False)]
    if failed.empty:
        return []
    rows = [
        [
            variant,
            f"{len(part)} of {int((said['variant'] == variant).sum())} "
            f"(fold{'s' if len(part) > 1 else ''} "
            f"{', '.join(str(int(f)) for f in part['fold'])})",
        ]
        for variant, part in failed.groupby("variant", sort=False)
    ]
    return [
        "## Convex fits that did not converge",
        "",
        "The final fit of these folds stopped without meeting its solver's "
        "criterion (the fits along the `C` grid are not counted). A loss weighted "
        "by its own predictions (`emotion_aware`, `seed_weighted`) is solved as a "
        "fixed point of them; where a mistake weighs more than a correct "
        "prediction, some utterances flip between right and wrong round after "
        "round, there is no fixed point, and the fit keeps the round with the "
        "lowest value of the loss: a model of that loss, not its minimum. "
        "Otherwise L-BFGS reached `baselines.max_iter`. The run's log names each "
        "fit, its C and its rounds.",
        "",
        *_table(["Model", "Folds not converged"], rows),
        "",
    ]


def significance_section(
    table: pd.DataFrame, evaluation: dict, decimals: int, reference: str | None = None
) -> list[str]:
    """Paired differences to one reference with tests and bootstrap intervals.

    ``reference`` is the baseline variant (``evaluation.baseline``, the default), a
    linear baseline, whose section compares the network with it, or the baseline
    variant's convex fit, whose section compares the other convex fits with it.
    """
    reference = reference or evaluation["baseline"]
    if "comparison" in table:
        table = table[table["comparison"] == reference]
    convex = reference.startswith(CONVEX_PREFIX)
    linear = reference != evaluation["baseline"] and not convex
    wanted = table[table["metric"].isin(evaluation["report_metrics"])]
    n_folds = int(table["n_folds"].max()) if len(table) else 0
    level = evaluation["bootstrap"]["confidence"]
    rows = [
        [
            row["variant"],
            row["decision"],
            METRIC_TITLES[row["metric"]],
            row["reference"],
            f"{_signed(row['mean_difference'], decimals)} ± "
            f"{_fmt(row['std_difference'], decimals)}",
            f"{row['wins']}/{row['n_folds']}",
            f"[{_signed(row['ci_low'], decimals)}, {_signed(row['ci_high'], decimals)}]",
            _p(row["p_wilcoxon"]),
            _p(row["p_t_test"]),
            _p(row["p_corrected_t_test"]),
            _p(row["p_adjusted"]),
            "**yes**" if row["significant"] else "no",
        ]
        for _, row in wanted.iterrows()
    ]
    test = evaluation["significance_test"]
    decided_by = (
        f"the {level:.0%} bootstrap interval excluding 0"
        if test == "bootstrap"
        else f"the {TEST_NAMES[test]} p-value"
        + (
            " after Holm's adjustment over the variants"
            if evaluation["adjust"] == "holm"
            else ""
        )
        + f" below {evaluation['alpha']:g}"
    )
    if linear:
        how = (
            f"Does the network earn its cost? Every loss variant against "
            f"`{reference}`, the linear baseline on the same inputs and folds, under "
            "the same decision rule. "
        )
        title = f"## Network vs linear baseline ({reference})"
    elif convex:
        how = (
            "Does the loss help the linear model? Every `convex_<variant>` against "
            f"`{reference}`: the same softmax regression, inner folds and solver, "
            "fitted with the baseline variant's loss, under the same decision rule. "
        )
        title = f"## The losses on the linear model ({reference})"
    else:
        how = (
            "A variant is compared with the baseline under the same decision rule; "
            "the baseline's `min_expected_cost` row is compared with its own "
            "`argmax` (the decision rule alone). "
        )
        title = f"## Comparison with {reference}"
    return [
        title,
        "",
        "Δ is variant minus reference, per fold (mean ± std over folds; *wins*: "
        "folds where the variant's value is higher — better for accuracy and UAR, "
        "worse for the cost metrics). "
        + how
        + f"*CI*: {level:.0%} bootstrap interval of the difference over utterances "
        f"({evaluation['bootstrap']['n_resamples']} resamples of the pooled "
        "out-of-fold predictions). p-values, two-sided: Wilcoxon signed-rank and "
        "paired t-test over folds, and the corrected resampled t-test (Nadeau & "
        "Bengio, 2003), which accounts for the overlap of the folds' training sets. "
        "*p decisive*: the p-value that decides significance (after the "
        "adjustment, if any). "
        f"*Significant*: {decided_by}. With {n_folds} folds the two-sided Wilcoxon "
        f"p-value cannot fall below 2 / 2^{n_folds} = {2 / 2**n_folds:.4g}.",
        "",
        *_table(
            [
                "Variant",
                "Decision",
                "Metric",
                "Reference",
                "Δ per fold",
                "Wins",
                "CI (utterances)",
                "p Wilcoxon",
                "p t-test",
                "p corrected t",
                "p decisive",
                "Significant",
            ],
            rows,
        ),
        "",
    ]


def trade_off_section(
    folds: pd.DataFrame, significance: pd.DataFrame, evaluation: dict, decimals: int
) -> list[str]:
    """Which variant and decision rule makes the mildest mistakes at a UAR within
    one point of the baseline's ``argmax``, with its test against it."""
    reference = evaluation["baseline"]
    summary = summary_table(folds)
    start = summary[
        (summary["variant"] == reference) & (summary["decision"] == "argmax")
    ]
    if start.empty:
        return []
    uar, severity = start["uar_mean"].iloc[0], start["mistake_severity_mean"].iloc[0]
    close = summary[
        (summary["uar_mean"] >= uar - 0.01)
        & ~summary["variant"].str.startswith(LINEAR_MODEL_PREFIXES)
        & summary["mistake_severity_mean"].notna()
    ]
    best = close.loc[close["mistake_severity_mean"].idxmin()] if len(close) else None
    lines = [
        "## Trade-off: UAR against mistake severity",
        "",
        "The frontier figure draws every model from its `argmax` point to its "
        "`min_expected_cost` point: the prediction minimises the expected cost "
        "under (1 − w)(1 − I) + w(1 − S) for w from 0 to 1, so each model's curve "
        "costs no retraining; the grey line joins the points no other point beats "
        "on both UAR and mistake severity (`frontier_points.csv`).",
        "",
    ]
    if best is None or (best["variant"] == reference and best["decision"] == "argmax"):
        return lines + [
            f"No loss variant or decision rule lowers the mistake severity of "
            f"`{reference}` (argmax, {_fmt(severity, decimals)}) without losing more "
            f"than one point of its UAR ({_fmt(uar, decimals)}).",
            "",
        ]
    test = significance[
        (significance.get("comparison", reference) == reference)
        & (significance["variant"] == best["variant"])
        & (significance["decision"] == best["decision"])
        & (significance["metric"] == "mistake_severity")
    ]
    if test.empty:
        verdict = "no test of it in the comparison table"
    else:
        row = test.iloc[0]
        against = (
            "its own `argmax`"
            if best["variant"] == reference
            else f"`{reference}` with the same rule"
        )
        verdict = (
            f"against {against}, Δ {_signed(row['mean_difference'], decimals)} per "
            "fold, p decisive "
            f"{_p(row['p_adjusted'])}, "
            + ("**significant**" if row["significant"] else "not significant")
            + f" ({evaluation['significance_test']})"
        )
    return lines + [
        f"At a UAR within one point of `{reference}` (argmax: UAR "
        f"{_fmt(uar, decimals)}, mistake severity {_fmt(severity, decimals)}), the "
        f"mildest mistakes come from `{best['variant']}` with `{best['decision']}`: "
        f"severity {_fmt(best['mistake_severity_mean'], decimals)} at UAR "
        f"{_fmt(best['uar_mean'], decimals)}; {verdict}.",
        "",
    ]


def recall_section(
    recall: pd.DataFrame, classes: list[str], decimals: int
) -> list[str]:
    """Per-class recall (mean ± std over folds) per variant and decision rule."""
    rows = []
    for (variant, decision), part in recall.groupby(
        ["variant", "decision"], sort=False
    ):
        values = part.set_index("class").reindex(classes)
        rows.append(
            [variant, decision]
            + [
                f"{_fmt(r['recall_mean'], decimals)} ± {_fmt(r['recall_std'], decimals)}"
                for _, r in values.iterrows()
            ]
        )
    return [
        "## Per-class recall",
        "",
        "Recall of each emotion, mean ± standard deviation over folds.",
        "",
        *_table(["Variant", "Decision", *classes], rows),
        "",
    ]


def decision_rule_shift(recall: pd.DataFrame, classes: list[str]) -> pd.DataFrame:
    """How much each variant's predicted classes move between its decision rules.

    Args:
        recall: Per-class recall with ``predicted_share`` (``per_class_recall``).
        classes: Configured class order.

    Returns:
        One row per variant scored under more than one rule: ``shift`` (the total
        variation distance between the predicted class distributions of the first
        rule and each other rule: the share of predictions that moved to another
        class, net), the rule it is largest for, and each rule's most predicted
        class with its share. Empty for older tables without ``predicted_share``.
    """
    if "predicted_share" not in recall:
        return pd.DataFrame()
    rows = []
    for variant, part in recall.groupby("variant", sort=False):
        shares = part.pivot(index="decision", columns="class", values="predicted_share")
        shares = shares.reindex(columns=classes).fillna(0.0)
        rules = list(dict.fromkeys(part["decision"]))
        if len(rules) < 2:
            continue
        first = shares.loc[rules[0]]
        moved = {
            rule: 0.5 * float((shares.loc[rule] - first).abs().sum())
            for rule in rules[1:]
        }
        worst = max(moved, key=moved.get)
        rows.append(
            {
                "variant": variant,
                "reference_rule": rules[0],
                "rule": worst,
                "shift": moved[worst],
                "top_reference": f"{first.idxmax()} {first.max():.2f}",
                "top_rule": f"{shares.loc[worst].idxmax()} "
                f"{shares.loc[worst].max():.2f}",
            }
        )
    return pd.DataFrame(rows)


def rule_shift_section(
    recall: pd.DataFrame, classes: list[str], threshold: float
) -> list[str]:
    """The decision rules' effect on the predicted classes; large shifts flagged."""
    shifts = decision_rule_shift(recall, classes)
    if shifts.empty:
        return []
    flagged = shifts[shifts["shift"] >= threshold]
    lines = [
        "## Decision rules and the predicted classes",
        "",
        "Share of the test predictions that move to another class when the "
        "decision rule changes (total variation distance between the predicted "
        "class distributions, pooled over folds), and the most predicted class "
        "under each rule.",
        "",
        *_table(
            ["Variant", "Rules", "Predictions moved", "Most predicted", "Flag"],
            [
                [
                    row["variant"],
                    f"{row['reference_rule']} → {row['rule']}",
                    f"{row['shift']:.3f}",
                    f"{row['top_reference']} → {row['top_rule']}",
                    "**large shift**" if row["shift"] >= threshold else "",
                ]
                for _, row in shifts.iterrows()
            ],
        ),
        "",
    ]
    if not flagged.empty:
        lines += [
            f"**Warning**: for {', '.join(flagged['variant'])} the decision rule "
            f"moves at least {threshold:.0%} of the predictions to other classes. "
            "With nearly flat probabilities the minimum-expected-cost rule picks "
            "the class closest to all others whatever the utterance; read these "
            "variants' min_expected_cost rows with care (docs/losses.md, "
            '"Decision rules").',
            "",
        ]
    return lines


def markdown_report(
    setup: dict,
    folds: pd.DataFrame,
    significance: pd.DataFrame,
    recall: pd.DataFrame,
    evaluation: dict,
    figures: dict[str, str],
) -> str:
    """The whole report: setup, results, comparison, per-class recall, figures.

    Args:
        setup: Output of the evaluation's ``describe_setup`` node.
        folds: Per-fold metrics (``fold_table``).
        significance: The joined comparison table (``significance_table``).
        recall: Per-class recall (``per_class_recall``).
        evaluation: The evaluation parameters as a dictionary.
        figures: Caption -> figure file name; each link is written as
            ``{figure:<name>}`` for the report dataset to resolve.

    Returns:
        Markdown text.
    """
    decimals = int(evaluation["decimals"])
    classes = list(setup["classes"])
    summary = summary_table(folds)
    per_fold = [
        [row["variant"], row["decision"], str(row["fold"])]
        + [_fmt(row[m], decimals) for m in SCALAR_METRICS]
        for _, row in folds.iterrows()
    ]
    lines = [
        "# Emotion-Aware Loss: cross-validation report",
        "",
        *setup_section(setup),
        *results_section(summary, decimals, int(evaluation.get("ece_bins", 15))),
        *calibration_section(folds, decimals, evaluation),
        *convergence_section(folds),
        *(
            line
            for reference in (
                significance["comparison"].unique()
                if "comparison" in significance
                else [evaluation["baseline"]]
            )
            for line in significance_section(
                significance, evaluation, decimals, reference
            )
        ),
        *trade_off_section(folds, significance, evaluation, decimals),
        *recall_section(recall, classes, decimals),
        *rule_shift_section(
            recall, classes, float(evaluation.get("rule_shift_warning", 0.15))
        ),
        "## Figures",
        "",
    ]
    for caption, name in figures.items():
        lines += [
            f"**{caption}** (`{name}`)",
            "",
            f"![{caption}]({{figure:{name}}})",
            "",
        ]
    lines += [
        "## Per fold",
        "",
        *_table(
            [
                "Variant",
                "Decision",
                "Fold",
                *(METRIC_TITLES[m] for m in SCALAR_METRICS),
            ],
            per_fold,
        ),
        "",
        "## Software",
        "",
        *_table(
            ["Package", "Version"],
            [[k, v] for k, v in setup["software"].items()],
        ),
        "",
    ]
    if setup.get("hardware"):
        lines += [
            "## Hardware",
            "",
            "Figures are reproduced exactly with the same software versions, CPU "
            "vector extensions and thread counts; on other CPUs or thread counts "
            "floating-point sums round differently and the figures can differ "
            "(docs/running.md, *Repeatability*).",
            "",
            *_table(["", ""], [[k, v] for k, v in setup["hardware"].items()]),
            "",
        ]
    return "\n".join(lines)
