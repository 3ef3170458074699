"""The Dask runner gives what the sequential runner gives."""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from distributed import LocalCluster
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Pipeline, node
from kedro.runner import SequentialRunner

from emotion_aware_loss.run.runners import DaskRunner

from .tiny_project import (
    TINY_GLOBALS,
    TINY_PARAMETERS,
    TWO_VARIANTS,
    copy_project,
    kedro,
)


def _scale(values: np.ndarray, factor: float) -> np.ndarray:
    return values * factor


def _add(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    return left + right


def _fail(values: np.ndarray) -> np.ndarray:
    raise ValueError(f"cannot use {len(values)} values")


def _diamond() -> Pipeline:
    # Two branches from one node, joined again; every intermediate is in memory.
    return Pipeline(
        [
            node(_scale, ["x", "params:two"], "doubled", name="double"),
            node(_scale, ["doubled", "params:three"], "left", name="left"),
            node(_scale, ["doubled", "params:two"], "right", name="right"),
            node(_add, ["left", "right"], "total", name="join"),
        ]
    )


def _catalog() -> DataCatalog:
    return DataCatalog(
        datasets={
            "x": MemoryDataset(np.arange(5.0)),
            "params:two": MemoryDataset(2.0),
            "params:three": MemoryDataset(3.0),
        }
    )


@pytest.fixture(scope="module")
def cluster():
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    ) as local:
        yield local


def test_in_memory_datasets_travel_between_worker_processes(cluster):
    runner = DaskRunner(address=cluster.scheduler_address)
    outputs = runner.run(_diamond(), _catalog())
    expected = SequentialRunner().run(_diamond(), _catalog())
    assert set(outputs) == {"total"}
    np.testing.assert_array_equal(outputs["total"].load(), expected["total"].load())
    np.testing.assert_array_equal(outputs["total"].load(), np.arange(5.0) * 10)


def test_a_failing_node_stops_the_run_with_its_error(cluster):
    pipeline = Pipeline(
        [
            node(_fail, "x", "broken", name="fail"),
            node(_scale, ["broken", "params:two"], "never", name="after"),
        ]
    )
    catalog = _catalog()
    with pytest.raises(ValueError, match="cannot use 5 values"):
        DaskRunner(address=cluster.scheduler_address).run(pipeline, catalog)


def test_without_an_address_a_local_cluster_is_started(monkeypatch):
    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS", raising=False)
    outputs = DaskRunner(n_workers=1).run(_diamond(), _catalog())
    np.testing.assert_array_equal(outputs["total"].load(), np.arange(5.0) * 10)


def _tiny_project(path: Path) -> Path:
    # Op determinism: otherwise models trained in other processes may differ.
    deterministic = TINY_PARAMETERS.replace(
        "  patience: 1\n", "  patience: 1\n  deterministic: true\n"
    )
    return copy_project(path, deterministic + TWO_VARIANTS)


def _outputs(project: Path) -> dict[str, bytes]:
    """Every file the run wrote, by path with version folders left out."""
    version = re.compile(r"/\d{4}-\d{2}-\d{2}T[\d.]+Z/")
    return {
        version.sub("/", str(path.relative_to(project / "data"))): path.read_bytes()
        for path in sorted((project / "data").rglob("*"))
        if path.is_file() and path.suffix in {".csv", ".json", ".npy", ".parquet"}
    }


# Written before any training: these must be byte-identical on every runner.
DATA_PREPARATION = ("02_intermediate/", "03_primary/", "04_feature/", "05_model_input/")


@pytest.fixture(scope="module")
def sequential_and_dask_runs(cluster, tmp_path_factory) -> tuple[Path, Path]:
    """The tiny project run sequentially and on the cluster, with MLflow tracking."""
    tracking = "--params=tracking.enabled=true"
    with pytest.MonkeyPatch.context() as patch:
        # Dask starts its worker processes with one OpenMP/MKL thread; the reference
        # run gets the same, so both usually sum floating-point numbers in the same
        # order.
        for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            patch.setenv(name, "1")
        sequential = _tiny_project(tmp_path_factory.mktemp("sequential"))
        kedro(sequential, "run", tracking)
        distributed = _tiny_project(tmp_path_factory.mktemp("dask"))
        # The scheduler address comes from Dask's configuration (environment).
        patch.setenv("DASK_SCHEDULER_ADDRESS", cluster.scheduler_address)
        kedro(
            distributed,
            "run",
            "--runner=emotion_aware_loss.run.runners.DaskRunner",
            tracking,
        )
    return sequential, distributed


