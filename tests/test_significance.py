import numpy as np
import pandas as pd
import pytest
from scipy import stats

from emotion_aware_loss.evaluation.significance import (
    BOOTSTRAP_METRICS,
    bootstrap_comparisons,
    fold_comparisons,
    holm,
    paired_t_p,
    per_class_recall,
    significance_table,
    wilcoxon_p,
)
from emotion_aware_loss.losses.metrics import classification_metrics

CLASSES = ["anger", "surprise", "happiness", "sadness", "neutral"]


@pytest.fixture
def similarity() -> np.ndarray:
    s = np.full((5, 5), 0.2)
    s[0, 3] = s[3, 0] = 0.7
    s[1, 2] = s[2, 1] = 0.8
    np.fill_diagonal(s, 1.0)
    return s


def _oof(n=120, n_repeats=2, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 5, n)
    frames = []
    for variant, sharpness in (("cross_entropy", 2.0), ("emotion_aware", 3.0)):
        for repeat in range(n_repeats):
            logits = rng.normal(size=(n, 5))
            logits[np.arange(n), labels] += sharpness
            p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
            frame = pd.DataFrame(
                {
                    "variant": variant,
                    "repeat": repeat,
                    "fold": repeat * 5 + np.arange(n) % 5,
                    "utterance_id": [f"u{i:04d}" for i in range(n)],
                    "label": [CLASSES[k] for k in labels],
                    "predicted_argmax": [CLASSES[k] for k in p.argmax(axis=1)],
                    "predicted_min_expected_cost": [
                        CLASSES[k] for k in p.argmin(axis=1)
                    ],
                }
            )
            for j, c in enumerate(CLASSES):
                frame[f"prob_{c}"] = p[:, j]
            frames.append(frame.sample(frac=1.0, random_state=repeat))  # any order
    return pd.concat(frames, ignore_index=True)


def test_bootstrap_point_estimates_match_the_metrics_on_pooled_predictions(similarity):
    oof = _oof()
    table = bootstrap_comparisons(
        oof, CLASSES, similarity, "cross_entropy", ("argmax",), 200, 0.95, seed=1
    )
    index = {c: i for i, c in enumerate(CLASSES)}
    expected = {}
    for variant in ("cross_entropy", "emotion_aware"):
        part = oof[oof["variant"] == variant]
        y = part["label"].map(index).to_numpy()
        p = part[[f"prob_{c}" for c in CLASSES]].to_numpy()
        expected[variant] = classification_metrics(y, p, similarity, "argmax")
    rows = table.set_index("metric")
    assert set(rows.index) == set(BOOTSTRAP_METRICS)
    for metric in BOOTSTRAP_METRICS:
        diff = expected["emotion_aware"][metric] - expected["cross_entropy"][metric]
        assert rows.loc[metric, "pooled_difference"] == pytest.approx(diff, abs=1e-9)
        assert rows.loc[metric, "ci_low"] <= diff <= rows.loc[metric, "ci_high"]
    # Sharper probabilities: a clear accuracy gain, the interval excludes 0.
    assert rows.loc["accuracy", "ci_low"] > 0


def test_bootstrap_is_seeded_and_pairs_on_utterances(similarity):
    oof = _oof(n=60, n_repeats=1)
    args = (oof, CLASSES, similarity, "cross_entropy", ("argmax",), 100, 0.9)
    pd.testing.assert_frame_equal(
        bootstrap_comparisons(*args, seed=3), bootstrap_comparisons(*args, seed=3)
    )
    broken = oof.drop(index=oof.index[-1])
    with pytest.raises(ValueError, match="different utterances"):
        bootstrap_comparisons(broken, *args[1:], seed=3)


