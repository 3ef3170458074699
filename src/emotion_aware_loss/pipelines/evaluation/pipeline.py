"""Evaluation: one namespaced template per (variant, fold), then one summary."""

from kedro.pipeline import Node, Pipeline

from emotion_aware_loss.layout import load_layout, per_variant_and_fold

from .nodes import evaluate_model, summarise_cross_validation

SHARED_INPUTS = {
    "model_input_table",
    "acoustic_features",
    "similarity_matrix",
    "input_spec",
}


def create_template() -> Pipeline:
    """The evaluation steps of one fold and variant, before namespacing."""
    return Pipeline(
        [
            Node(
                evaluate_model,
                inputs=[
                    "model",
                    "model_input_table",
                    "acoustic_features",
                    "split",
                    "feature_scaler",
                    "vocabulary",
                    "similarity_matrix",
                    "input_spec",
                ],
                outputs=["metrics", "predictions"],
                name="evaluate_model_node",
            )
        ]
    )


def create_pipeline(**kwargs) -> Pipeline:
    layout = load_layout()
    instances = per_variant_and_fold(create_template(), layout, SHARED_INPUTS)
    summary = Node(
        summarise_cross_validation,
        inputs={
            "classes": "params:classes",
            "evaluation": "params:evaluation",
            "loss_variants": "params:loss_variants",
            **{
                f"{variant}__{fold}": f"{variant}.{fold}.metrics"
                for variant in layout.variants
                for fold in layout.folds
            },
        },
        outputs=["cv_fold_metrics", "cv_summary", "cv_report", "confusion_matrices"],
        name="summarise_cross_validation_node",
    )
    return instances + Pipeline([summary])
