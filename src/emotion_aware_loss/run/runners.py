"""A Kedro runner that runs each node as a task on a Dask cluster.

``kedro run --runner=emotion_aware_loss.run.runners.DaskRunner`` submits every node of
the pipeline as a ``dask.distributed`` future that waits for the futures of the
nodes it depends on, so independent nodes (loss variants, folds) run at the same
time on the cluster's workers. It follows the ``DaskRunner`` of Kedro's deployment
guide, adapted to Kedro 1.x's ``AbstractRunner`` and ``Task``.

Where the cluster is:

* ``--runner-params=address=tcp://scheduler:8786``, or
* Dask's own configuration: the ``DASK_SCHEDULER_ADDRESS`` environment variable
  (or ``scheduler-address`` in a Dask YAML file), or
* neither: a ``LocalCluster`` on this machine is started for the run and closed
  after it (``n_workers`` worker processes, default one per core, each running
  one node at a time).

Datasets: each task gets a catalog holding only its node's datasets. Persisted
datasets are read and written by the workers themselves, so every worker must
see the catalog's storage (one machine's disk for a local cluster; a shared file
system or object storage for several machines, see ``docs/distributed.md``).
In-memory datasets (``MemoryDataset``, Kedro's default for names the catalog does
not declare) are passed between tasks as Dask results instead, so they must be
picklable.

MLflow tracking (``tracking.enabled: true``): workers hold no MLflow run, so each
returns what its node's outputs log, and this process logs it, with the node's
parameters, into the run it holds (see :mod:`emotion_aware_loss.run.tracking`). Only
this process needs to reach the tracking store.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import dask
from distributed import Client, Future, LocalCluster, as_completed
from kedro.framework.hooks.manager import (
    _create_hook_manager,
    _register_hooks,
    _register_hooks_entry_points,
)
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import AbstractRunner
from kedro.runner.task import Task

from emotion_aware_loss.run.tracking import Logged, OutputRecorder, TrackingHooks

if TYPE_CHECKING:
    from kedro.io import CatalogProtocol
    from kedro.pipeline import Pipeline
    from kedro.pipeline.node import Node
    from pluggy import PluginManager

logger = logging.getLogger(__name__)


def _node_catalog(
    node: Node,
    catalog: CatalogProtocol,
    in_memory: set[str],
) -> DataCatalog:
    """A catalog with only ``node``'s datasets, cheap to send to a worker.

    Node-produced in-memory datasets are left out; the worker fills them.
    """
    return DataCatalog(
        datasets={
            name: catalog.get(name)
            for name in (*node.inputs, *node.outputs)
            if name not in in_memory
        }
    )


def _worker_hook_manager(package_name: str | None) -> PluginManager:
    """The project's hooks, registered in this worker process.

    A worker started by Dask has not imported the project's settings; with the
    package configured, ``settings.HOOKS`` are the project's own.
    """
    from kedro.framework import project  # noqa: PLC0415

    if package_name and project.PACKAGE_NAME != package_name:
        project.configure_project(package_name)
    manager = _create_hook_manager()
    _register_hooks(manager, project.settings.HOOKS)
    _register_hooks_entry_points(manager, project.settings.DISABLE_HOOKS_FOR_PLUGINS)
    return manager


@dataclass
class NodeResult:
    """What a worker hands back for one node.

    Attributes:
        outputs: The node's in-memory outputs by name.
        logged: What its saved outputs log to MLflow, when tracking is on.
    """

    outputs: dict[str, Any]
    logged: list[Logged] = field(default_factory=list)


def run_node_task(  # noqa: PLR0913
    node: Node,
    catalog: DataCatalog,
    in_memory: set[str],
    package_name: str | None,
    run_id: str | None,
    is_async: bool,
    log_models: bool | None,
    *upstream: NodeResult,
) -> NodeResult:
    """Run one node on a Dask worker.

    Args:
        node: The node.
        catalog: The node's persisted datasets (from :func:`_node_catalog`).
        in_memory: Names of the in-memory datasets nodes produce.
        package_name: The Kedro project's package, to load its hooks.
        run_id: The Kedro run id (passed to hooks).
        is_async: Load and save the node's datasets with threads.
        log_models: None without MLflow tracking; with it, whether models are
            logged: what the node's saved outputs log is then returned.
        *upstream: Results of the tasks this node depends on.

    Returns:
        The node's in-memory outputs (none when it persists them all) and, with
        tracking, what its outputs log.
    """
    available = {
        name: data for result in upstream for name, data in result.outputs.items()
    }
    for name in node.inputs:
        if name in in_memory:
            catalog[name] = MemoryDataset(available[name])
    for name in node.outputs:
        if name in in_memory:
            catalog[name] = MemoryDataset()
    hook_manager = _worker_hook_manager(package_name)
    recorder = None
    if log_models is not None:
        recorder = OutputRecorder(log_models)
        hook_manager.register(recorder)
    Task(
        node=node,
        catalog=catalog,
        is_async=is_async,
        hook_manager=hook_manager,
        run_id=run_id,
    ).execute()
    return NodeResult(
        {name: catalog.load(name) for name in node.outputs if name in in_memory},
        recorder.logged if recorder is not None else [],
    )


def _active_tracking(hook_manager: PluginManager | None) -> TrackingHooks | None:
    """The project's tracking hook, if it has an MLflow run open."""
    plugins = hook_manager.get_plugins() if hook_manager is not None else None
    return next(
        (
            plugin
            for plugin in plugins or ()  # Kedro's null manager has no plugins
            if isinstance(plugin, TrackingHooks) and plugin.active
        ),
        None,
    )


