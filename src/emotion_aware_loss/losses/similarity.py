"""Similarity matrices over emotion classes.

A similarity matrix ``S`` is a labelled square table: ``S[i, j]`` in ``[0, 1]`` says
how close emotion ``i`` is to emotion ``j`` (1 on the diagonal). The losses and the
*mistake severity* metric use ``1 - S`` as the cost of predicting ``j`` for ``i``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SimilaritySource:
    """Where a value of ``loss_variants.<variant>.similarity`` lives in the catalog.

    Attributes:
        fold_dataset: The matrix a variant of fold ``{fold}`` trains with; a
            matrix derived from the first round's models (``{source}``: the
            ``similarity.derived_from`` variant) is per fold, so no test utterance
            of fold k shapes the loss fold k trains with.
        summary_dataset: The one matrix the figures show and the final model (on
            all utterances) trains with: for a per-fold matrix, its summary over folds.
        title: Its caption in the report's figure.
    """

    fold_dataset: str
    summary_dataset: str
    title: str

    @property
    def from_models(self) -> bool:
        """Whether the matrix is derived from the first round's models."""
        return "{fold}" in self.fold_dataset


SIMILARITY_SOURCES = {
    "hand_set": SimilaritySource(
        "similarity_matrix", "similarity_matrix", "Hand-set (catalog CSV)"
    ),
    "valence_arousal": SimilaritySource(
        "similarity_valence_arousal",
        "similarity_valence_arousal",
        "Valence–arousal kernel",
    ),
    # fold k's first-round model: its training part's class embeddings
    "learned": SimilaritySource(
        "{source}.{fold}.class_similarity",
        "similarity_learned",
        "Learned: class embeddings (mean over folds)",
    ),
    # fold k's first-round model: its confusions on the validation part
    "confusions": SimilaritySource(
        "{source}.{fold}.confusion_similarity",
        "similarity_confusions",
        "From out-of-fold confusions",
    ),
}


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
    are listed in another order is re-ordered rather than misread, and a matrix over
    more classes (e.g. with fear and disgust) gives the sub-matrix of ``classes``.

    Args:
        matrix: Square table indexed and headed by class names.
        classes: The configured class order.
        source: Where the matrix came from, used in error messages.
        atol: Tolerance for the symmetry and unit-diagonal checks.

    Returns:
        A float64 copy with rows and columns in the order of ``classes``.

    Raises:
        SimilarityMatrixError: If the matrix is not square, its labels lack one of
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
    if missing:
        raise SimilarityMatrixError(
            f"{source} labels {rows} do not cover the configured classes {classes}: "
            f"missing {missing}"
        )
    extra = [r for r in rows if r not in classes]
    if extra:  # e.g. a 7-class matrix used for 5 classes: take the sub-matrix
        logger.info(
            "%s: using the sub-matrix of %s, leaving out %s", source, classes, extra
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


def _finish(matrix: np.ndarray, classes: Sequence[str]) -> pd.DataFrame:
    """Symmetrise, clip to [0, 1], set a unit diagonal and label."""
    matrix = np.clip((matrix + matrix.T) / 2.0, 0.0, 1.0)
    np.fill_diagonal(matrix, 1.0)
    return pd.DataFrame(matrix, index=list(classes), columns=list(classes))


def valence_arousal_similarity(
    coordinates: dict[str, Sequence[float]],
    classes: Sequence[str],
    bandwidth: float = 0.5,
) -> pd.DataFrame:
    """Similarity from per-class (valence, arousal) coordinates.

    ``S[i, j] = exp(-d_ij**2 / (2 * bandwidth**2))`` with ``d_ij`` the Euclidean
    distance between the classes' coordinates: a Gaussian kernel, 1 for identical
    coordinates and falling smoothly with distance; ``bandwidth`` sets how fast.

    Args:
        coordinates: ``class -> (valence, arousal)`` (e.g. NRC-VAD lexicon values in
            [0, 1], Mohammad 2018).
        classes: Class order of the result.
        bandwidth: Kernel width, ``> 0``.

    Raises:
        SimilarityMatrixError: If a class has no coordinates or a pair is not two
            finite numbers, or the bandwidth is not positive.
    """
    if bandwidth <= 0:
        raise SimilarityMatrixError(f"bandwidth must be > 0, got {bandwidth}")
    missing = [c for c in classes if c not in coordinates]
    if missing:
        raise SimilarityMatrixError(
            f"valence-arousal coordinates missing for class(es) {missing}"
        )
    points = []
    for name in classes:
        point = np.asarray(coordinates[name], dtype=np.float64)
        if point.shape != (2,) or not np.isfinite(point).all():
            raise SimilarityMatrixError(
                f"coordinates of {name!r} must be two finite numbers "
                f"(valence, arousal), got {coordinates[name]!r}"
            )
        points.append(point)
    points = np.stack(points)
    sq_dist = ((points[:, None, :] - points[None, :, :]) ** 2).sum(axis=-1)
    return _finish(np.exp(-sq_dist / (2.0 * bandwidth**2)), classes)


def confusion_similarity(confusion: np.ndarray, classes: Sequence[str]) -> pd.DataFrame:
    """Similarity from a confusion matrix (rows true, columns predicted).

    Rows are turned into rates (``R[i, j]`` = share of class ``i`` predicted as
    ``j``), symmetrised (``(R + R.T) / 2``) and the off-diagonal entries divided by
    their maximum, so the most confused pair gets similarity 1 and never-confused
    pairs 0; the diagonal is 1.

    Raises:
        SimilarityMatrixError: If the matrix is not square and the size of
            ``classes``, holds negative counts, or shows no confusion at all.
    """
    counts = np.asarray(confusion, dtype=np.float64)
    k = len(classes)
    if counts.shape != (k, k):
        raise SimilarityMatrixError(
            f"confusion matrix must be {k} x {k} for classes {list(classes)}, "
            f"got shape {counts.shape}"
        )
    if (counts < 0).any() or not np.isfinite(counts).all():
        raise SimilarityMatrixError("confusion counts must be finite and >= 0")
    rates = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1.0)
    symmetric = (rates + rates.T) / 2.0
    np.fill_diagonal(symmetric, 0.0)
    top = symmetric.max()
    if top <= 0:
        raise SimilarityMatrixError(
            "the confusion matrix has no off-diagonal counts; no similarity to derive"
        )
    return _finish(symmetric / top, classes)


