"""End-to-end: ``kedro run --pipelines=study`` on two tiny demo corpora."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from .tiny_project import (
    TINY_GLOBALS,
    TINY_PARAMETERS,
    TWO_VARIANTS,
    copy_project,
    kedro,
    versions,
)

pytestmark = pytest.mark.slow

STUDY = """
study:
  seeds: [42]
  variants: [cross_entropy, emotion_aware]
  parameters:
    model.modalities: [speech]
    model.fusion.dense_units: [32]  # wider than the tiny default: no class may end
  corpora:                          # with an all-zero embedding (learned similarity)
    clean:
      dataset: demo_corpus_clean
    noisy:
      dataset: demo_corpus_noisy
      parameters:
        classes: [anger, happiness, sadness, neutral]
        preprocessing.labels.drop: [surprise]
"""


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    project = copy_project(
        tmp_path_factory.mktemp("study"),
        parameters=TINY_PARAMETERS + STUDY,
        globals_=TINY_GLOBALS + "study_demo:\n  n_utterances: 40\n",
    )
    kedro(project, "run", "--pipelines=study")
    return project


def _latest(project: Path, name: str) -> Path:
    return versions(project / "data" / "08_reporting" / name)[-1] / name


def test_the_study_writes_its_four_outputs_and_every_run_its_report(study):
    summary = pd.read_csv(_latest(study, "study_summary.csv"))
    assert set(summary["corpus"]) == {"clean", "noisy"}
    assert set(summary["variant"]) == {
        "cross_entropy",
        "emotion_aware",
        "linear_speech",
        "ensemble_cross_entropy",  # evaluation.ensembles: all
        "ensemble_emotion_aware",
    }
    assert {"argmax", "min_expected_cost"} == set(summary["decision"])
    assert (summary["n_folds"] == 2).all() and (summary["n_seeds"] == 1).all()
    tests = pd.read_csv(_latest(study, "study_tests.csv"))
    friedman = tests[(tests["test"] == "friedman") & (tests["metric"] == "uar")]
    assert friedman["n_blocks"].tolist() == [2] and friedman["n_methods"].tolist() == [
        5
    ]
    assert set(tests["reference"].dropna()) == {"cross_entropy", "linear (best)"}
    assert _latest(study, "critical_difference.png").stat().st_size > 1000
    report = _latest(study, "study.md").read_text()
    assert "# Study: 2 corpora × 1 seed" in report
    assert "](../../critical_difference.png/" in report
    # the frontier over both runs: every model at every rule weight, averaged
    assert "](../../study_frontier.png/" in report
    frontier = pd.read_csv(_latest(study, "study_frontier.csv"))
    assert set(frontier["variant"]) == set(summary["variant"])
    assert frontier.groupby("variant").size().eq(11).all() and frontier["pareto"].any()
    for corpus in ("clean", "noisy"):
        run = study / "data" / "study" / corpus / "seed_42"
        assert versions(run / "08_reporting" / "report.md")
        assert (study / "data" / "study" / corpus / "04_feature").is_dir()
        models = run / "06_models" / "emotion_aware" / "fold_1" / "model.keras"
        assert versions(models)
    # the single-corpus outputs are not touched by a study
    assert not (study / "data" / "08_reporting" / "report.md").exists()


def test_a_run_uses_its_corpus_s_own_parameters(study):
    labels = {}
    for corpus in ("clean", "noisy"):
        path = study / "data" / "study" / corpus / "02_intermediate"
        labels[corpus] = set(pd.read_parquet(path / "utterances.parquet")["label"])
    assert "surprise" in labels["clean"]
    assert labels["noisy"] == {"anger", "happiness", "sadness", "neutral"}
    recall = pd.read_csv(
        versions(study / "data/study/noisy/seed_42/08_reporting/per_class_recall.csv")[
            -1
        ]
        / "per_class_recall.csv"
    )
    assert "surprise" not in set(recall["class"])


def test_a_study_that_does_not_fit_the_project_fails_only_when_run(tmp_path):
    # conf/local keeps two loss variants; the base study names a third
    project = copy_project(tmp_path, TINY_PARAMETERS + TWO_VARIANTS)
    listed = kedro(project, "registry", "list").stdout
    assert "- study" in listed
    result = kedro(project, "run", "--pipelines=study", check=False)
    assert result.returncode != 0
    output = " ".join((result.stdout + result.stderr).split())
    assert "study.variants ['soft_target'] are not loss_variants" in output