def test_fold_level_tests():
    d = np.array([0.02, 0.03, 0.01, 0.04, 0.02])
    assert wilcoxon_p(d) == pytest.approx(stats.wilcoxon(d).pvalue)
    assert wilcoxon_p(d) == pytest.approx(0.0625)  # the floor with five folds
    assert wilcoxon_p(np.zeros(5)) == 1.0
    assert paired_t_p(d) == pytest.approx(stats.ttest_1samp(d, 0.0).pvalue)
    corrected = paired_t_p(d, 1 / 5 + 1 / 4)
    assert corrected > paired_t_p(d)  # the correction is more conservative
    assert paired_t_p(np.full(5, 0.01)) == 0.0
    assert np.isnan(paired_t_p(np.array([0.1])))


def test_holm():
    np.testing.assert_allclose(holm(np.array([0.01, 0.04, 0.03])), [0.03, 0.06, 0.06])
    out = holm(np.array([0.5, np.nan, 0.01]))
    assert np.isnan(out[1]) and out[2] == pytest.approx(0.02) and out[0] == 0.5


def _folds() -> pd.DataFrame:
    rows = []
    for variant, shift in (("cross_entropy", 0.0), ("emotion_aware", 0.02)):
        for decision, rule_shift in (("argmax", 0.0), ("min_expected_cost", -0.01)):
            for fold in range(5):
                rows.append(
                    {
                        "variant": variant,
                        "decision": decision,
                        "fold": fold,
                        "n_test": 20,
                        "accuracy": 0.6 + shift + rule_shift + 0.01 * fold,
                    }
                )
    return pd.DataFrame(rows)


def test_fold_comparisons_pair_on_folds_and_rules():
    table = fold_comparisons(_folds(), "cross_entropy", ("accuracy",), 100)
    rows = table.set_index(["variant", "decision"])
    assert len(table) == 3  # baseline argmax is the reference, not a row
    ea = rows.loc[("emotion_aware", "argmax")]
    assert ea["mean_difference"] == pytest.approx(0.02)
    assert ea["reference"] == "cross_entropy (argmax)"
    assert ea["wins"] == 5 and ea["p_t_test"] == 0.0
    rule = rows.loc[("cross_entropy", "min_expected_cost")]
    assert rule["mean_difference"] == pytest.approx(-0.01)
    with pytest.raises(ValueError, match="evaluation.baseline='focal'"):
        fold_comparisons(_folds(), "focal", ("accuracy",), 100)


def test_significance_marks_by_the_configured_test():
    fold_level = pd.DataFrame(
        {
            "variant": ["a", "b"],
            "decision": ["argmax"] * 2,
            "metric": ["accuracy"] * 2,
            "p_t_test": [0.03, 0.04],
        }
    )
    boot = pd.DataFrame(
        {
            "variant": ["a", "b"],
            "decision": ["argmax"] * 2,
            "metric": ["accuracy"] * 2,
            "ci_low": [-0.01, 0.01],
            "ci_high": [0.02, 0.03],
        }
    )
    plain = significance_table(fold_level, boot, "t_test", 0.05, "none")
    assert plain["significant"].tolist() == [True, True]
    adjusted = significance_table(fold_level, boot, "t_test", 0.05, "holm")
    assert adjusted["significant"].tolist() == [False, False]  # 0.06, 0.06
    by_ci = significance_table(fold_level, boot, "bootstrap", 0.05, "none")
    assert by_ci["significant"].tolist() == [False, True]


def test_per_class_recall():
    confusion = np.diag([2, 1, 0, 3, 4])
    confusion[1, 0] = 1
    records = [
        {"variant": "ce", "decisions": {"argmax": {"confusion_matrix": confusion}}},
        {"variant": "ce", "decisions": {"argmax": {"confusion_matrix": np.eye(5)}}},
    ]
    table = per_class_recall(records, CLASSES).set_index("class")
    assert table.loc["surprise", "recall_mean"] == pytest.approx(0.75)
    assert table.loc["surprise", "recall_pooled"] == pytest.approx(2 / 3)
    assert table.loc["happiness", "support"] == 1  # class absent from fold 0
    assert table.loc["happiness", "recall_mean"] == 1.0
