"""Inference: the final model applied to a manifest of new utterances."""

from kedro.pipeline import Node, Pipeline

from .nodes import predict_emotions


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                predict_emotions,
                inputs=["inference_corpus", "final_model"],
                outputs="inference_predictions",
                name="predict_emotions_node",
            )
        ]
    )