@pytest.mark.slow
def test_kedro_run_on_a_cluster_matches_the_sequential_run(sequential_and_dask_runs):
    sequential, distributed = sequential_and_dask_runs
    expected, got = _outputs(sequential), _outputs(distributed)
    assert "cross_entropy/fold_1/metrics.json" in "\n".join(expected)
    # every node ran and saved its outputs
    assert set(got) == set(expected)
    # the data preparation is identical to the byte
    prepared = [name for name in expected if name.startswith(DATA_PREPARATION)]
    assert len(prepared) > 10
    differing = sorted(name for name in prepared if got[name] != expected[name])
    assert not differing, differing
    # trained models may round differently in other processes (thread counts), so
    # their outputs are compared by content: the same test utterances and labels
    for name in expected:
        if name.endswith("predictions.csv") and "fold_" in name:
            columns = ["utterance_id", "fold", "label"]
            a = pd.read_csv(io.BytesIO(expected[name]))[columns]
            b = pd.read_csv(io.BytesIO(got[name]))[columns]
            pd.testing.assert_frame_equal(a, b)


def _artifact_paths(client, run_id: str, folder: str | None = None) -> set[str]:
    paths = set()
    for item in client.list_artifacts(run_id, folder):
        if item.is_dir:
            paths |= _artifact_paths(client, run_id, item.path)
        else:
            paths.add(item.path)
    return paths


def _logged(project: Path) -> dict:
    """Metric keys with their steps, parameters and artifact paths of the run."""
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("emotion_aware_loss")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FINISHED"
    run_id = run.info.run_id
    return {
        "metrics": {
            key: sorted(m.step for m in client.get_metric_history(run_id, key))
            for key in run.data.metrics
        },
        "params": run.data.params,
        "artifacts": _artifact_paths(client, run_id),
    }


@pytest.mark.slow
def test_tracking_on_a_cluster_logs_what_a_sequential_run_logs(
    sequential_and_dask_runs,
):
    pytest.importorskip("mlflow")
    sequential, distributed = (_logged(p) for p in sequential_and_dask_runs)
    # per-fold metrics (one step per fold) and the cross-validated summaries
    assert sequential["metrics"]["emotion_aware.argmax.accuracy"] == [0, 1]
    assert "cv.cross_entropy.argmax.uar_mean" in sequential["metrics"]
    assert distributed["metrics"] == sequential["metrics"]
    # every parameter a node read, with the same values
    assert sequential["params"]["training.epochs"] == "2"
    assert distributed["params"] == sequential["params"]
    # report, tables, figures and models
    assert {
        "report/report.md",
        "report/figures/confusion_matrices.png",
        "models/emotion_aware/fold_1/model.keras",
        "models/final_model/recognizer.json",
    } <= sequential["artifacts"]
    assert distributed["artifacts"] == sequential["artifacts"]


@pytest.mark.slow
def test_a_study_runs_on_a_cluster_with_a_child_mlflow_run_per_block(
    cluster, tmp_path, monkeypatch
):
    from mlflow import MlflowClient

    from .test_run_study import STUDY

    project = copy_project(
        tmp_path,
        TINY_PARAMETERS + STUDY,
        globals_=TINY_GLOBALS + "study_demo: {n_utterances: 40}\n",
    )
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", cluster.scheduler_address)
    kedro(
        project,
        "run",
        "--pipelines=study",
        "--runner=emotion_aware_loss.run.runners.DaskRunner",
        "--params=tracking.enabled=true",
    )
    reporting = project / "data" / "08_reporting"
    for name in ("study_summary.csv", "study_tests.csv", "study.md"):
        assert any((reporting / name).rglob(name)), name
    client = MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("emotion_aware_loss")
    runs = client.search_runs([experiment.experiment_id])
    (parent,) = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = {r.info.run_name: r for r in runs if r is not parent}
    assert set(children) == {"study.clean.seed_42", "study.noisy.seed_42"}
    for child in children.values():
        assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert child.info.status == "FINISHED"
        assert "cv.cross_entropy.argmax.uar_mean" in child.data.metrics
        assert _artifact_paths(client, child.info.run_id, "report") >= {
            "report/report.md"
        }
    assert "report/study.md" in _artifact_paths(client, parent.info.run_id, "report")
