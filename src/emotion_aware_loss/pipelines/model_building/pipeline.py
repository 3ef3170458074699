"""Model building: the untrained fusion network from parameters."""

from kedro.pipeline import Node, Pipeline

from .nodes import build_model


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                build_model,
                inputs=["input_spec", "params:model", "params:seed"],
                outputs="initial_model",
                name="build_model_node",
            )
        ]
    )
