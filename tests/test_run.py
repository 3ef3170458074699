"""End-to-end: the default pipeline through ``kedro run`` on a tiny demo corpus."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from .tiny_project import (
    ROOT,
    TINY_PARAMETERS,
    TWO_VARIANTS,
    copy_project,
    kedro,
    kedro_in_terminal,
    versions,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def first_run(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """A copy of this project whose conf/local shrinks the run, and its output."""
    path = copy_project(tmp_path_factory.mktemp("project"))
    return path, kedro(path, "run")


@pytest.fixture(scope="module")
def project(first_run) -> Path:
    return first_run[0]


# A log record on the screen: rich's time column (blank when the time repeats),
# the level, the message; its continuation lines are indented instead.
RECORD = re.compile(r"^(?:\[[^\]]*\]|\s+)\s(DEBUG|INFO|WARNING|ERROR|CRITICAL)\s+(.*)$")
PROGRESS = re.compile(r"^\[(\d+)/(\d+)\] ")


def records(output: str) -> list[tuple[str, str]]:
    """The (level, first line of the message) of every log record in ``output``."""
    return [
        (m[1], m[2].rstrip())
        for line in output.splitlines()
        if (m := RECORD.match(line))
    ]


def test_the_run_shows_progress_instead_of_dataset_chatter(first_run):
    project, result = first_run
    shown = records(result.stdout + result.stderr)
    (total,) = {int(m[2]) for _, msg in shown if (m := PROGRESS.match(msg))}
    assert f"Running {total} nodes (" in result.stdout
    progress = [msg for _, msg in shown if PROGRESS.match(msg)]
    # one progress line per node, in order, each with stage, timing and estimate
    assert [int(PROGRESS.match(m)[1]) for m in progress] == list(range(1, total + 1))
    trainings = [m for m in progress if re.match(r"\[\d+/\d+\] training \| ", m)]
    # one stack per round: the 7 first-round variants x 2 folds, then the learned one
    assert len(trainings) == 2
    assert (
        " | train_models | " in trainings[0]
        and "(14 model(s), 2 epoch(s)" in trainings[0]
    )
    assert "train_models_second_round" in trainings[1] and "(2 model(s)" in trainings[1]
    assert all(
        re.search(r"best val_accuracy \d\.\d{4}–\d\.\d{4}\)", m) for m in trainings
    )
    assert all(
        re.search(r"elapsed \d+:\d\d, about \d+:\d\d left$", m) for m in trainings
    )
    assert any(
        re.search(r"extract_acoustic_features \| .* \(50 utt, \d+ utt/s\)", m)
        for m in progress
    )
    assert re.search(rf"Finished {total} of {total} nodes in \d+:\d\d: ", result.stdout)
    # few records per node: Kedro's per-dataset lines are not on the screen
    assert len(shown) <= 2 * total, [m for _, m in shown]
    start = next(i for i, (_, msg) in enumerate(shown) if msg.startswith("Running "))
    ends = [i for i, (_, msg) in enumerate(shown) if PROGRESS.match(msg)]
    per_node = [b - a for a, b in zip([start, *ends[:-1]], ends, strict=True)]
    assert max(per_node) <= 6, shown  # e.g. corpus generated, loaded, class counts
    for chatter in (
        "Loading data from",
        "Saving data to",
        "Running node:",
        "Completed",
    ):
        assert chatter not in result.stdout + result.stderr
    # ... but in the log file, with everything else
    log = (project / "logs" / "kedro.log").read_text(encoding="utf-8")
    assert log.count("Loading data from") > total
    assert log.count("Saving data to") >= total
    assert log.count("Running node:") >= total
    assert "INFO    emotion_aware_loss.run.display: [1/" in log


def test_default_run_writes_the_comparison_report(project):
    reporting = project / "data" / "08_reporting"
    (version,) = versions(reporting / "cv_summary.json")
    summary = json.loads((version / "cv_summary.json").read_text())
    losses = {
        "cross_entropy",
        "seed_weighted",
        "emotion_aware",
        "soft_target",
        "expected_cost",
        "sim_loss",
        "emotion_aware_va",
        "emotion_aware_learned",
    }
    baselines = {"linear_speech", "linear_text", "linear_fusion"}
    # every network also averaged with the linear baseline (evaluation.ensembles: all)
    ensembles = {f"ensemble_{v}" for v in losses}
    assert set(summary["variants"]) == losses | baselines | ensembles
    for rules in summary["variants"].values():
        assert set(rules) == {"argmax", "min_expected_cost"}
        for values in rules.values():
            assert values["n_folds"] == 2
            assert 0.0 <= values["accuracy_mean"] <= 1.0
            assert 0.0 <= values["uar_mean"] <= 1.0
    report_path = reporting / "report.md" / version.name / "report.md"
    report = report_path.read_text()
    assert "| cross_entropy | argmax |" in report
    assert "| emotion_aware | min_expected_cost |" in report
    assert "2-fold stratified cross-validation" in report
    assert "## Comparison with cross_entropy" in report
    # the linear baselines: in the results, the per-class recall and the comparison
    assert "## Network vs linear baseline (linear_fusion)" in report
    # results, per-class recall, and one per-fold row for each of the 2 folds
    assert report.count("| linear_fusion | argmax |") == 2 + 2
    assert "| linear_text | linear baseline: logistic regression on TF-IDF" in report
    assert "by UAR over 3 inner folds of each fold's training and validation" in report
    assert "| emotion_aware_learned | emotion_aware, alpha=1, S=learned |" in report
    # calibrated probabilities, with the temperatures and both ECEs, and the frontier
    assert "## Calibration" in report and "| ensemble_soft_target | " in report
    assert "## Trade-off: UAR against mistake severity" in report
    # every figure the report shows is the one this run saved
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", report)
    assert len(links) == 7
    for link in links:
        figure = (report_path.parent / link).resolve()
        assert figure.parent.name == version.name
        assert figure.stat().st_size > 10_000, link
    oof = pd.read_csv(
        reporting / "oof_predictions.csv" / version.name / "oof_predictions.csv"
    )
    assert len(oof) == 19 * 50  # every utterance once per variant, baseline, ensemble
    assert {"temperature", "uncalibrated_anger"} <= set(oof.columns)
    tests = pd.read_csv(
        reporting / "significance_tests.csv" / version.name / "significance_tests.csv"
    )
    assert tests["p_corrected_t_test"].between(0, 1).all()
    versus_linear = tests[tests["comparison"] == "linear_fusion"]
    assert set(versus_linear["variant"]) == losses | ensembles
    for name in ("similarity_learned.csv", "similarity_confusions.csv"):
        assert len(versions(project / "data/07_model_output" / name)) == 1
    for variant in losses:
        for fold in (0, 1):
            models = (
                project
                / "data"
                / "06_models"
                / variant
                / f"fold_{fold}"
                / "model.keras"
            )
            assert len(versions(models)) == 1


def test_a_terminal_shows_the_live_display(tmp_path):
    project = copy_project(tmp_path / "terminal", TINY_PARAMETERS + TWO_VARIANTS)
    stages = "--pipelines=preprocessing,fold_generation,model_building,training"
    output = kedro_in_terminal(project, "run", stages)
    assert "\x1b[2K" in output  # the display redraws itself in place (erase line)
    assert "\x1b[?25h" in output  # and gives the cursor back when it stops
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", output)
    total = int(re.search(r"Running (\d+) nodes", plain)[1])
    assert f"{total}/{total} nodes" in plain  # its last frame
    assert "elapsed" in plain and "of 4 model(s) training" in plain
    assert re.search(r"cross_entropy\s+\d\.\d{3}", plain)  # each model's best score
    assert "[1/" not in plain  # the per-node lines go to the log file instead
    log = (project / "logs" / "kedro.log").read_text(encoding="utf-8")
    assert f"DEBUG   emotion_aware_loss.run.display: [{total}/{total}] " in log


def test_saved_model_reloads_with_its_loss(project):
    import keras

    from emotion_aware_loss.losses.family import EmotionAware

    folder = project / "data/06_models/emotion_aware/fold_1/model.keras"
    (version,) = versions(folder)
    model = keras.models.load_model(version / "model.keras")
    assert isinstance(model.loss, EmotionAware)
    assert model.loss.similarity[0][2] == pytest.approx(0.2)


def test_rerun_of_one_pipeline_keeps_earlier_results(project):
    kedro(project, "run", "--pipelines=evaluation")
    reports = versions(project / "data" / "08_reporting" / "report.md")
    assert len(reports) == 2  # the first report is still there


def test_one_fold_can_be_rerun_alone(project):
    kedro(
        project,
        "run",
        "--params=training.stacked=false",
        "--namespaces=emotion_aware.fold_0",
        "--pipelines=training",
    )
    folder = project / "data/06_models/emotion_aware/fold_0/model.keras"
    assert len(versions(folder)) == 2
    assert (
        len(versions(project / "data/06_models/emotion_aware/fold_1/model.keras")) == 1
    )


def test_registry_lists_the_six_pipelines(project):
    out = kedro(project, "registry", "list").stdout
    for name in (
        "preprocessing",
        "fold_generation",
        "model_building",
        "training",
        "evaluation",
        "similarity",
        "baselines",
        "study",
    ):
        assert f"- {name}" in out


def _execute_notebook(project: Path, name: str) -> list[dict]:
    """Run a notebook of this project inside ``project``; its image outputs."""
    import nbclient
    import nbformat

    notebook = nbformat.read(ROOT / "notebooks" / name, as_version=4)
    (project / "notebooks").mkdir(exist_ok=True)
    nbclient.NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(project / "notebooks")}},
    ).execute()
    return [
        o
        for c in notebook.cells
        for o in c.get("outputs", [])
        if "image/png" in o.get("data", {})
    ]


def test_eda_notebook_runs_on_the_catalog(project):
    images = _execute_notebook(project, "EDA.ipynb")
    assert len(images) == 4  # class balance, spectrograms, lengths, similarity


def test_results_notebook_reads_the_report_datasets(project):
    images = _execute_notebook(project, "results.ipynb")
    assert len(images) == 2  # per-class recall, confusion matrices


def test_bad_parameter_fails_at_start_up_naming_the_key(project):
    result = kedro(project, "run", "--params=training.epochs=0", check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "training" in output and "epochs" in output
    assert "[1/" not in output  # no node ran


def test_rerun_with_the_same_seed_gives_the_same_report(project):
    kedro(project, "run")
    reporting = project / "data" / "08_reporting" / "cv_summary.json"
    first, second = (
        json.loads((v / "cv_summary.json").read_text())
        for v in versions(reporting)[-2:]
    )
    assert first["variants"] == second["variants"]
    tests = project / "data" / "08_reporting" / "significance_tests.csv"
    a, b = (pd.read_csv(v / "significance_tests.csv") for v in versions(tests)[-2:])
    pd.testing.assert_frame_equal(a, b)  # the bootstrap is seeded too


@pytest.mark.parametrize("stacked", [False, True])
def test_a_killed_run_resumes_without_retraining_finished_folds(tmp_path, stacked):
    """Kill ``kedro run`` once the first models exist, then resume it.

    One node per (variant, fold) resumes fold by fold; a stack resumes as a whole:
    killed after it saved its models, nothing is trained again.
    """
    import signal
    import time

    project = copy_project(tmp_path / "resume", TINY_PARAMETERS + TWO_VARIANTS)
    mode = f"--params=training.stacked={str(stacked).lower()}"
    env = os.environ | {"KEDRO_DISABLE_TELEMETRY": "true", "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("KEDRO_ENV", None)
    run = subprocess.Popen(
        [sys.executable, "-m", "kedro", "run", mode],
        cwd=project,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    models = project / "data" / "06_models"
    outputs = project / "data" / "07_model_output"

    def finished() -> set[str]:
        """Folds whose training saved both outputs (model, then history)."""
        saved = {
            str(p.parents[2].relative_to(models))
            for p in models.glob("*/fold_*/model.keras/*/model.keras")
        }
        return saved & {
            str(p.parents[2].relative_to(outputs))
            for p in outputs.glob("*/fold_*/history.json/*/history.json")
        }

    deadline = time.monotonic() + 600
    while len(finished()) < (4 if stacked else 1):
        assert run.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    run.send_signal(signal.SIGKILL)
    run.wait()
    # a fold killed between its two saves has a model without history: Kedro
    # reruns that node, so it is counted with the folds still to train
    done = finished()
    assert 0 < len(done) <= 4 and (stacked or len(done) < 4), "not interrupted"
    assert not (project / "data/08_reporting/cv_summary.json").exists()

    resumed = kedro(project, "run", "--only-missing-outputs", mode)
    # the progress counts only the nodes that run again
    shown = [msg for _, msg in records(resumed.stdout) if PROGRESS.match(msg)]
    total = int(PROGRESS.match(shown[0])[2])
    assert len(shown) == total
    assert f"Finished {total} of {total} nodes" in resumed.stdout
    trained = [msg for msg in shown if re.search(r" \| train_models? \| ", msg)]
    assert len(trained) == (0 if stacked else 4 - len(done))
    for fold in done:
        assert len(versions(models / fold / "model.keras")) == 1, (
            f"{fold} trained twice"
        )
    assert len(list(models.glob("*/fold_*/model.keras"))) == 4
    assert len(versions(project / "data/08_reporting/cv_summary.json")) == 1


def test_kedro_viz_groups_namespaces_and_previews_reports(project):
    kedro(project, "viz", "build", "--include-previews")
    api = project / "build" / "api"
    main = json.loads((api / "main").read_text())
    assert {"emotion_aware", "emotion_aware.fold_1"} <= set(main["modular_pipelines"])
    by_name = {node["name"]: node for node in main["nodes"]}
    previews = {
        "report": "HTMLPreview",
        "significance_tests": "TablePreview",
        "pair_costs_plot": "ImagePreview",
        "cv_summary": "JSONPreview",
    }
    for name, kind in previews.items():
        node = json.loads((api / "nodes" / by_name[name]["id"]).read_text())
        assert node["preview_type"] == kind, name
        assert node["preview"], name
    assert by_name["report"]["layer"] == "reporting"


def test_tracking_logs_runs_to_mlflow_only_when_enabled(project):
    """Last in this module: it adds model and report versions."""
    from mlflow import MlflowClient

    assert not (project / "mlflow.db").exists()  # the extra is installed, yet off
    enabled = "--params=tracking.enabled=true"
    kedro(
        project,
        "run",
        "--pipelines=training",
        "--namespaces=emotion_aware.fold_0",
        f"{enabled},training.stacked=false",
    )
    kedro(project, "run", "--pipelines=evaluation", enabled)
    client = MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("emotion_aware_loss")
    training, evaluation = sorted(
        client.search_runs([experiment.experiment_id]),
        key=lambda run: run.info.start_time,
    )
    assert training.info.status == evaluation.info.status == "FINISHED"
    assert training.data.params["training.epochs"] == "2"
    assert training.data.params["loss_variants.emotion_aware.alpha"] == "1.0"
    models = client.list_artifacts(training.info.run_id, "models/emotion_aware/fold_0")
    assert [a.path.rsplit("/", 1)[-1] for a in models] == ["model.keras"]
    history = client.get_metric_history(
        evaluation.info.run_id, "emotion_aware.argmax.accuracy"
    )
    assert sorted(m.step for m in history) == [0, 1]  # one value per fold
    assert "cv.emotion_aware.argmax.uar_mean" in evaluation.data.metrics
    report = {a.path for a in client.list_artifacts(evaluation.info.run_id, "report")}
    assert {"report/report.md", "report/significance_tests.csv"} <= report
    figures = client.list_artifacts(evaluation.info.run_id, "report/figures")
    assert len(figures) == 7
