"""A linear model on a fold's design, its ``C`` chosen from a grid by UAR over
the design's splits (inner folds, or the validation part) and refitted on the
pool: the selection every linear model of the project goes through, scikit-learn's
logistic regression (the baselines) and the loss family's softmax regression
alike. The independent fits of a grid can run side by side on threads
(:func:`fit_each`)."""

from __future__ import annotations

import functools
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from emotion_aware_loss.config import BaselinesConfig

logger = logging.getLogger(__name__)


def one_blas_thread(func):
    """Run ``func`` with one BLAS/OpenMP thread: the matrices of a corpus of a few
    hundred utterances are small, and on two cores the threads made each fit
    about seven times slower (benchmarks/RESULTS.md, section 10)."""

    @functools.wraps(func)
    def limited(*args, **kwargs):
        with threadpool_limits(1):
            return func(*args, **kwargs)

    return limited


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


def _logistic_regression(config: BaselinesConfig, seed: int) -> LogisticRegression:
    # Warm starts: along the increasing C grid each fit starts from the last.
    return LogisticRegression(
        class_weight="balanced",
        max_iter=config.max_iter,
        random_state=seed,
        warm_start=True,
    )


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
    return fit_each({name: design}, config, n_classes, seed, model)[name]


@one_blas_thread
def fit_each(
    designs: dict[str, Design],
    config: BaselinesConfig,
    n_classes: int,
    seed: int,
    model: BaseEstimator | None = None,
    threads: int = 1,
    name: str | None = None,
) -> dict[str, Fitted]:
    """:func:`fit_best` on each design (named by its key, or all by ``name``): the
    grid of ``C`` on every split of every design, then each design's refit, on
    ``threads`` threads.

    The fits are independent chains (each split warm-starts along the grid), so
    the result is the same on any number of threads. Threads pay only where a fit
    releases Python's lock for most of its time, as the compiled solver of
    :class:`~emotion_aware_loss.models.softmax_regression.SoftmaxRegression` does;
    through SciPy's L-BFGS-B, which holds it between the products, two threads
    were no faster than one (benchmarks/RESULTS.md, section 26), so the
    scikit-learn baselines run on one.
    """
    unfitted = model if model is not None else _logistic_regression(config, seed)
    # Each worker limits its own BLAS/OpenMP pools to one thread: the limit of
    # ``one_blas_thread`` is per thread wherever a library allows (OpenMP), so the
    # calling thread's would not reach the workers; process-wide ones (OpenBLAS's
    # pthreads) are restored when ``one_blas_thread`` exits.
    with ThreadPoolExecutor(
        max(threads, 1), initializer=threadpool_limits, initargs=(1,)
    ) as pool:
        grids = {
            key: [
                pool.submit(_grid_scores, split, config, unfitted, n_classes)
                for split in design.splits
            ]
            for key, design in designs.items()
        }
        refits = {
            key: pool.submit(
                _refit,
                design,
                [future.result() for future in grids[key]],
                config,
                unfitted,
                n_classes,
                name or key,
            )
            for key, design in designs.items()
        }
        return {key: future.result() for key, future in refits.items()}


def _refit(  # noqa: PLR0913
    design: Design,
    grids: list[tuple[np.ndarray, list[np.ndarray]]],
    config: BaselinesConfig,
    unfitted: BaseEstimator,
    n_classes: int,
    name: str,
) -> Fitted:
    """``unfitted`` at the ``C`` of the best mean UAR over the splits' ``grids``
    (UARs and held-out probabilities per C), refitted on the pool."""
    scores = [uars for uars, _ in grids]
    held_out = [probabilities for _, probabilities in grids]
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
