"""Project hooks."""

from __future__ import annotations

from typing import Any

from kedro.framework.context import KedroContext
from kedro.framework.hooks import hook_impl
from kedro.pipeline import Pipeline

from emotion_aware_loss.config import FinalModelConfig, TrainingConfig
from emotion_aware_loss.layout import load_layout, use_run_parameters


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
