"""Project hooks."""

from __future__ import annotations

from kedro.framework.context import KedroContext
from kedro.framework.hooks import hook_impl

from emotion_aware_loss.layout import use_run_parameters


class LayoutHooks:
    """Build the fold/variant pipelines from the run's own parameters.

    ``kedro run --env X`` or ``--params cross_validation.n_folds=3`` therefore
    change the pipelines as well as the values their nodes receive.
    """

    @hook_impl
    def after_context_created(self, context: KedroContext) -> None:
        use_run_parameters(context.config_loader["parameters"])
