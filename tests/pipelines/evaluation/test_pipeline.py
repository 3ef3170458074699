import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from emotion_aware_loss.config import EvaluationConfig
from emotion_aware_loss.pipelines.evaluation import create_pipeline
from emotion_aware_loss.pipelines.evaluation.nodes import summarise_cross_validation


def _rule_metrics(accuracy):
    return {
        "accuracy": accuracy,
        "uar": accuracy / 2,
        "macro_f1": 0.3,
        "weighted_f1": 0.4,
        "cross_entropy": 1.2,
        "mistake_severity": 0.5,
        "semantic_cost": 0.2,
        "ece": 0.1,
        "confusion_matrix": np.eye(5, dtype=int).tolist(),
    }


def _fold_metrics(fold, accuracy):
    return {
        "fold": fold,
        "n_test": 10,
        "classes": list("abcde"),
        "decisions": {
            "argmax": _rule_metrics(accuracy),
            "min_expected_cost": _rule_metrics(accuracy - 0.1),
        },
    }


def test_summary_mean_and_std(classes):
    folds, summary, report, figure = summarise_cross_validation(
        classes,
        EvaluationConfig(decimals=3),
        {
            "cross_entropy": {"loss": "cross_entropy"},
            "emotion_aware": {"loss": "emotion_aware", "alpha": 2.0},
        },
        cross_entropy__fold_0=_fold_metrics(0, 0.5),
        cross_entropy__fold_1=_fold_metrics(1, 0.7),
        emotion_aware__fold_0=_fold_metrics(0, 0.6),
        emotion_aware__fold_1=_fold_metrics(1, 0.6),
    )
    assert isinstance(folds, pd.DataFrame) and len(folds) == 8
    assert folds["variant"].tolist()[:4] == ["cross_entropy"] * 4
    ce = summary["variants"]["cross_entropy"]["argmax"]
    assert ce["accuracy_mean"] == 0.6
    assert np.isclose(ce["accuracy_std"], np.std([0.5, 0.7], ddof=1))
    assert np.isclose(
        summary["variants"]["cross_entropy"]["min_expected_cost"]["accuracy_mean"], 0.5
    )
    assert summary["variants"]["emotion_aware"]["argmax"]["accuracy_std"] == 0.0
    assert "| cross_entropy | argmax | 0.600 ± 0.141 |" in report
    assert "| emotion_aware | min_expected_cost | 1 | 0.500 |" in report
    assert "2-fold cross-validation over 20 utterances" in report
    assert "| emotion_aware | emotion_aware, alpha=2, S=hand_set |" in report
    assert summary["losses"]["cross_entropy"] == "cross_entropy"
    # 2 variants x 2 decision rules + colour bar
    assert isinstance(figure, Figure) and len(figure.axes) == 5


def test_pipeline_structure(two_fold_layout):
    pipeline = create_pipeline()
    names = {n.name for n in pipeline.nodes}
    assert "emotion_aware.fold_1.evaluate_model_node" in names
    assert "summarise_cross_validation_node" in names
    assert {"cv_report", "cv_summary", "cv_fold_metrics", "confusion_matrices"} <= set(
        pipeline.all_outputs()
    )
