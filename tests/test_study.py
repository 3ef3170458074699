import numpy as np
import pandas as pd
import pytest
from scipy import stats

from emotion_aware_loss.study.comparison import (
    average_ranks,
    compare_with_reference,
    critical_difference_figure,
    friedman,
    friedman_statistics,
    nemenyi_critical_difference,
)


def test_demsar_2006_worked_example():
    """Demšar (JMLR 2006), section 3.2.2: four C4.5 variants on 14 data sets.

    Published: average ranks 3.143, 2.000, 2.893, 1.964; chi2_F = 9.28;
    F_F = 3.69 against a critical F(3, 39) of 2.85 at alpha 0.05; Nemenyi
    q_0.05 = 2.569 and CD = 1.25 for k = 4 and N = 14.
    """
    average = np.array([44.0, 28.0, 40.5, 27.5]) / 14  # the rank sums behind them
    result = friedman_statistics(average, 14)
    assert round(result["chi2"], 2) == 9.28
    assert round(result["iman_davenport_f"], 2) == 3.69
    assert round(stats.f.ppf(0.95, 3, 39), 2) == 2.85
    assert result["p_iman_davenport"] < 0.05
    assert round(nemenyi_critical_difference(4, 14), 2) == 1.25
    q = nemenyi_critical_difference(4, 14) / np.sqrt(4 * 5 / (6 * 14))
    assert round(q, 3) == 2.569


def test_friedman_ranks_higher_scores_first_and_agrees_with_scipy():
    rng = np.random.default_rng(0)
    scores = pd.DataFrame(
        rng.uniform(size=(8, 4)) + np.array([0.3, 0.2, 0.1, 0.0]),
        columns=["a", "b", "c", "d"],
    )
    average = average_ranks(scores)
    assert list(average.index)[0] == "a" and np.isclose(average.sum(), 10.0)
    assert average_ranks(scores, higher_is_better=False).index[0] == average.index[-1]
    result = friedman(scores)
    # no ties: the textbook statistic equals SciPy's tie-corrected one
    assert np.isclose(result["chi2"], result["chi2_tie_corrected"])
    assert np.isclose(result["p_chi2"], result["p_tie_corrected"])
    assert result["n_blocks"] == 8 and result["n_methods"] == 4


def test_every_method_against_a_reference_with_holm():
    blocks = [f"corpus_{i}" for i in range(10)]
    base = np.linspace(0.5, 0.7, 10)
    scores = pd.DataFrame(
        {
            "cross_entropy": base,
            "better": base + 0.05,  # wins every block
            "same": base + np.tile([0.01, -0.01], 5),
            "worse": base - 0.02,
        },
        index=blocks,
    )
    table = compare_with_reference(scores, "cross_entropy").set_index("method")
    assert list(table.index) == ["better", "same", "worse"]
    assert table.loc["better", "wins"] == 10 and table.loc["worse", "losses"] == 10
    assert np.isclose(table.loc["better", "mean_difference"], 0.05)
    # exact two-sided Wilcoxon p for 10 of 10 blocks in one direction: 2 / 2**10
    assert np.isclose(table.loc["better", "p_wilcoxon"], 2 / 1024)
    assert table.loc["same", "p_wilcoxon"] > 0.5
    # Holm: never below the raw p-value, the smallest multiplied by 3
    assert (table["p_wilcoxon_holm"] >= table["p_wilcoxon"]).all()
    smallest = table["p_rank_z"].idxmin()
    assert np.isclose(
        table.loc[smallest, "p_rank_z_holm"], 3 * table.loc[smallest, "p_rank_z"]
    )


def test_bad_tables_are_refused_with_the_block_and_method_named():
    scores = pd.DataFrame(
        {"a": [0.5, 0.6, 0.7], "b": [0.4, np.nan, 0.6], "c": [0.1, 0.2, 0.3]},
        index=["emodb/42", "emodb/1", "meld/42"],
    )
    with pytest.raises(ValueError, match=r"method 'b' in block 'emodb/1'"):
        friedman(scores)
    with pytest.raises(ValueError, match="at least 3 methods"):
        friedman(scores[["a", "c"]])
    with pytest.raises(ValueError, match=r"reference 'linear' is not one of"):
        compare_with_reference(scores.fillna(0.5), "linear")


def test_critical_difference_diagram_joins_methods_within_the_difference():
    average = pd.Series({"a": 1.2, "b": 1.9, "c": 3.4, "d": 3.5})
    fig = critical_difference_figure(average, 1.0, "test")
    ax = fig.axes[0]
    thick = [line for line in ax.get_lines() if line.get_linewidth() == 3]
    # a-b within 1.0, c-d within 1.0, b-c not: two cliques
    assert len(thick) == 2
    labels = {text.get_text() for text in ax.texts}
    assert {"a (1.20)", "d (3.50)", "CD = 1.00"} <= labels
