"""Project hooks (registered in ``settings.py``).

* :class:`LayoutHooks`: the run's layout from its own parameters, before any
  pipeline is built; an unconfigured final model refused at start.
* :class:`TrainingThreadsHooks`: TensorFlow's threads, set once per run.
* :class:`ProgressHooks`: the run's progress display (:mod:`.display`).
"""

from __future__ import annotations

import atexit
import logging
import os
from collections import Counter
from pathlib import Path
from typing import Any

import rich
from kedro.framework.context import KedroContext
from kedro.framework.hooks import hook_impl
from kedro.pipeline import Pipeline
from kedro.pipeline.node import Node
from rich.live import Live

from emotion_aware_loss.config import FinalModelConfig, TrainingConfig
from emotion_aware_loss.config.layout import load_layout, use_run_parameters
from emotion_aware_loss.progress import report_to
from emotion_aware_loss.run.display import (
    IN_PROCESS_RUNNERS,
    PLAIN_WIDTH,
    TIMINGS_FILE,
    RunProgress,
    clock,
    read_timings,
    stage_of,
    write_timings,
)

logger = logging.getLogger(__name__)
# The per-node lines and the run's summary are the display's (its form when the
# output is not a terminal), logged under its name.
display_logger = logging.getLogger(RunProgress.__module__)


class LayoutHooks:
    """Build the fold/variant pipelines from the run's own parameters.

    ``kedro run --env X`` or ``--params cross_validation.n_folds=3`` therefore
    change the pipelines as well as the values their nodes receive. A run that
    trains the final model is refused at start if ``final_model.variant`` names no
    configured loss variant.
    """

    @hook_impl
    def after_context_created(self, context: KedroContext) -> None:
        use_run_parameters(context.config_loader["parameters"])

    @hook_impl
    def before_pipeline_run(
        self, run_params: dict[str, Any], pipeline: Pipeline
    ) -> None:
        """Refuse an unconfigured ``final_model.variant`` before any node runs."""
        from emotion_aware_loss.pipelines.final_model.pipeline import (  # noqa: PLC0415
            NODE_NAME,
        )

        if any(node.name == NODE_NAME for node in pipeline.nodes):
            layout = load_layout()
            FinalModelConfig(variant=layout.final_variant).check_variant(
                layout.variants
            )


class TrainingThreadsHooks:
    """Give TensorFlow the ``training`` thread counts before it starts.

    Node inputs (the initial model) start TensorFlow before ``fit`` runs, so the
    counts are applied when the context is created, and inherited by the worker
    processes of ParallelRunner or a local Dask cluster.
    """

    @hook_impl
    def after_context_created(self, context: KedroContext) -> None:
        training = TrainingConfig.model_validate(
            context.config_loader["parameters"].get("training", {})
        )
        if not (training.intra_op_threads or training.inter_op_threads):
            return  # TensorFlow's own counts: nothing to set, no need to import it
        # Imported here: it imports TensorFlow, which `kedro --help` need not wait for.
        from emotion_aware_loss.training.setup import configure_threads  # noqa: PLC0415

        configure_threads(training)


def _nodes_to_run(
    pipeline: Pipeline, catalog: Any, run_params: dict[str, Any]
) -> list[Node]:
    """The nodes the runner will execute (all, unless outputs that exist are skipped)."""
    if run_params.get("only_missing_outputs"):
        # Kedro decides which nodes to skip inside the runner, after this hook; its
        # (private) filter is asked the same question. Should it change, the
        # display counts every node instead, which only makes the total too high.
        try:
            from kedro.runner import SequentialRunner  # noqa: PLC0415

            runner = SequentialRunner()
            pipeline = runner._filter_pipeline_for_missing_outputs(pipeline, catalog)
        except Exception:
            logger.debug("Could not tell which nodes will be skipped", exc_info=True)
    return list(pipeline.nodes)


