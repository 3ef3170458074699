import dataclasses

import numpy as np
import pandas as pd
import pytest

from emotion_aware_loss.config import (
    LossConfig,
    ValenceArousalConfig,
)
from emotion_aware_loss.config.layout import Layout
from emotion_aware_loss.losses.similarity import validate_similarity
from emotion_aware_loss.models.inputs import InputSpec
from emotion_aware_loss.pipelines.evaluation import create_pipeline as evaluation
from emotion_aware_loss.pipelines.fold_generation import create_pipeline as folds
from emotion_aware_loss.pipelines.model_building import create_pipeline as building
from emotion_aware_loss.pipelines.similarity import create_pipeline as similarity
from emotion_aware_loss.pipelines.training import create_pipeline as training

from ...conftest import run_pipeline

VA = ValenceArousalConfig(
    coordinates={
        "anger": (0.167, 0.865),
        "surprise": (0.875, 0.875),
        "happiness": (0.960, 0.732),
        "sadness": (0.052, 0.288),
        "neutral": (0.469, 0.184),
    }
)


@pytest.fixture
def second_round_layout(monkeypatch):
    from emotion_aware_loss.config import layout

    value = Layout(
        2,
        ("cross_entropy", "ea_learned", "ea_confusions"),
        ("hand_set", "learned", "confusions"),
        "cross_entropy",
    )
    monkeypatch.setattr(layout, "_run_layout", value)
    return value


def test_second_round_trains_with_matrices_learned_in_the_first(
    stage_inputs,
    training_config,
    classes,
    second_round_layout,
):
    variants = {
        "cross_entropy": LossConfig(loss="cross_entropy"),
        "ea_learned": LossConfig(loss="emotion_aware", similarity="learned"),
        "ea_confusions": LossConfig(
            loss="emotion_aware", similarity="confusions", dynamic=True
        ),
    }
    inputs = stage_inputs | {
        "params:training": training_config,
        "params:classes": classes,
        "params:similarity.valence_arousal": VA,
        "params:loss_variants": variants,
        **{f"params:loss_variants.{name}": cfg for name, cfg in variants.items()},
    }
    pipeline = folds() + building() + training() + evaluation() + similarity()
    # the second round depends on the first through the derived matrices
    # and fold k's second round uses fold k's first-round matrix only (no leakage)
    (second,) = [
        n for n in pipeline.nodes if n.name == "train_models_second_round_node"
    ]
    roles = second.func.args[0].inputs()  # the node's plan: role -> dataset
    for k in (0, 1):
        assert roles[f"0|ea_learned.fold_{k}.similarity"] == (
            f"cross_entropy.fold_{k}.class_similarity"
        )
    per_node = training(dataclasses.replace(second_round_layout, stacked=False))
    for k in (0, 1):
        (train,) = [
            n
            for n in per_node.nodes
            if n.name == f"ea_learned.fold_{k}.train_model_node"
        ]
        assert f"cross_entropy.fold_{k}.class_similarity" in train.inputs
        assert f"cross_entropy.fold_{1 - k}.class_similarity" not in train.inputs
    out = run_pipeline(pipeline, inputs)
    for name in (
        "similarity_learned",
        "similarity_confusions",
        "similarity_valence_arousal",
        "cross_entropy.fold_0.class_similarity",
        "cross_entropy.fold_1.confusion_similarity",
    ):
        matrix = out[name]
        assert list(matrix.index) == classes
        validate_similarity(matrix, classes)  # a valid similarity matrix
    learned_loss = out["ea_learned.fold_0.model"].loss
    np.testing.assert_allclose(
        learned_loss.similarity,
        out["cross_entropy.fold_0.class_similarity"].to_numpy(),
        atol=1e-6,
    )
    np.testing.assert_allclose(
        out["similarity_learned"].to_numpy(),
        (
            out["cross_entropy.fold_0.class_similarity"].to_numpy()
            + out["cross_entropy.fold_1.class_similarity"].to_numpy()
        )
        / 2,
        atol=1e-6,
    )
    assert out["ea_confusions.fold_1.history"]["dynamic_similarity"]
    assert set(out["cv_summary"]["variants"]) == set(variants)


def test_valence_arousal_node_orders_by_classes(classes):
    from emotion_aware_loss.pipelines.similarity.nodes import (
        similarity_from_valence_arousal,
    )

    matrix = similarity_from_valence_arousal(VA, classes[::-1])
    assert list(matrix.columns) == classes[::-1]
    assert matrix.loc["happiness", "surprise"] > matrix.loc["happiness", "sadness"]
    assert isinstance(matrix, pd.DataFrame)


def test_confusions_of_a_refitted_model_come_from_its_history(classes):
    from emotion_aware_loss.pipelines.similarity.nodes import (  # noqa: PLC0415
        confusion_similarity_of_fold,
    )

    k = len(classes)
    counts = np.diag([5.0] * k)
    counts[0, 1] = counts[1, 0] = 3.0  # anger and surprise confused most
    counts[2, 3] = 1.0
    spec = InputSpec(
        classes, 1, 1, max_tokens=4, vocab_size=6, acoustic_feature="logmel"
    )
    matrix = confusion_similarity_of_fold(
        None,  # never asked: the recorded confusions are used
        pd.DataFrame(),
        np.empty((0, 1, 1)),
        pd.DataFrame(),
        {},
        [],
        spec,
        None,
        {"validation_confusion": counts.tolist()},
    )
    assert list(matrix.index) == classes
    assert matrix.loc[classes[0], classes[1]] == pytest.approx(1.0)
    assert matrix.loc[classes[2], classes[3]] < matrix.loc[classes[0], classes[1]]
    validate_similarity(matrix, classes)
