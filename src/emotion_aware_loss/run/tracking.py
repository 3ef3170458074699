"""Optional MLflow tracking through kedro-mlflow, off by default.

With the ``tracking`` extra installed (``pip install -e ".[tracking]"``) and
``tracking.enabled: true`` in the parameters, :class:`TrackingHooks` starts
kedro-mlflow's own hook for the run. kedro-mlflow opens the MLflow run (settings in
``conf/base/mlflow.yml``: a local ``sqlite:///mlflow.db`` store, because current
MLflow refuses the ``./mlruns`` file store) and logs every parameter a node reads;
this hook adds what our pipelines produce, as they are saved:

* per-fold metrics (``<variant>.<rule>.<metric>``, one step per fold) and the
  cross-validated means and standard deviations;
* the report, its tables (CSV) and its figures;
* the trained models (``.keras`` files) when ``tracking.log_models`` is true.

A study (``kedro run --pipelines=study``) is one MLflow run with a nested child run
per corpus × seed (named after its namespace, ``study.<corpus>.seed_<seed>``): each
child gets its run's metrics, report and models, the parent the study's tables,
diagram and report.

kedro-mlflow's automatic registration is disabled in ``settings.py``, so
installing the extra changes nothing until tracking is enabled.

Under :class:`~emotion_aware_loss.run.runners.DaskRunner` the nodes run in worker
processes that hold no MLflow run (and may be on machines that cannot reach the
tracking store). Each worker keeps what its node's outputs log
(:class:`OutputRecorder`), and the process that started ``kedro run`` logs it,
with the node's parameters, into the run (:meth:`TrackingHooks.log_node_run_elsewhere`):
the same metrics, parameters and artifacts as a sequential run.
"""

from __future__ import annotations

import io
import json
import logging
import math
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from kedro.framework.context import KedroContext
from kedro.framework.hooks import hook_impl
from matplotlib.figure import Figure
from pydantic import BaseModel

from emotion_aware_loss.config import TrackingConfig

logger = logging.getLogger(__name__)

TABLES = (
    "cv_fold_metrics",
    "per_class_recall",
    "significance_tests",
    "oof_predictions",
    "study_fold_metrics",
    "study_summary",
    "study_tests",
)
# MLflow child run id by (parent run id, study run namespace)
_children: dict[tuple[str, str], str] = {}


def study_run_of(dataset_name: str) -> tuple[str | None, str]:
    """``(study run namespace, name inside it)``; ``(None, name)`` outside runs."""
    parts = dataset_name.split(".")
    if len(parts) > 3 and parts[0] == "study" and parts[2].startswith("seed_"):
        return ".".join(parts[:3]), ".".join(parts[3:])
    return None, dataset_name


def _mlflow_hook() -> Any:
    try:
        from kedro_mlflow.framework.hooks import MlflowHook  # noqa: PLC0415
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError(
            "tracking.enabled is true but kedro-mlflow is not installed; install "
            'the tracking extra: pip install -e ".[tracking]"'
        ) from error
    return MlflowHook()