class ProgressHooks:
    """Show the run's progress: live in a terminal, one log line per node elsewhere.

    In a terminal the per-node lines are logged at DEBUG (so they reach the log
    file, not the screen, where the live display shows the same). Runners that run
    nodes in other processes (ParallelRunner, Dask) get no live display; their
    workers log one line per node.
    """

    def __init__(self) -> None:
        self._run: RunProgress | None = None
        self._live: Live | None = None
        self._line_level = logging.INFO
        self._in_process = True
        self._exit_registered = False
        self._timings: Path | None = None

    @hook_impl
    def before_pipeline_run(
        self, run_params: dict[str, Any], pipeline: Pipeline, catalog: Any
    ) -> None:
        self._close()
        runner = str(run_params.get("runner"))
        self._in_process = any(name in runner for name in IN_PROCESS_RUNNERS)
        nodes = _nodes_to_run(pipeline, catalog, run_params)
        project = run_params.get("project_path")
        self._timings = Path(project) / TIMINGS_FILE if project else None
        self._run = RunProgress(nodes, earlier=read_timings(self._timings))
        report_to(self._run if self._in_process else None)
        console = rich.get_console()
        live = console.is_terminal and not console.is_dumb_terminal
        if not (console.is_terminal or console.is_jupyter or "COLUMNS" in os.environ):
            console.width = max(console.width, PLAIN_WIDTH)
        stages = Counter(stage_of(node) for node in nodes)
        display_logger.info(
            "Running %d nodes (%s)%s",
            len(nodes),
            ", ".join(f"{stage} {n}" for stage, n in stages.items()),
            "" if self._in_process else "; the workers log each node",
        )
        self._line_level = logging.INFO
        if live and self._in_process:
            self._live = Live(
                self._run, console=console, refresh_per_second=2, transient=False
            )
            self._live.start()
            if not self._exit_registered:  # give the cursor back after Ctrl-C too
                atexit.register(self._close)
                self._exit_registered = True
            self._line_level = logging.DEBUG

    @hook_impl
    def before_dataset_loaded(self, dataset_name: str, node: Node) -> None:
        self._node_run().node_started(node, f"loading {dataset_name}")

    @hook_impl
    def before_node_run(self, node: Node) -> None:
        self._node_run().node_in_this_thread(node)

    @hook_impl
    def after_node_run(self, node: Node) -> None:
        if node.outputs:
            self._node_run().status(node, "saving outputs")
        else:
            self._finish(node)

    @hook_impl
    def before_dataset_saved(self, dataset_name: str, node: Node) -> None:
        self._node_run().status(node, f"saving {dataset_name}")
        self._node_run().dataset_saving(dataset_name)

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, node: Node) -> None:
        self._node_run().dataset_saved(dataset_name)
        if self._node_run().output_saved(node):
            self._finish(node)

    @hook_impl
    def after_pipeline_run(self) -> None:
        self._end("Finished")

    @hook_impl
    def on_pipeline_error(self) -> None:
        self._end("Stopped after")

    # ------------------------------------------------------------------------------
    def _node_run(self) -> RunProgress:
        """The run's state; in a worker process (no pipeline hook) a local one.

        A worker's nodes are counted without a total or an estimate, but its
        trainings still report their epochs.
        """
        if self._run is None:
            self._run = RunProgress([])
            report_to(self._run)
        return self._run

    def _finish(self, node: Node) -> None:
        line = self._node_run().node_finished(node)
        level = self._line_level if self._in_process else logging.INFO
        display_logger.log(level, "%s", line, extra={"markup": False})

    def _end(self, what: str) -> None:
        run, self._run = self._run, None
        self._close()
        if run is None or not self._in_process:
            return
        elapsed = run.elapsed()
        stages = run.stage_seconds()
        spent = sum(stages.values()) or 1.0
        shares = ", ".join(
            f"{stage} {clock(s)} ({100 * s / spent:.0f}%)"
            for stage, s in stages.items()
        )
        display_logger.info(
            "%s %d of %d nodes in %s: %s",
            what,
            run.done,
            run.total,
            clock(elapsed),
            shares,
            extra={"markup": False},
        )
        for name, seconds in run.slowest():
            display_logger.debug("Slow node: %s %.1f s", name, seconds)
        if self._timings is not None:
            write_timings(self._timings, run.kind_seconds())

    def _close(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None
        report_to(None)
