"""From features: a precomputed corpus in place of audio preprocessing.

This pipeline writes the same datasets as ``preprocessing`` (so it is not part of
``__default__``); the registry runs it with the later stages as ``from_features``.
"""

from kedro.pipeline import Node, Pipeline

from emotion_aware_loss.pipelines.preprocessing.pipeline import (
    encode_transcripts_node,
    similarity_check,
)

from .nodes import describe_precomputed_inputs, prepare_precomputed


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            similarity_check(),
            Node(
                prepare_precomputed,
                inputs=[
                    "corpus_features",
                    "params:classes",
                    "params:preprocessing.text",
                    "params:preprocessing.labels",
                    "params:preprocessing.acoustic",
                ],
                outputs=[
                    "utterances",
                    "skipped_utterances",
                    "acoustic_features",
                    "model_input_table",
                    "speaker_statistics",
                ],
                name="prepare_precomputed_node",
            ),
            encode_transcripts_node(),
            Node(
                describe_precomputed_inputs,
                inputs=[
                    "acoustic_features",
                    "model_input_table",
                    "text_features",
                    "corpus_features",
                    "params:preprocessing.text",
                    "params:classes",
                ],
                outputs="input_spec",
                name="describe_precomputed_inputs_node",
            ),
        ]
    )
