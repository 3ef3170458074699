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

import functools
import logging
from dataclasses import dataclass

import numpy as np
import scipy.sparse
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold
from sklearn.pipeline import make_pipeline, make_union
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from emotion_aware_loss.config import BaselinesConfig, TfidfConfig
from emotion_aware_loss.config.layout import SPEECH, TEXT

logger = logging.getLogger(__name__)


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


def _uar(labels: np.ndarray, predicted: np.ndarray) -> float:
    """scikit-learn's macro recall (``recall_score(labels, predicted,
    average="macro", zero_division=0)``: over the classes among the labels and the
    predictions, 0 for a class never true), from counts. The inner folds score
    every ``C`` with it; scikit-learn's checks of its arguments took ~4 ms a call,
    a quarter of a convex fit on the demo corpus."""
    classes, index = np.unique(np.concatenate([labels, predicted]), return_inverse=True)
    true, guessed = index[: len(labels)], index[len(labels) :]
    support = np.bincount(true, minlength=len(classes))
    hits = np.bincount(true[true == guessed], minlength=len(classes))
    recall = np.divide(hits, support, out=np.zeros(len(classes)), where=support > 0)
    return float(recall.mean())


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


def _logistic_regression(config: BaselinesConfig, seed: int) -> LogisticRegression:
    # Warm starts: along the increasing C grid each fit starts from the last.
    return LogisticRegression(
        class_weight="balanced",
        max_iter=config.max_iter,
        random_state=seed,
        warm_start=True,
    )


@dataclass(frozen=True)
class Fitted:
    """A linear model's class probabilities on a fold's test part, and on the
    held-out rows that chose its ``C`` (the inner folds' or the validation part's,
    from models that did not train on them) with their labels: what calibrates
    it. ``held_out`` is None when nothing was held out; ``held_out_rows`` are
    its rows' positions in the training and validation parts, concatenated.
    ``converged``: whether the final fit met its solver's criterion (a
    :class:`~emotion_aware_loss.models.softmax_regression.SoftmaxRegression`'s
    ``converged_``; None for a model that does not say)."""

    test: np.ndarray
    held_out: tuple[np.ndarray, np.ndarray] | None = None
    held_out_rows: np.ndarray | None = None
    converged: bool | None = None


def _probabilities_of(model: BaseEstimator, x: object, n_classes: int) -> np.ndarray:
    """``(n, n_classes)`` probabilities (0 for a class the model never saw)."""
    probabilities = np.zeros((x.shape[0], n_classes))
    probabilities[:, model.classes_] = model.predict_proba(x)
    return probabilities


def _grid_scores(
    split: Split, config: BaselinesConfig, model: BaseEstimator, n_classes: int
) -> tuple[np.ndarray, list[np.ndarray]]:
    """UAR on ``split``'s held-out rows of ``model`` fitted on its fitting rows, and
    its class probabilities there, per C of the grid (``model`` warm-starts along
    it)."""
    model = clone(model)
    uars = np.zeros(len(config.c_grid))
    probabilities: list[np.ndarray] = [np.empty(0)] * len(config.c_grid)
    for i in np.argsort(config.c_grid):
        model.set_params(C=config.c_grid[i]).fit(split.x_fit, split.y_fit)
        probabilities[i] = _probabilities_of(model, split.x_held, n_classes)
        uars[i] = _uar(split.y_held, probabilities[i].argmax(axis=1))
    return uars, probabilities


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


def _one_blas_thread(func):
    """Run ``func`` with one BLAS/OpenMP thread: the matrices of a corpus of a few
    hundred utterances are small, and on two cores the threads made each fit
    about seven times slower (benchmarks/RESULTS.md, section 10)."""

    @functools.wraps(func)
    def limited(*args, **kwargs):
        with threadpool_limits(1):
            return func(*args, **kwargs)

    return limited


@dataclass(frozen=True)
class Split:
    """One split that scores the grid of ``C``: the features fitted on its fitting
    rows, both parts transformed by them, and the held-out rows' positions in the
    training and validation parts (concatenated)."""

    x_fit: object
    y_fit: np.ndarray
    x_held: object
    y_held: np.ndarray
    rows: np.ndarray


@dataclass(frozen=True)
class Design:
    """A fold's inputs to a linear model, transformed once for every model fitted
    on them (the baseline and each loss of the family): the splits that choose
    ``C``, and the training and validation parts together (``pool``) with the test
    part, transformed by features fitted on the pool."""

    splits: list[Split]
    x_pool: object
    y_pool: np.ndarray
    x_test: object


@_one_blas_thread
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


@_one_blas_thread
def fit_best(
    design: Design,
    config: BaselinesConfig,
    n_classes: int,
    seed: int,
    name: str,
    model: BaseEstimator | None = None,
) -> Fitted:
    """A balanced logistic regression on ``design`` with ``C`` chosen from the grid
    by its mean UAR over the design's splits (or ``model``, a classifier with ``C``
    and ``warm_start``, chosen the same way), refitted on the pool.

    Returns:
        The class probabilities of the test part, and of the held-out rows at the
        chosen C (the inner folds', or the validation part's).
    """
    unfitted = model if model is not None else _logistic_regression(config, seed)
    scores, held_out = [], []
    for split in design.splits:
        uars, probabilities = _grid_scores(split, config, unfitted, n_classes)
        scores.append(uars)
        held_out.append(probabilities)
    # Without scores (no validation part, a one-class one) the first C stands.
    mean = np.mean(scores, axis=0) if scores else np.zeros(len(config.c_grid))
    best = int(np.argmax(mean))
    model = clone(unfitted).set_params(C=config.c_grid[best])
    try:
        model.fit(design.x_pool, design.y_pool)
    except ValueError as exc:
        raise ValueError(f"{name} baseline cannot be fitted: {exc}") from exc
    logger.info(
        "%s: C=%g (%s UAR %.4f)",
        name,
        model.C,
        "validation" if config.selection == "validation" else "inner-fold",
        mean[best],
    )
    converged = getattr(model, "converged_", None)
    if converged is False:
        logger.warning(
            "%s: the final fit (C=%g) did not converge (%d L-BFGS iterations%s)",
            name,
            model.C,
            int(model.n_iter_[0]),
            f", {model.n_rounds_} fixed-point rounds: where the predictions "
            "cycle, the round with the lowest loss is kept"
            if model.n_rounds_
            else "",
        )
    test = _probabilities_of(model, design.x_test, n_classes)
    if not held_out:
        return Fitted(test, converged=converged)
    return Fitted(
        test,
        (
            np.concatenate([p[best] for p in held_out]),
            np.concatenate([split.y_held for split in design.splits]),
        ),
        np.concatenate([split.rows for split in design.splits]),
        converged,
    )


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
