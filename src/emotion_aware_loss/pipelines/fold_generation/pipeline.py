"""Fold generation: the fold table, then one namespaced transform fit per fold."""

import warnings

from kedro.pipeline import Node, Pipeline

from emotion_aware_loss.config.layout import Layout, load_layout

from .nodes import embedding_matrix_of_fold, fit_fold_preprocessing, generate_folds


def create_pipeline(layout: Layout | None = None, **kwargs) -> Pipeline:
    layout = layout or load_layout()
    # One node writes every fold's split into that fold's namespace
    # (`fold_<k>.split`); Kedro warns about dotted names outside a namespaced
    # pipeline, which is exactly what is meant here.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="One or more dataset names contain")
        split_node = Node(
            generate_folds,
            inputs=["model_input_table", "params:cross_validation", "params:seed"],
            outputs={
                "fold_assignments": "fold_assignments",
                **{fold: f"{fold}.split" for fold in layout.folds},
            },
            name="generate_folds_node",
        )
    assign = Pipeline([split_node])
    template = Pipeline(
        [
            Node(
                fit_fold_preprocessing,
                inputs=[
                    "model_input_table",
                    "acoustic_features",
                    "split",
                    "params:preprocessing.text",
                ],
                outputs=["feature_scaler", "vocabulary"],
                name="fit_fold_preprocessing_node",
            ),
            Node(
                embedding_matrix_of_fold,
                inputs=[
                    "vocabulary",
                    "word_vectors",
                    "input_spec",
                    "params:model",
                    "params:seed",
                ],
                outputs="embedding_matrix",
                name="embedding_matrix_of_fold_node",
            ),
        ]
    )
    per_fold = [
        Pipeline(
            template,
            namespace=fold,
            inputs={
                "model_input_table",
                "acoustic_features",
                "word_vectors",
                "input_spec",
            },
            parameters={"params:preprocessing.text", "params:model", "params:seed"},
        )
        for fold in layout.folds
    ]
    return assign + sum(per_fold, Pipeline([]))
