import numpy as np
import pandas as pd
import pytest

from emotion_aware_loss.config import StudyTestsConfig
from emotion_aware_loss.study.report import study_markdown
from emotion_aware_loss.study.tables import (
    LINEAR_BEST,
    block_scores,
    gather_runs,
    rank_tests,
    summarise_study,
)

# per method: UAR added to each block's base; severity moves the other way
OFFSETS = {
    "cross_entropy": 0.0,
    "emotion_aware": 0.04,
    "soft_target": -0.02,
    "linear_speech": 0.02,
    "linear_text": -0.05,
}


def _fold_table(base: float, decision: str = "argmax") -> pd.DataFrame:
    rows = []
    for variant, offset in OFFSETS.items():
        for fold, noise in enumerate((-0.01, 0.01)):
            uar = base + offset + noise
            rows.append(
                {
                    "variant": variant,
                    "decision": decision,
                    "fold": fold,
                    "n_test": 20,
                    "accuracy": uar + 0.05,
                    "uar": uar,
                    "macro_f1": uar - 0.01,
                    "mistake_severity": 0.8 - offset,
                }
            )
    return pd.DataFrame(rows)


@pytest.fixture
def fold_metrics() -> pd.DataFrame:
    runs = {}
    for c, corpus in enumerate(("alpha", "beta", "gamma")):
        for s, seed in enumerate((42, 1)):
            runs[f"{corpus}__seed_{seed}"] = pd.concat(
                [_fold_table(0.5 + 0.1 * c + 0.01 * s, rule) for rule in ("argmax",)],
                ignore_index=True,
            )
    return gather_runs(runs)


def test_runs_are_gathered_with_corpus_and_seed(fold_metrics):
    assert list(fold_metrics.columns[:3]) == ["corpus", "seed", "variant"]
    assert len(fold_metrics) == 6 * 5 * 2
    assert set(zip(fold_metrics["corpus"], fold_metrics["seed"], strict=True)) == {
        (c, s) for c in ("alpha", "beta", "gamma") for s in (42, 1)
    }


def test_summary_is_over_seeds_and_folds_with_the_seed_spread(fold_metrics):
    summary = summarise_study(fold_metrics)
    row = summary[
        (summary["corpus"] == "beta") & (summary["variant"] == "emotion_aware")
    ]
    row = row.iloc[0]
    values = [0.6 + 0.04 + d + s for s in (0.0, 0.01) for d in (-0.01, 0.01)]
    assert row["uar_mean"] == pytest.approx(np.mean(values))
    assert row["uar_std"] == pytest.approx(np.std(values, ddof=1))
    assert row["uar_seed_std"] == pytest.approx(np.std([0.64, 0.65], ddof=1))
    assert (row["n_seeds"], row["n_folds"], row["kind"]) == (2, 2, "loss variant")
    kinds = dict(zip(summary["variant"], summary["kind"], strict=False))
    assert kinds["linear_text"] == "linear baseline"


def test_the_best_linear_baseline_is_chosen_per_block_by_uar(fold_metrics):
    scores, best = block_scores(fold_metrics, "mistake_severity", "argmax")
    assert list(scores.columns) == [
        "cross_entropy",
        "emotion_aware",
        "soft_target",
        LINEAR_BEST,
    ]
    assert set(best) == {"linear_speech"}
    # its severity, not the best severity of any baseline (linear_text's is higher)
    assert scores[LINEAR_BEST].tolist() == pytest.approx([0.78] * 6)
    assert list(scores.index)[:2] == ["alpha, seed 42", "alpha, seed 1"]


def test_tests_rank_the_methods_and_compare_with_both_references(fold_metrics):
    table = rank_tests(fold_metrics, StudyTestsConfig())
    uar = table[table["metric"] == "uar"].set_index("test")
    ranks = uar.loc["average_rank"].set_index("method")["average_rank"]
    assert ranks.to_dict() == {
        "emotion_aware": 1.0,
        LINEAR_BEST: 2.0,
        "cross_entropy": 3.0,
        "soft_target": 4.0,
    }
    friedman = uar.loc["friedman"]
    # every block ranks the 4 methods alike: chi2 = N (k - 1) = 18
    assert friedman["statistic"] == pytest.approx(18.0)
    assert friedman["significant"]
    wilcoxon = table[(table["test"] == "wilcoxon") & (table["metric"] == "uar")]
    against_ce = wilcoxon[wilcoxon["reference"] == "cross_entropy"].set_index("method")
    # won on all 6 blocks: exact two-sided p = 2 / 2**6, Holm over 3 comparisons
    assert against_ce.at["emotion_aware", "p_value"] == pytest.approx(2 / 64)
    assert against_ce.at["emotion_aware", "p_holm"] == pytest.approx(3 * 2 / 64)
    assert against_ce.at["soft_target", "losses"] == 6
    assert set(wilcoxon["reference"]) == {"cross_entropy", LINEAR_BEST}
    # lower severity is better: emotion_aware also ranks first there
    severity = table[(table["metric"] == "mistake_severity")]
    first = severity[severity["test"] == "average_rank"].iloc[0]
    assert first["method"] == "emotion_aware"


def test_two_methods_skip_the_friedman_test_but_are_still_compared(fold_metrics):
    two = fold_metrics[fold_metrics["variant"].isin(["cross_entropy", "linear_speech"])]
    table = rank_tests(two, StudyTestsConfig(metrics=["uar"]))
    assert "friedman (needs 3 methods)" in set(table["test"])
    assert "iman_davenport" not in set(table["test"])
    assert (table["test"] == "wilcoxon").sum() == 2  # each against the other


def test_an_absent_decision_rule_is_named(fold_metrics):
    with pytest.raises(ValueError, match="min_expected_cost"):
        rank_tests(fold_metrics, StudyTestsConfig(decision="min_expected_cost"))


def test_the_report_prints_the_paper_table_tests_and_limits(fold_metrics):
    config = StudyTestsConfig()
    summary = summarise_study(fold_metrics)
    tests = rank_tests(fold_metrics, config)
    text = study_markdown(summary, tests, fold_metrics, config)
    assert "| method | alpha | beta | gamma | average rank |" in text
    lines = text.splitlines()
    first = next(line for line in lines if line.startswith("| emotion_aware |"))
    assert "**0.545 ± 0.013**" in first and first.endswith("| 1.00 |")
    assert any(line.startswith(f"| {LINEAR_BEST} |") for line in lines)
    assert "(linear_speech)" in text
    assert "Friedman χ² = 18.00" in text
    assert "{figure:critical_difference.png}" in text
    assert "smallest two-sided Wilcoxon p-value is 0.0312" in text
    assert "not independent data sets" in text
