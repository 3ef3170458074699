import pytest

from emotion_aware_loss.run.tracking import (
    end_child_runs,
    log_output,
    study_run_of,
    to_log,
)

METRICS = {
    "fold": 2,
    "decisions": {"argmax": {"uar": 0.5, "accuracy": 0.6, "confusion": [[1]]}},
}


def test_a_study_run_s_outputs_are_addressed_to_its_child_run():
    assert study_run_of("study.demo.seed_42.cross_entropy.fold_0.metrics") == (
        "study.demo.seed_42",
        "cross_entropy.fold_0.metrics",
    )
    assert study_run_of("study.demo.utterances") == (None, "study.demo.utterances")
    assert study_run_of("study_summary") == (None, "study_summary")
    logged = to_log("study.demo.seed_1.emotion_aware.fold_2.metrics", METRICS, False)
    assert logged.run == "study.demo.seed_1"
    assert logged.metrics == {
        "emotion_aware.argmax.uar": 0.5,
        "emotion_aware.argmax.accuracy": 0.6,
    }
    assert logged.step == 2
    assert to_log("study.demo.seed_1.report", "# r", False).files == {
        "report/report.md": b"# r"
    }
    assert to_log("study_report", "# s", False).files == {"report/study.md": b"# s"}
    assert to_log("cross_entropy.fold_0.metrics", METRICS, False).run is None


def test_a_study_logs_one_parent_run_with_a_child_per_run(tmp_path):
    mlflow = pytest.importorskip("mlflow")
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    try:
        with mlflow.start_run(run_name="study") as parent:
            for seed in (42, 1):
                name = f"study.demo.seed_{seed}.cross_entropy.fold_2.metrics"
                log_output(name, METRICS, False)
            log_output("study.demo.seed_1.report", "# run", False)
            log_output("study_report", "# study", False)
            end_child_runs()
        client = mlflow.MlflowClient()
        children = client.search_runs(
            [parent.info.experiment_id],
            filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'",
        )
        by_name = {run.info.run_name: run for run in children}
        assert set(by_name) == {"study.demo.seed_42", "study.demo.seed_1"}
        child = by_name["study.demo.seed_1"]
        assert child.info.status == "FINISHED"
        assert child.data.params == {"study.corpus": "demo", "study.seed": "1"}
        assert child.data.metrics["cross_entropy.argmax.uar"] == 0.5
        artifacts = client.list_artifacts(child.info.run_id, "report")
        assert [a.path for a in artifacts] == ["report/report.md"]
        parent_artifacts = client.list_artifacts(parent.info.run_id, "report")
        assert [a.path for a in parent_artifacts] == ["report/study.md"]
        assert not client.get_run(parent.info.run_id).data.metrics
    finally:
        mlflow.set_tracking_uri("")
