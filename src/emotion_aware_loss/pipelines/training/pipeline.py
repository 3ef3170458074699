"""Training: one namespaced template instance per (loss variant, fold)."""

from kedro.pipeline import Node, Pipeline

from emotion_aware_loss.layout import Layout, load_layout, per_variant_and_fold

from .nodes import train_model

SHARED_INPUTS = {
    "initial_model",
    "model_input_table",
    "acoustic_features",
    "input_spec",
    "text_features",
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
                    "embedding_matrix",
                    "loss_similarity",
                    "input_spec",
                    "params:training",
                    "params:loss",
                    "params:seed",
                    "text_features",
                ],
                outputs=["model", "history"],
                name="train_model_node",
            )
        ]
    )


def create_pipeline(layout: Layout | None = None, **kwargs) -> Pipeline:
    return per_variant_and_fold(
        create_template(),
        layout or load_layout(),
        SHARED_INPUTS,
        parameters={
            "params:training": "params:training",
            "params:seed": "params:seed",
            "params:loss": "params:loss_variants.{variant}",
        },
        # each variant trains with the similarity matrix it names
        similarity_input="loss_similarity",
    )