def embedding_similarity(
    embeddings: np.ndarray, labels: np.ndarray, classes: Sequence[str]
) -> pd.DataFrame:
    """Cosine similarity between class-mean embeddings, clipped to [0, 1].

    The seed's "learned similarity", to be computed on *training* data only.

    Args:
        embeddings: ``(n, d)`` hidden-layer outputs.
        labels: ``(n,)`` integer class ids.
        classes: Class order; every class must have at least one embedding.

    Raises:
        SimilarityMatrixError: If a class has no embedding or a class mean is zero.
    """
    embeddings = np.asarray(embeddings, dtype=np.float64)
    labels = np.asarray(labels)
    means = []
    for k, name in enumerate(classes):
        members = embeddings[labels == k]
        if not len(members):
            raise SimilarityMatrixError(f"no embedding of class {name!r} to average")
        means.append(members.mean(axis=0))
    means = np.stack(means)
    norms = np.linalg.norm(means, axis=1, keepdims=True)
    if (norms == 0).any():
        bad = [classes[i] for i in np.flatnonzero(norms[:, 0] == 0)]
        raise SimilarityMatrixError(f"class-mean embedding is zero for {bad}")
    unit = means / norms
    return _finish(unit @ unit.T, classes)


def average_similarities(matrices: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Element-wise mean of labelled matrices with the same labels."""
    if not matrices:
        raise SimilarityMatrixError("no similarity matrices to average")
    labels = list(matrices[0].index)
    for m in matrices[1:]:
        if list(m.index) != labels or list(m.columns) != labels:
            raise SimilarityMatrixError(
                f"cannot average matrices with labels {list(m.index)} and {labels}"
            )
    mean = np.mean([m.to_numpy(dtype=np.float64) for m in matrices], axis=0)
    return _finish(mean, labels)
