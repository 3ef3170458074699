from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from emotion_aware_loss.losses.similarity import (
    SimilarityMatrixError,
    cost_matrix,
    validate_similarity,
)


def test_valid_matrix_passes_unchanged(similarity_frame, classes):
    out = validate_similarity(similarity_frame, classes)
    pd.testing.assert_frame_equal(out, similarity_frame.astype(float))


def test_rows_and_columns_are_matched_by_label(similarity_frame, classes):
    shuffled = similarity_frame.loc[classes[::-1], classes[::-1]]
    out = validate_similarity(shuffled, classes)
    pd.testing.assert_frame_equal(out, similarity_frame.astype(float))


def test_fewer_classes_take_the_sub_matrix_by_label(similarity_frame, classes):
    four = ["neutral", "anger", "sadness", "happiness"]
    out = validate_similarity(similarity_frame, four)
    assert list(out.index) == four and list(out.columns) == four
    assert out.loc["anger", "sadness"] == 0.6
    assert (
        out.loc["neutral", "happiness"] == similarity_frame.loc["neutral", "happiness"]
    )


def test_committed_default_matrix_is_valid(classes):
    table = pd.read_csv(
        Path(__file__).parents[1] / "data/01_raw/emotion_similarity.csv", index_col=0
    )
    out = validate_similarity(table, classes)
    assert out.loc["anger", "sadness"] == 0.6
    assert out.loc["happiness", "sadness"] == 0.2


def _edit(frame, row, col, value):
    frame = frame.copy()
    frame.loc[row, col] = value
    return frame


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda f: f.iloc[:, :4], "must be square"),
        (lambda f: f.iloc[:4, :4], "missing \\['neutral'\\]"),
        (
            lambda f: f.rename(index={"anger": "rage"}, columns={"anger": "rage"}),
            "rage",
        ),
        (
            lambda f: _edit(f, "anger", "surprise", np.nan),
            "NaN or inf at \\(anger, surprise\\)",
        ),
        (lambda f: _edit(f, "anger", "surprise", 1.5), "outside \\[0, 1\\]"),
        (lambda f: _edit(f, "sadness", "sadness", 0.9), "diagonal must be 1.*sadness"),
        (
            lambda f: _edit(f, "anger", "sadness", 0.1),
            "not symmetric: \\(anger, sadness\\)",
        ),
        (lambda f: _edit(f, "anger", "surprise", "high"), "non-numeric"),
    ],
    ids=[
        "not-square",
        "missing-class",
        "unknown-label",
        "nan",
        "range",
        "diagonal",
        "asymmetric",
        "non-numeric",
    ],
)
def test_bad_matrices_are_rejected_with_reason(
    similarity_frame, classes, mutate, message
):
    with pytest.raises(SimilarityMatrixError, match=message):
        validate_similarity(mutate(similarity_frame.astype(object)), classes)


def test_cost_is_one_minus_similarity(similarity_frame):
    cost = cost_matrix(similarity_frame)
    assert np.all(np.diag(cost) == 0.0)
    assert cost[0, 2] == pytest.approx(0.8)


def test_valence_arousal_gaussian_kernel():
    from emotion_aware_loss.losses.similarity import valence_arousal_similarity

    coords = {"a": [0.0, 0.0], "b": [0.3, 0.4], "c": [1.0, 1.0]}
    s = valence_arousal_similarity(coords, ["a", "b", "c"], bandwidth=0.5)
    assert s.loc["a", "b"] == pytest.approx(np.exp(-0.25 / 0.5))  # d = 0.5
    assert s.loc["a", "c"] < s.loc["a", "b"]
    validate_similarity(s, ["a", "b", "c"])  # a valid matrix
    with pytest.raises(SimilarityMatrixError, match=r"missing for class\(es\) \['d'\]"):
        valence_arousal_similarity(coords, ["a", "d"])
    with pytest.raises(SimilarityMatrixError, match="two finite numbers"):
        valence_arousal_similarity({"a": [0.1], "b": [0, 0]}, ["a", "b"])
    with pytest.raises(SimilarityMatrixError, match="bandwidth"):
        valence_arousal_similarity(coords, ["a"], bandwidth=0.0)


def test_confusion_similarity_by_hand():
    from emotion_aware_loss.losses.similarity import confusion_similarity

    counts = np.array([[8, 2, 0], [1, 9, 0], [0, 0, 10]])
    s = confusion_similarity(counts, ["a", "b", "c"])
    # rates: a->b .2, b->a .1 -> mean .15 = the maximum -> 1; a,c and b,c never -> 0
    assert s.loc["a", "b"] == pytest.approx(1.0)
    assert s.loc["a", "c"] == 0.0 and s.loc["b", "c"] == 0.0
    assert np.all(np.diag(s) == 1.0)
    with pytest.raises(SimilarityMatrixError, match="no off-diagonal counts"):
        confusion_similarity(np.eye(3) * 5, ["a", "b", "c"])
    with pytest.raises(SimilarityMatrixError, match="must be 2 x 2"):
        confusion_similarity(counts, ["a", "b"])


def test_embedding_similarity_by_hand():
    from emotion_aware_loss.losses.similarity import embedding_similarity

    emb = np.array([[1.0, 0.0], [3.0, 0.0], [1.0, 1.0], [0.0, -1.0]])
    labels = np.array([0, 0, 1, 2])
    s = embedding_similarity(emb, labels, ["a", "b", "c"])
    assert s.loc["a", "b"] == pytest.approx(1 / np.sqrt(2))
    assert s.loc["a", "c"] == 0.0  # cosine 0
    assert s.loc["b", "c"] == 0.0  # cosine -0.707 clipped to 0
    with pytest.raises(SimilarityMatrixError, match="no embedding of class 'c'"):
        embedding_similarity(emb[:3], labels[:3], ["a", "b", "c"])


def test_average_similarities():
    from emotion_aware_loss.losses.similarity import average_similarities

    a = pd.DataFrame([[1.0, 0.2], [0.2, 1.0]], index=["x", "y"], columns=["x", "y"])
    b = pd.DataFrame([[1.0, 0.6], [0.6, 1.0]], index=["x", "y"], columns=["x", "y"])
    assert average_similarities([a, b]).loc["x", "y"] == pytest.approx(0.4)
    with pytest.raises(SimilarityMatrixError, match="cannot average"):
        average_similarities([a, b.rename(index={"x": "z"})])
