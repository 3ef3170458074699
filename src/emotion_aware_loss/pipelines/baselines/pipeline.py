"""Baselines: class-balanced logistic regressions on the network's folds."""

from kedro.pipeline import Node, Pipeline

from emotion_aware_loss.layout import Layout, load_layout

from .nodes import fit_linear_baselines


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
                        inputs=[
                            "model_input_table",
                            "acoustic_features",
                            f"{fold}.split",
                            "similarity_matrix",
                            "input_spec",
                            "params:baselines",
                            "params:model",
                            "params:evaluation",
                            "params:cross_validation",
                            "params:seed",
                        ],
                        outputs={
                            f"{name}_{kind}": f"{name}.{fold}.{kind}"
                            for name in layout.baselines
                            for kind in ("metrics", "predictions")
                        },
                        name="fit_linear_baselines_node",
                        namespace=fold,
                    )
                ]
            )
            for fold in layout.folds
        ),
        Pipeline([]),
    )
