"""Preprocessing: corpus -> labels, tokens, acoustic features and input shapes."""

from kedro.pipeline import Node, Pipeline

from .nodes import (
    describe_model_inputs,
    encode_transcripts,
    extract_model_features,
    prepare_utterances,
    validate_similarity_matrix,
)


def similarity_check() -> Node:
    """The hand-set matrix's validation (shared with ``from_features``)."""
    return Node(
        validate_similarity_matrix,
        inputs=["emotion_similarity", "params:classes"],
        outputs="similarity_matrix",
        name="validate_similarity_matrix_node",
    )


def encode_transcripts_node() -> Node:
    """Text-encoder embeddings, or none (shared with ``from_features``)."""
    return Node(
        encode_transcripts,
        inputs=["utterances", "params:preprocessing.text"],
        outputs="text_features",
        name="encode_transcripts_node",
    )


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            similarity_check(),
            Node(
                prepare_utterances,
                inputs=[
                    "corpus",
                    "params:classes",
                    "params:preprocessing.text",
                    "params:preprocessing.labels",
                ],
                outputs=["utterances", "skipped_utterances"],
                name="prepare_utterances_node",
            ),
            Node(
                extract_model_features,
                inputs=["corpus", "utterances", "params:preprocessing.acoustic"],
                outputs=[
                    "acoustic_features",
                    "model_input_table",
                    "speaker_statistics",
                ],
                name="extract_acoustic_features_node",
            ),
            encode_transcripts_node(),
            Node(
                describe_model_inputs,
                inputs=[
                    "acoustic_features",
                    "model_input_table",
                    "text_features",
                    "params:preprocessing.acoustic",
                    "params:preprocessing.text",
                    "params:classes",
                ],
                outputs="input_spec",
                name="describe_model_inputs_node",
            ),
        ]
    )
