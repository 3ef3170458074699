"""Similarity: valence-arousal, learned (embeddings) and confusion matrices."""

from kedro.pipeline import Node, Pipeline

from emotion_aware_loss.config.layout import Layout, load_layout

from .nodes import (
    class_similarity_of_fold,
    confusion_similarity_of_fold,
    learned_similarity,
    similarity_from_confusions,
    similarity_from_valence_arousal,
)


def create_pipeline(layout: Layout | None = None, **kwargs) -> Pipeline:
    layout = layout or load_layout()
    source = layout.derived_from
    valence_arousal = Node(
        similarity_from_valence_arousal,
        inputs=["params:similarity.valence_arousal", "params:classes"],
        outputs="similarity_valence_arousal",
        name="similarity_from_valence_arousal_node",
    )
    if source not in layout.variants:
        return Pipeline([valence_arousal])
    per_fold = [
        Node(
            func,
            inputs=[
                f"{source}.{fold}.model",
                "model_input_table",
                "acoustic_features",
                f"{fold}.split",
                f"{fold}.feature_scaler",
                f"{fold}.vocabulary",
                "input_spec",
                "text_features",
                *extra,
            ],
            outputs=f"{source}.{fold}.{output}",
            name=f"{output}_of_fold_node",
            namespace=f"{source}.{fold}",
        )
        for fold in layout.folds
        for func, output, extra in (
            (class_similarity_of_fold, "class_similarity", []),
            # the history holds the early-stopped network's validation confusions
            # when training.refit trained the saved model on the validation part
            (
                confusion_similarity_of_fold,
                "confusion_similarity",
                [f"{source}.{fold}.history"],
            ),
        )
    ]
    learned = Node(
        learned_similarity,
        inputs={fold: f"{source}.{fold}.class_similarity" for fold in layout.folds},
        outputs="similarity_learned",
        name="learned_similarity_node",
    )
    confusions = Node(
        similarity_from_confusions,
        inputs={
            "classes": "params:classes",
            **{fold: f"{source}.{fold}.metrics" for fold in layout.folds},
        },
        outputs="similarity_confusions",
        name="similarity_from_confusions_node",
    )
    return Pipeline([valence_arousal, *per_fold, learned, confusions])