class DaskRunner(AbstractRunner):
    """Run a pipeline's nodes as ``dask.distributed`` futures.

    Args:
        address: The scheduler's address (``tcp://host:8786``). Defaults to Dask's
            ``scheduler-address`` setting (``DASK_SCHEDULER_ADDRESS``); without
            one, a ``LocalCluster`` is started for the run.
        n_workers: Worker processes of that local cluster; defaults to the
            number of cores.
        threads_per_worker: Nodes a local worker runs at once. One suits
            TensorFlow training, which uses several cores itself.
        is_async: Load and save each node's datasets with threads.
    """

    def __init__(
        self,
        address: str | None = None,
        n_workers: int | None = None,
        threads_per_worker: int = 1,
        is_async: bool = False,
    ) -> None:
        super().__init__(is_async=is_async)
        self._address = address or dask.config.get("scheduler-address", None)
        self._n_workers = n_workers or os.cpu_count() or 1
        self._threads_per_worker = threads_per_worker

    def _get_executor(self, max_workers: int) -> None:
        return None  # the Dask client is the executor

    def _client(self) -> tuple[Client, LocalCluster | None]:
        if self._address:
            logger.info("Connecting to the Dask scheduler at %s", self._address)
            return Client(self._address), None
        cluster = LocalCluster(
            n_workers=self._n_workers,
            threads_per_worker=self._threads_per_worker,
            processes=True,
            dashboard_address=":0",
        )
        logger.info(
            "Started a local Dask cluster: %d worker(s) x %d thread(s)",
            self._n_workers,
            self._threads_per_worker,
        )
        return Client(cluster), cluster

    def _run(
        self,
        pipeline: Pipeline,
        catalog: CatalogProtocol,
        hook_manager: PluginManager | None = None,
        run_id: str | None = None,
    ) -> None:
        """Submit every node, then wait for them in completion order.

        Raises:
            Exception: The first node failure (the remaining tasks are
                cancelled, and the log suggests how to resume).
        """
        from kedro.framework.project import PACKAGE_NAME  # noqa: PLC0415

        in_memory = {
            name
            for name in pipeline.all_outputs()
            if isinstance(catalog.get(name), MemoryDataset)
        }
        # Workers hold no MLflow run: they return what their outputs log, and
        # this process logs it with each node's parameters.
        tracking = _active_tracking(hook_manager)
        log_models = tracking.log_models if tracking is not None else None
        dependencies = pipeline.node_dependencies
        dependents = Counter(dep for deps in dependencies.values() for dep in deps)
        client, cluster = self._client()
        try:
            futures: dict[Node, Future] = {}
            for node in pipeline.nodes:  # topological order: dependencies first
                futures[node] = client.submit(
                    run_node_task,
                    node,
                    _node_catalog(node, catalog, in_memory),
                    in_memory,
                    PACKAGE_NAME,
                    run_id,
                    self._is_async,
                    log_models,
                    *(futures[dep] for dep in dependencies[node]),
                    key=f"{node.name}-{uuid.uuid4().hex}",
                    pure=False,
                )
            by_key = {future.key: node for node, future in futures.items()}
            done: set[Node] = set()
            for future in as_completed(list(futures.values())):
                node = by_key[future.key]
                try:
                    result = future.result()
                except Exception:
                    client.cancel(list(futures.values()))
                    self._suggest_resume_scenario(pipeline, done, catalog)
                    raise
                for name in pipeline.outputs() & result.outputs.keys():
                    catalog.save(name, result.outputs[name])  # returned by run()
                if tracking is not None:
                    parameters = {
                        name: catalog.load(name)
                        for name in node.inputs
                        if name.startswith("params:")
                    }
                    tracking.log_node_run_elsewhere(node, parameters, result.logged)
                done.add(node)
                # An upstream result is no longer needed once all its dependents ran.
                for dep in dependencies[node]:
                    dependents[dep] -= 1
                    if dependents[dep] == 0:
                        del futures[dep]
                self._logger.info("Completed node: %s", node.name)
                self._logger.info(
                    "Completed %d out of %d tasks", len(done), len(pipeline.nodes)
                )
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
