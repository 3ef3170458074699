"""Linear reference models on the same folds as the network.

A network earns its cost only if it beats a simple, strong model on the same
inputs. The references here are class-balanced logistic regressions (scikit-learn):

* ``linear_speech``: on utterance-level acoustic statistics (the mean and standard
  deviation over the valid frames of whatever frame features the run extracted, or
  the utterance vector itself for functionals and precomputed vectors);
* ``linear_text``: on TF-IDF of the normalised transcripts (word 1–2-grams and
  character 2–5-grams within word boundaries side by side by default: words carry
  the meaning, character n-grams the morphology, in Persian and English alike);
* ``linear_fusion``: the late fusion of the two, the mean of their probabilities.

They see the fold's utterances in the same roles as the network: the
regularisation strength ``C`` is chosen from a grid by UAR over inner folds of
the training and validation parts (the data the network trains and stops on;
grouped by speaker when the folds are) and the model refitted on both, or (``selection:
validation``) fitted on the training part with ``C`` chosen on the validation
part; either way the test part is never seen before scoring.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold
from sklearn.pipeline import make_pipeline, make_union
from sklearn.preprocessing import StandardScaler

from emotion_aware_loss.config import BaselinesConfig, TfidfConfig
from emotion_aware_loss.config.layout import SPEECH, TEXT
from emotion_aware_loss.evaluation.selection import (
    Design,
    Fitted,
    Split,
    fit_best,
    one_blas_thread,
)


def acoustic_statistics(features: np.ndarray, n_frames: np.ndarray) -> np.ndarray:
    """Utterance-level statistics of ``(n, frames, features)`` acoustic arrays.

    Frame sequences give the mean and standard deviation of each feature over the
    utterance's valid frames (padding ignored); one-frame arrays (functionals,
    precomputed vectors) are returned as they are.

    Returns:
        ``(n, features)`` or ``(n, 2 * features)`` float64 array.
    """
    if features.shape[1] == 1:
        return features[:, 0, :].astype(np.float64)
    valid = (np.arange(features.shape[1])[None, :] < n_frames[:, None])[..., None]
    count = np.maximum(valid.sum(axis=1), 1)
    mean = np.where(valid, features, 0.0).sum(axis=1) / count
    var = np.where(valid, (features - mean[:, None, :]) ** 2, 0.0).sum(axis=1) / count
    return np.concatenate([mean, np.sqrt(var)], axis=1)


@dataclass(frozen=True)
class FoldData:
    """One fold's inputs of one kind, split by role."""

    train: object
    validation: object
    test: object


class RowSpace(BaseEstimator, TransformerMixin):
    """Coordinates in the span of the training rows (fewer rows than features).

    An L2-penalised linear model's weights lie in the span of its training rows: a
    component orthogonal to all of them changes no training prediction and only
    adds to the penalty. So logistic regression on these coordinates (``n``
    values instead of ``d > n``) finds the same model, faster; with at least as
    many rows as features the data pass through unchanged.

    A sparse matrix (TF-IDF) is mapped only where its coordinates, ``n`` dense
    values a row, are at most ``max_density`` times its stored values (the ratio
    is ``n`` over the mean stored values per row: 3.8–5.7 for the demo's
    transcripts; a corpus of thousands of transcripts stays sparse). Its basis
    comes from the eigenvectors of the rows' Gram matrix (``n × n``), not from an
    SVD of the ``n × d`` matrix made dense. The coordinates are orthogonal, so a
    diagonal preconditioner is exact for their Gram matrix: the convex fit takes
    about half the iterations on them that it takes on the sparse TF-IDF
    (benchmarks/RESULTS.md, section 19).
    """

    def __init__(self, max_density: float = 0.0) -> None:
        self.max_density = max_density

    def fit(self, x: object, y: object = None) -> RowSpace:
        n, d = x.shape
        if n >= d:
            self.basis_ = None
        elif scipy.sparse.issparse(x):
            self.basis_ = (
                _sparse_row_basis(x) if n * n <= self.max_density * x.nnz else None
            )
        else:
            x = np.asarray(x, dtype=np.float64)
            _, singular, rows = np.linalg.svd(x, full_matrices=False)
            keep = singular > singular.max() * max(x.shape) * np.finfo(float).eps
            self.basis_ = rows[keep].T
        return self

    def transform(self, x: object) -> object:
        if not scipy.sparse.issparse(x):
            x = np.asarray(x, dtype=np.float64)
        return x if self.basis_ is None else np.asarray(x @ self.basis_)


def _sparse_row_basis(x: scipy.sparse.spmatrix) -> np.ndarray:
    """``(d, r)`` orthonormal basis of the span of ``x``'s rows, ``Xᵀ U Λ^-½`` from
    the eigenpairs ``(Λ, U)`` of ``X Xᵀ``; directions whose singular value is
    below ``sqrt(n ε)`` of the largest, which the eigenvalues do not resolve, are
    left out."""
    x = scipy.sparse.csr_matrix(x, dtype=np.float64)
    values, vectors = np.linalg.eigh((x @ x.T).toarray())
    keep = values > values.max() * x.shape[0] * np.finfo(float).eps
    return np.asarray(x.T @ (vectors[:, keep] / np.sqrt(values[keep])))


