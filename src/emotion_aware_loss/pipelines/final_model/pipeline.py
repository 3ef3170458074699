"""Final model: the chosen loss variant trained on every utterance."""

from kedro.pipeline import Node, Pipeline

from emotion_aware_loss.config.layout import Layout, load_layout

from .nodes import train_final_model

NODE_NAME = "train_final_model_node"


def create_pipeline(layout: Layout | None = None, **kwargs) -> Pipeline:
    layout = layout or load_layout()
    variant = layout.final_variant
    # An unconfigured variant is refused at run start (LayoutHooks); the node then
    # gets no histories and the hand-set matrix, so the registry still builds.
    folds = layout.folds if variant in layout.variants else ()
    return Pipeline(
        [
            Node(
                train_final_model,
                inputs={
                    "initial_model": "initial_model",
                    "model_input_table": "model_input_table",
                    "acoustic_features": "acoustic_features",
                    "word_vectors": "word_vectors",
                    "loss_similarity": (
                        layout.final_similarity_dataset()
                        if folds
                        else "similarity_matrix"
                    ),
                    "similarity_matrix": "similarity_matrix",
                    "input_spec": "input_spec",
                    "final_model": "params:final_model",
                    "loss_variants": "params:loss_variants",
                    "training": "params:training",
                    "text": "params:preprocessing.text",
                    "acoustic": "params:preprocessing.acoustic",
                    "model": "params:model",
                    "seed": "params:seed",
                    "text_features": "text_features",
                    "speaker_statistics": "speaker_statistics",
                    **{fold: f"{variant}.{fold}.history" for fold in folds},
                },
                outputs=["final_model", "final_model_history"],
                name=NODE_NAME,
            )
        ]
    )
