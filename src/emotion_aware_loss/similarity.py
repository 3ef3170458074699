"""Similarity matrices over emotion classes.

A similarity matrix ``S`` is a labelled square table: ``S[i, j]`` in ``[0, 1]`` says
how close emotion ``i`` is to emotion ``j`` (1 on the diagonal). The losses and the
*mistake severity* metric use ``1 - S`` as the cost of predicting ``j`` for ``i``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd


class SimilarityMatrixError(ValueError):
    """A similarity matrix does not fit the configured classes or is malformed."""


def validate_similarity(
    matrix: pd.DataFrame,
    classes: Sequence[str],
    *,
    source: str = "similarity matrix",
    atol: float = 1e-6,
) -> pd.DataFrame:
    """Check a labelled similarity matrix and order it like ``classes``.

    Rows and columns are matched by label, not by position, so a CSV whose classes
    are listed in another order is re-ordered rather than misread.

    Args:
        matrix: Square table indexed and headed by class names.
        classes: The configured class order.
        source: Where the matrix came from, used in error messages.
        atol: Tolerance for the symmetry and unit-diagonal checks.

    Returns:
        A float64 copy with rows and columns in the order of ``classes``.

    Raises:
        SimilarityMatrixError: If the matrix is not square, its labels differ from
            ``classes``, or it holds NaN/inf, values outside [0, 1], a diagonal other
            than 1 or asymmetric entries.
    """
    classes = list(classes)
    if len(set(classes)) != len(classes):
        raise SimilarityMatrixError(f"configured classes repeat a name: {classes}")
    rows = [str(r).strip() for r in matrix.index]
    cols = [str(c).strip() for c in matrix.columns]
    if matrix.shape[0] != matrix.shape[1]:
        raise SimilarityMatrixError(
            f"{source} must be square, got {matrix.shape[0]} rows x "
            f"{matrix.shape[1]} columns"
        )
    if rows != cols and set(rows) != set(cols):
        raise SimilarityMatrixError(
            f"{source} row labels {rows} differ from its column labels {cols}"
        )
    for axis, labels in (("row", rows), ("column", cols)):
        if len(set(labels)) != len(labels):
            raise SimilarityMatrixError(f"{source} repeats a {axis} label: {labels}")
    missing = [c for c in classes if c not in rows]
    extra = [r for r in rows if r not in classes]
    if missing or extra:
        raise SimilarityMatrixError(
            f"{source} labels {rows} do not match the configured classes {classes}: "
            f"missing {missing}, unexpected {extra}"
        )
    table = matrix.copy()
    table.index, table.columns = rows, cols
    table = table.loc[classes, classes]
    try:
        values = table.to_numpy(dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise SimilarityMatrixError(
            f"{source} holds a non-numeric value: {exc}"
        ) from exc
    bad = np.argwhere(~np.isfinite(values))
    if bad.size:
        i, j = bad[0]
        raise SimilarityMatrixError(
            f"{source} holds NaN or inf at ({classes[i]}, {classes[j]})"
        )
    outside = np.argwhere((values < 0.0) | (values > 1.0))
    if outside.size:
        i, j = outside[0]
        raise SimilarityMatrixError(
            f"{source} value {values[i, j]} at ({classes[i]}, {classes[j]}) "
            "is outside [0, 1]"
        )
    off_diag = np.flatnonzero(np.abs(np.diag(values) - 1.0) > atol)
    if off_diag.size:
        k = off_diag[0]
        raise SimilarityMatrixError(
            f"{source} diagonal must be 1, got {values[k, k]} for {classes[k]}"
        )
    asym = np.argwhere(np.abs(values - values.T) > atol)
    if asym.size:
        i, j = asym[0]
        raise SimilarityMatrixError(
            f"{source} is not symmetric: ({classes[i]}, {classes[j]}) = "
            f"{values[i, j]} but ({classes[j]}, {classes[i]}) = {values[j, i]}"
        )
    return pd.DataFrame(values, index=classes, columns=classes)


def cost_matrix(similarity: np.ndarray | pd.DataFrame) -> np.ndarray:
    """Return the misclassification cost ``1 - S`` (zero on the diagonal)."""
    return 1.0 - np.asarray(similarity, dtype=np.float64)