class TrackingHooks:
    """Forward a run to kedro-mlflow's hook and log metrics, report and models."""

    def __init__(self) -> None:
        self._mlflow_hook: Any = None
        self._config = TrackingConfig()

    @property
    def active(self) -> bool:
        return self._mlflow_hook is not None

    @hook_impl
    def after_context_created(self, context: KedroContext) -> None:
        parameters = context.config_loader["parameters"]
        self._config = TrackingConfig.model_validate(parameters.get("tracking") or {})
        self._mlflow_hook = _mlflow_hook() if self._config.enabled else None
        if self.active:
            self._mlflow_hook.after_context_created(context=context)

    @hook_impl
    def after_catalog_created(
        self,
        catalog: Any,
        conf_catalog: dict[str, Any],
        conf_creds: dict[str, Any],
        parameters: dict[str, Any],
        save_version: str,
        load_versions: dict[str, str],
    ) -> None:
        if self.active:
            self._mlflow_hook.after_catalog_created(
                catalog=catalog,
                conf_catalog=conf_catalog,
                conf_creds=conf_creds,
                parameters=parameters,
                save_version=save_version,
                load_versions=load_versions,
            )

    @hook_impl
    def before_pipeline_run(
        self, run_params: dict[str, Any], pipeline: Any, catalog: Any
    ) -> None:
        if self.active:
            self._mlflow_hook.before_pipeline_run(
                run_params=run_params, pipeline=pipeline, catalog=catalog
            )

    @hook_impl
    def before_node_run(
        self, node: Any, catalog: Any, inputs: dict[str, Any], is_async: bool
    ) -> None:
        if self.active:
            # kedro-mlflow logs the parameters a node reads; typed (Pydantic) blocks
            # become dictionaries so they are flattened like the others.
            params = {
                key: value.model_dump() if isinstance(value, BaseModel) else value
                for key, value in inputs.items()
                if key.startswith("params:")
            }
            self._mlflow_hook.before_node_run(
                node=node, catalog=catalog, inputs=params, is_async=is_async
            )

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data: Any) -> None:
        if self.active:
            log_output(dataset_name, data, self._config.log_models)

    @property
    def log_models(self) -> bool:
        return self._config.log_models

    def log_node_run_elsewhere(
        self, node: Any, parameters: dict[str, Any], logged: list[Logged]
    ) -> None:
        """Log a node that ran in another process (a Dask worker) as if here.

        Args:
            node: The node.
            parameters: Its ``params:`` inputs by name.
            logged: What its saved outputs log (from an :class:`OutputRecorder`).
        """
        if not self.active:
            return
        self.before_node_run(node=node, catalog=None, inputs=parameters, is_async=False)
        for item in logged:
            log(item)

    @hook_impl
    def after_pipeline_run(
        self, run_params: dict[str, Any], pipeline: Any, catalog: Any
    ) -> None:
        if self.active:
            end_child_runs()
            self._mlflow_hook.after_pipeline_run(
                run_params=run_params, pipeline=pipeline, catalog=catalog
            )

    @hook_impl
    def on_pipeline_error(
        self,
        error: Exception,
        run_params: dict[str, Any],
        pipeline: Any,
        catalog: Any,
    ) -> None:
        if self.active:
            end_child_runs("FAILED")
            self._mlflow_hook.on_pipeline_error(
                error=error, run_params=run_params, pipeline=pipeline, catalog=catalog
            )


def _fold_metrics(metrics: dict) -> tuple[dict[str, float], int]:
    values = {
        f"{rule}.{name}": float(value)
        for rule, scores in metrics["decisions"].items()
        for name, value in scores.items()
        if isinstance(value, int | float) and not math.isnan(value)
    }
    return values, int(metrics["fold"])


@dataclass(frozen=True)
class Logged:
    """What one saved output adds to the MLflow run.

    Plain data, no MLflow call: a Dask worker, which has no MLflow run, makes it
    and hands it to the process that holds the run (see :class:`OutputRecorder`).

    Attributes:
        metrics: Metric values by key.
        step: The metrics' step (the fold), or None.
        files: Artifact contents by artifact path (``report/report.md``, ...).
        run: The study run (namespace) whose child MLflow run gets it; None: the
            run itself.
    """

    metrics: dict[str, float] = field(default_factory=dict)
    step: int | None = None
    files: dict[str, bytes] = field(default_factory=dict)
    run: str | None = None


def to_log(dataset_name: str, data: Any, log_models: bool) -> Logged | None:
    """What the pipelines log for one saved output, or None if nothing.

    Args:
        dataset_name: Catalog name of the output.
        data: The saved object.
        log_models: Whether Keras models are logged (as ``.keras`` artifacts).
    """
    run, dataset_name = study_run_of(dataset_name)
    *namespace, leaf = dataset_name.split(".")
    if leaf == "metrics" and namespace:
        values, fold = _fold_metrics(data)
        variant = namespace[0]
        metrics = {f"{variant}.{k}": v for k, v in values.items()}
        return Logged(metrics, step=fold, run=run)
    if dataset_name == "cv_summary":
        return Logged(
            {
                f"cv.{variant}.{rule}.{name}": value
                for variant, rules in data["variants"].items()
                for rule, values in rules.items()
                for name, value in values.items()
                if isinstance(value, int | float)
            },
            run=run,
        )
    files = _artifacts(dataset_name, data, log_models)
    return Logged(files=files, run=run) if files else None


