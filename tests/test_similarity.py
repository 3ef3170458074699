from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from emotion_aware_loss.similarity import (
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
