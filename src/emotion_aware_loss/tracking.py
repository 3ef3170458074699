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

kedro-mlflow's automatic registration is disabled in ``settings.py``, so
installing the extra changes nothing until tracking is enabled.
"""

from __future__ import annotations

import logging
import math
import tempfile
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
)


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

    @hook_impl
    def after_pipeline_run(
        self, run_params: dict[str, Any], pipeline: Any, catalog: Any
    ) -> None:
        if self.active:
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
    *namespace, leaf = dataset_name.split(".")
    if leaf == "metrics" and namespace:
        values, fold = _fold_metrics(data)
        variant = namespace[0]
        mlflow.log_metrics({f"{variant}.{k}": v for k, v in values.items()}, step=fold)
    elif dataset_name == "cv_summary":
        mlflow.log_metrics(
            {
                f"cv.{variant}.{rule}.{name}": value
                for variant, rules in data["variants"].items()
                for rule, values in rules.items()
                for name, value in values.items()
                if isinstance(value, int | float)
            }
        )
    elif dataset_name == "report":
        mlflow.log_text(data, "report/report.md")
    elif dataset_name == "report_setup":
        mlflow.log_dict(data, "report/report_setup.json")
    elif dataset_name in TABLES and isinstance(data, pd.DataFrame):
        mlflow.log_text(data.to_csv(index=False), f"report/{dataset_name}.csv")
    elif isinstance(data, Figure):
        name = dataset_name.removesuffix("_plot")
        mlflow.log_figure(data, f"report/figures/{name}.png")
    elif log_models and leaf == "model" and hasattr(data, "save"):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "model.keras"
            data.save(path)
            mlflow.log_artifact(
                str(path), artifact_path=f"models/{'/'.join(namespace)}"
            )
    elif log_models and dataset_name == "final_model":
        with tempfile.TemporaryDirectory() as tmp:
            data.save(Path(tmp))  # model.keras + recognizer.json
            mlflow.log_artifacts(tmp, artifact_path="models/final_model")
    else:
        return
    logger.debug("Logged %s to MLflow", dataset_name)
