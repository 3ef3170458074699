"""Evaluation: one namespaced template per (variant, fold), then the report."""

from kedro.pipeline import Node, Pipeline

from emotion_aware_loss.config.layout import (
    DERIVED_FROM_MODELS,
    FINAL_SIMILARITY_DATASETS,
    Layout,
    load_layout,
    per_variant_and_fold,
)

from .nodes import (
    FIGURES,
    collect_predictions,
    compare_with_baseline,
    describe_setup,
    evaluate_model,
    plot_frontier,
    plot_learning_curves,
    plot_pair_costs,
    plot_per_class_recall,
    plot_reliability,
    plot_similarities,
    score_ensemble,
    summarise_cross_validation,
    write_report,
)

SHARED_INPUTS = {
    "model_input_table",
    "acoustic_features",
    "similarity_matrix",
    "input_spec",
    "text_features",
}


def create_template() -> Pipeline:
    """The evaluation steps of one fold and variant, before namespacing."""
    return Pipeline(
        [
            Node(
                evaluate_model,
                inputs=[
                    "model",
                    "history",
                    "model_input_table",
                    "acoustic_features",
                    "split",
                    "feature_scaler",
                    "vocabulary",
                    "similarity_matrix",
                    "input_spec",
                    "text_features",
                    "params:evaluation",
                ],
                outputs=["metrics", "predictions"],
                name="evaluate_model_node",
            )
        ]
    )


def _per_run(
    layout, dataset: str, variants: tuple[str, ...] | None = None
) -> dict[str, str]:
    return {
        f"{variant}__{fold}": f"{variant}.{fold}.{dataset}"
        for variant in (layout.scored if variants is None else variants)
        for fold in layout.folds
    }


def _ensembles(layout: Layout) -> Pipeline:
    """One node per (ensembled variant, fold): the network averaged with its
    linear model, scored as ``ensemble_<variant>``."""
    nodes = []
    for variant, name in zip(layout.ensembles, layout.ensemble_names, strict=True):
        linear = layout.ensemble_linear(variant)
        for fold in layout.folds:
            nodes.append(
                Node(
                    score_ensemble,
                    inputs={
                        "network_predictions": f"{variant}.{fold}.predictions",
                        "history": f"{variant}.{fold}.history",
                        "linear_predictions": f"{linear}.{fold}.predictions",
                        "linear_held_out": f"{linear}.{fold}.held_out",
                        "model_input_table": "model_input_table",
                        "split": f"{fold}.split",
                        "similarity_matrix": "similarity_matrix",
                        "input_spec": "input_spec",
                        "evaluation": "params:evaluation",
                    },
                    outputs=[f"{name}.{fold}.metrics", f"{name}.{fold}.predictions"],
                    name="score_ensemble_node",
                    namespace=f"{name}.{fold}",
                )
            )
    return Pipeline(nodes)


def create_pipeline(layout: Layout | None = None, **kwargs) -> Pipeline:
    layout = layout or load_layout()
    instances = per_variant_and_fold(
        create_template(),
        layout,
        SHARED_INPUTS,
        parameters={"params:evaluation": "params:evaluation"},
    )
    # The derived matrices exist when the variant they come from is trained.
    sources = ["hand_set", "valence_arousal"]
    if layout.derived_from in layout.variants:
        sources += sorted(DERIVED_FROM_MODELS)
    # the per-fold matrices of `learned`/`confusions` are shown summarised over folds
    matrices = {source: FINAL_SIMILARITY_DATASETS[source] for source in sources}
    # Figure datasets: `<file stem>_plot` (e.g. `pair_costs_plot` -> pair_costs.png).
    figure = {name: name.removesuffix(".png") + "_plot" for name in FIGURES.values()}
    report = Pipeline(
        [
            Node(
                collect_predictions,
                inputs=_per_run(layout, "predictions"),
                outputs="oof_predictions",
                name="collect_predictions_node",
            ),
            Node(
                summarise_cross_validation,
                inputs={"classes": "params:classes", **_per_run(layout, "metrics")},
                outputs=[
                    "cv_fold_metrics",
                    "cv_summary",
                    "per_class_recall",
                    figure["confusion_matrices.png"],
                ],
                name="summarise_cross_validation_node",
            ),
            Node(
                compare_with_baseline,
                inputs=[
                    "cv_fold_metrics",
                    "oof_predictions",
                    "similarity_matrix",
                    "params:classes",
                    "params:evaluation",
                    "params:seed",
                    "params:model",
                ],
                outputs="significance_tests",
                name="compare_with_baseline_node",
            ),
            Node(
                plot_per_class_recall,
                inputs=["per_class_recall", "params:classes"],
                outputs=figure["per_class_recall.png"],
                name="plot_per_class_recall_node",
            ),
            Node(
                plot_similarities,
                inputs={name: name for name in matrices.values()},
                outputs=figure["similarity_matrices.png"],
                name="plot_similarities_node",
            ),
            Node(
                plot_pair_costs,
                inputs={
                    "loss_variants": "params:loss_variants",
                    "classes": "params:classes",
                    "evaluation": "params:evaluation",
                    **matrices,
                },
                outputs=figure["pair_costs.png"],
                name="plot_pair_costs_node",
            ),
            Node(
                plot_learning_curves,
                inputs={
                    "training": "params:training",
                    **_per_run(layout, "history", layout.variants),
                },
                outputs=figure["learning_curves.png"],
                name="plot_learning_curves_node",
            ),
            Node(
                plot_reliability,
                inputs=["oof_predictions", "params:classes", "params:evaluation"],
                outputs=figure["reliability_diagrams.png"],
                name="plot_reliability_node",
            ),
            Node(
                plot_frontier,
                inputs=["oof_predictions", "similarity_matrix", "params:classes"],
                outputs=["frontier_points", figure["frontier.png"]],
                name="plot_frontier_node",
            ),
            Node(
                describe_setup,
                inputs=[
                    "model_input_table",
                    "input_spec",
                    "params:classes",
                    "params:seed",
                    "params:cross_validation",
                    "params:training",
                    "params:model",
                    "params:preprocessing",
                    "params:loss_variants",
                    "params:baselines",
                ],
                outputs="report_setup",
                name="describe_setup_node",
            ),
            Node(
                write_report,
                inputs=[
                    "report_setup",
                    "cv_fold_metrics",
                    "significance_tests",
                    "per_class_recall",
                    "params:evaluation",
                ],
                outputs="report",
                name="write_report_node",
            ),
        ]
    )
    return instances + _ensembles(layout) + report