def _inner_splits(
    labels: np.ndarray, groups: np.ndarray | None, config: BaselinesConfig, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified (and, with ``groups``, grouped) inner folds; [] if none fit."""
    counts = np.bincount(labels)
    n_splits = min(config.inner_folds, int(counts[counts > 0].min()))
    if groups is not None:
        n_splits = min(n_splits, len(np.unique(groups)))
    if n_splits < 2:
        return []
    if groups is None:
        splitter = StratifiedKFold(n_splits, shuffle=True, random_state=seed)
    else:
        splitter = StratifiedGroupKFold(n_splits, shuffle=True, random_state=seed)
    return list(splitter.split(labels, labels, groups))


@one_blas_thread
def design(
    features: TransformerMixin,
    data: FoldData,
    labels: FoldData,
    config: BaselinesConfig,
    seed: int,
    name: str,
    groups: FoldData | None = None,
) -> Design:
    """``features`` (scaler, TF-IDF: unfitted) fitted and applied for each split
    that chooses ``C`` and for the final fit.

    ``config.selection``: ``validation`` fits on the training part and scores on
    the validation part (the final fit then uses the training part alone);
    ``cross_validation`` scores on inner folds of the training and validation parts
    together (grouped by ``groups``, the speakers, when given), the final fit
    uses both. The feature step is fitted on each split's fitting rows only.
    """
    try:
        if config.selection == "validation" or not len(labels.validation):
            pool, pool_labels = data.train, labels.train
            pairs = (
                [(np.arange(len(labels.train)), None)] if len(labels.validation) else []
            )
        else:
            pool = np.concatenate([np.asarray(data.train), np.asarray(data.validation)])
            pool_labels = np.concatenate([labels.train, labels.validation])
            pool_groups = (
                np.concatenate([groups.train, groups.validation])
                if groups is not None
                else None
            )
            pairs = _inner_splits(pool_labels, pool_groups, config, seed)
        splits = []
        for fit_rows, score_rows in pairs:
            if score_rows is None:  # the validation part scores
                train = (data.train, labels.train)
                held = (data.validation, labels.validation)
                rows = len(labels.train) + np.arange(len(labels.validation))
            else:
                train = (pool[fit_rows], pool_labels[fit_rows])
                held = (pool[score_rows], pool_labels[score_rows])
                rows = score_rows
            fitted = clone(features)
            splits.append(
                Split(
                    fitted.fit_transform(*train),
                    train[1],
                    fitted.transform(held[0]),
                    held[1],
                    rows,
                )
            )
        x_pool = features.fit_transform(pool, pool_labels)
    except ValueError as exc:  # e.g. no n-gram left after min_df
        raise ValueError(f"{name} baseline cannot be fitted: {exc}") from exc
    return Design(splits, x_pool, pool_labels, features.transform(data.test))


def speech_features() -> TransformerMixin:
    """Standardised acoustic statistics in row-space coordinates, unfitted."""
    return make_pipeline(StandardScaler(), RowSpace())


def speech_baseline(
    statistics: FoldData,
    labels: FoldData,
    config: BaselinesConfig,
    n_classes: int,
    seed: int,
    speakers: FoldData | None = None,
    model: BaseEstimator | None = None,
    name: str = SPEECH,
) -> Fitted:
    """Standardised acoustic statistics -> balanced logistic regression (or
    ``model``, e.g. a :class:`~emotion_aware_loss.models.softmax_regression.SoftmaxRegression`
    with a loss of the family).

    ``speakers`` (the folds are speaker-independent) group the inner folds that
    choose ``C``.
    """
    inputs = design(speech_features(), statistics, labels, config, seed, name, speakers)
    return fit_best(inputs, config, n_classes, seed, name, model)


SPARSE_ROW_SPACE = 8.0
"""The convex fit's TF-IDF is mapped to row-space coordinates where they are at
most this many times its stored values (:class:`RowSpace`)."""


def tfidf_features(
    blocks: list[TfidfConfig], max_density: float = 0.0
) -> TransformerMixin:
    """TF-IDF of each block (word, character n-grams) side by side, unfitted; in
    row-space coordinates where they are at most ``max_density`` times its
    stored values (0: kept sparse, as scikit-learn's baseline keeps it)."""
    vectorizers = [
        TfidfVectorizer(
            analyzer=block.analyzer,
            ngram_range=tuple(block.ngram_range),
            min_df=block.min_df,
            max_features=block.max_features,
            sublinear_tf=block.sublinear_tf,
            # transcripts are already normalised (and case-folded if asked)
            lowercase=False,
            **({"token_pattern": r"\S+"} if block.analyzer == "word" else {}),
        )
        for block in blocks
    ]
    tfidf = vectorizers[0] if len(vectorizers) == 1 else make_union(*vectorizers)
    if max_density:
        return make_pipeline(tfidf, RowSpace(max_density))
    return tfidf


def text_baseline(
    texts: FoldData,
    labels: FoldData,
    config: BaselinesConfig,
    n_classes: int,
    seed: int,
    speakers: FoldData | None = None,
    model: BaseEstimator | None = None,
    name: str = TEXT,
) -> Fitted:
    """TF-IDF of the transcripts (fitted on training data) -> logistic regression
    (or ``model``, as in :func:`speech_baseline`).

    ``speakers`` (the folds are speaker-independent) group the inner folds that
    choose ``C``.
    """
    inputs = design(
        tfidf_features(config.text), texts, labels, config, seed, name, speakers
    )
    return fit_best(inputs, config, n_classes, seed, name, model)