def _artifacts(dataset_name: str, data: Any, log_models: bool) -> dict[str, bytes]:
    """Artifact files of one saved output, by artifact path (none: empty)."""
    *namespace, leaf = dataset_name.split(".")
    files: dict[str, bytes] = {}
    if dataset_name == "report":
        files["report/report.md"] = data.encode("utf-8")
    elif dataset_name == "study_report":
        files["report/study.md"] = data.encode("utf-8")
    elif dataset_name == "report_setup":
        files["report/report_setup.json"] = json.dumps(data, indent=2).encode()
    elif dataset_name in TABLES and isinstance(data, pd.DataFrame):
        files[f"report/{dataset_name}.csv"] = data.to_csv(index=False).encode()
    elif isinstance(data, Figure):
        buffer = io.BytesIO()
        data.savefig(buffer, format="png")
        name = dataset_name.removesuffix("_plot")
        files[f"report/figures/{name}.png"] = buffer.getvalue()
    elif log_models and (
        (leaf == "model" and hasattr(data, "save")) or dataset_name == "final_model"
    ):
        with tempfile.TemporaryDirectory() as tmp:
            if dataset_name == "final_model":
                folder = "models/final_model"
                data.save(Path(tmp))  # model.keras + recognizer.json
            else:
                folder = "/".join(["models", *namespace])
                data.save(Path(tmp) / "model.keras")
            for path in sorted(Path(tmp).rglob("*")):
                if path.is_file():
                    relative = path.relative_to(tmp).as_posix()
                    files[f"{folder}/{relative}"] = path.read_bytes()
    return files


def _child_run(namespace: str) -> str:
    """The id of the active run's child for study run ``namespace`` (made once)."""
    import mlflow  # noqa: PLC0415  (the tracking extra)

    parent = mlflow.active_run()
    key = (parent.info.run_id, namespace)
    if key not in _children:
        corpus, seed = namespace.split(".")[1:3]
        child = mlflow.MlflowClient().create_run(
            parent.info.experiment_id,
            run_name=namespace,
            tags={"mlflow.parentRunId": parent.info.run_id},
        )
        _children[key] = child.info.run_id
        mlflow.MlflowClient().log_batch(
            child.info.run_id,
            params=[
                mlflow.entities.Param("study.corpus", corpus),
                mlflow.entities.Param("study.seed", seed.removeprefix("seed_")),
            ],
        )
    return _children[key]


def end_child_runs(status: str = "FINISHED") -> None:
    """Mark the active run's study children as ended."""
    import mlflow  # noqa: PLC0415  (the tracking extra)

    parent = mlflow.active_run()
    if parent is None:
        return
    for (parent_id, namespace), run_id in list(_children.items()):
        if parent_id == parent.info.run_id:
            mlflow.MlflowClient().set_terminated(run_id, status)
            del _children[(parent_id, namespace)]


def log(logged: Logged) -> None:
    """Log ``logged`` to the active MLflow run (or its study run's child)."""
    import mlflow  # noqa: PLC0415  (the tracking extra)

    client = mlflow.MlflowClient()
    run_id = None if logged.run is None else _child_run(logged.run)
    if logged.metrics:
        if run_id is None:
            mlflow.log_metrics(logged.metrics, step=logged.step)
        else:
            now = int(time.time() * 1000)
            client.log_batch(
                run_id,
                metrics=[
                    mlflow.entities.Metric(key, value, now, logged.step or 0)
                    for key, value in logged.metrics.items()
                ],
            )
    if logged.files:
        with tempfile.TemporaryDirectory() as tmp:
            for name, content in logged.files.items():
                path = Path(tmp, name)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(content)
            if run_id is None:
                mlflow.log_artifacts(tmp)
            else:
                client.log_artifacts(run_id, tmp)


def log_output(dataset_name: str, data: Any, log_models: bool) -> None:
    """Log one saved output of the pipelines to the active MLflow run.

    Args:
        dataset_name: Catalog name of the output.
        data: The saved object.
        log_models: Whether Keras models are logged (as ``.keras`` artifacts).
    """
    import mlflow  # noqa: PLC0415  (the tracking extra)

    if mlflow.active_run() is None:
        return
    logged = to_log(dataset_name, data, log_models)
    if logged is not None:
        log(logged)
        logger.debug("Logged %s to MLflow", dataset_name)


class OutputRecorder:
    """Hook for a process without the MLflow run (a Dask worker).

    Keeps what :class:`TrackingHooks` would log for each output saved here, so
    the process that holds the run can log it with
    :meth:`TrackingHooks.log_node_run_elsewhere`.

    Args:
        log_models: Whether Keras models are kept (``tracking.log_models``).
    """

    def __init__(self, log_models: bool) -> None:
        self.log_models = log_models
        self.logged: list[Logged] = []

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data: Any) -> None:
        logged = to_log(dataset_name, data, self.log_models)
        if logged is not None:
            self.logged.append(logged)
