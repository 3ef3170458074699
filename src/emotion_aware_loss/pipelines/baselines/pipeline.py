"""Baselines: class-balanced logistic regressions on the network's folds."""

from kedro.pipeline import Node, Pipeline

from emotion_aware_loss.config.layout import Layout, load_layout

from .nodes import fit_linear_baselines, fit_linear_family

INPUTS = [
    "model_input_table",
    "acoustic_features",
    "{fold}.split",
    "similarity_matrix",
    "input_spec",
    "params:baselines",
    "params:model",
    "params:evaluation",
    "params:cross_validation",
    "params:seed",
]
ARGUMENTS = [
    "model_input_table",
    "acoustic_features",
    "split",
    "similarity_matrix",
    "input_spec",
    "baselines",
    "model",
    "evaluation",
    "cross_validation",
    "seed",
]


def _inputs(fold: str) -> dict[str, str]:
    return {
        argument: dataset.format(fold=fold)
        for argument, dataset in zip(ARGUMENTS, INPUTS, strict=True)
    }


def _outputs(names: tuple[str, ...], fold: str) -> dict[str, str]:
    """``<name>_metrics`` / ``_predictions`` / ``_held_out`` ->
    ``<name>.<fold>.metrics`` / ... ."""
    return {
        f"{name}_{kind}": f"{name}.{fold}.{kind}"
        for name in names
        for kind in ("metrics", "predictions", "held_out")
    }


def _family(layout: Layout, fold: str) -> Pipeline:
    """The linear models fitted with the losses of ``baselines.losses``."""
    if not layout.linear_losses:
        return Pipeline([])
    inputs = _inputs(fold) | {"loss_variants": "params:loss_variants"}
    inputs |= {v: layout.similarity_dataset(v, fold) for v in layout.linear_losses}
    return Pipeline(
        [
            Node(
                fit_linear_family,
                inputs=inputs,
                outputs=_outputs(layout.linear_family, fold),
                name="fit_linear_family_node",
                namespace=fold,
            )
        ]
    )


def create_pipeline(layout: Layout | None = None, **kwargs) -> Pipeline:
    """One node per fold; its outputs sit where a loss variant's would.

    ``<baseline>.fold_<k>.metrics`` and ``.predictions`` match the catalog
    factories of the loss variants, so evaluation treats a baseline as one more
    row of every table.
    """
    layout = layout or load_layout()
    if not layout.baselines:
        return Pipeline([])
    return sum(
        (
            Pipeline(
                [
                    Node(
                        fit_linear_baselines,
                        inputs=_inputs(fold),
                        outputs=_outputs(layout.baselines, fold),
                        name="fit_linear_baselines_node",
                        namespace=fold,
                    )
                ]
            )
            + _family(layout, fold)
            for fold in layout.folds
        ),
        Pipeline([]),
    )
