"""Training: one namespaced template instance per (loss variant, fold)."""

from kedro.pipeline import Node, Pipeline

from emotion_aware_loss.layout import load_layout

from .nodes import train_model

SHARED_INPUTS = {
    "initial_model",
    "model_input_table",
    "acoustic_features",
    "similarity_matrix",
    "input_spec",
}


def create_template() -> Pipeline:
    """The training steps of one fold and variant, before namespacing."""
    return Pipeline(
        [
            Node(
                train_model,
                inputs=[
                    "initial_model",
                    "model_input_table",
                    "acoustic_features",
                    "split",
                    "feature_scaler",
                    "vocabulary",
                    "similarity_matrix",
                    "input_spec",
                    "params:training",
                    "params:loss",
                    "params:seed",
                ],
                outputs=["model", "history"],
                name="train_model_node",
            )
        ]
    )


def create_pipeline(**kwargs) -> Pipeline:
    layout = load_layout()
    template = create_template()
    instances = [
        Pipeline(
            template,
            namespace=f"{variant}.{fold}",
            inputs={
                **{name: name for name in SHARED_INPUTS},
                "split": f"{fold}.split",
                "feature_scaler": f"{fold}.feature_scaler",
                "vocabulary": f"{fold}.vocabulary",
            },
            parameters={
                "params:training": "params:training",
                "params:seed": "params:seed",
                "params:loss": f"params:loss_variants.{variant}",
            },
        )
        for variant in layout.variants
        for fold in layout.folds
    ]
    return sum(instances, Pipeline([]))
