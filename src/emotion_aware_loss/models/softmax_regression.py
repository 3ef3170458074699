"""A softmax regression fitted the way scikit-learn fits its logistic regression,
with any loss of the family.

scikit-learn's ``LogisticRegression`` (multinomial, ``lbfgs``) minimises

    (1 / Σ s_i) · Σ s_i · CE_i  +  ‖W‖² / (2 C Σ s_i)

over the coefficients ``W`` (one row per class) and an unpenalised intercept,
``s_i`` each utterance's weight (its class's, with ``class_weight="balanced"``),
by full-batch L-BFGS (scipy's, ``gtol = tol``, ``ftol = 64 ε``, 50 line-search
steps). :class:`SoftmaxRegression` minimises the same objective with ``CE_i``
replaced by the loss a variant names (:data:`emotion_aware_loss.losses.family.LOSS_REGISTRY`,
the very functions a network trains with, differentiated by TensorFlow in float64),
so ``loss="cross_entropy"`` finds scikit-learn's model (a test holds it to its
coefficients and probabilities), and every other loss its own model on the same
footing: the answer to "does the loss help a linear model?" on the strong one,
not on a softmax regression trained with Adam and early stopping (RESULTS 10.3b).

``sim_loss`` is not convex in ``W`` (a difference of convex functions); L-BFGS
finds a local minimum from zero coefficients, as the network's optimiser does.
``emotion_aware`` and ``seed_weighted`` are cross-entropy weighted by the current
prediction, with no gradient through the weight (their registered
``prediction_weight``): their value jumps wherever a prediction changes, so
L-BFGS on it mistakes the jumps for curvature. They are solved as a fixed point
instead: cross-entropy weighted with the predictions held (a convex fit), the
predictions recomputed, again until they no longer change, where the loss's
gradient is zero. Where a mistake weighs more than the correct prediction
(``emotion_aware``), a few utterances flip between right and wrong round after
round and no fixed point exists; the fit stops when the predictions repeat and
keeps the round with the lowest value of the loss itself (``converged_`` False).

**Preconditioning.** L-BFGS runs on the coefficients divided by the square root of
a diagonal estimate of the objective's curvature (Jacobi's preconditioner): feature
``j`` is scaled by ``1 / sqrt(h · Σ s_i x_ij² / Σ s_i + penalty)``, ``h`` =
:data:`CURVATURE` (a softmax's curvature is at most 1/2, typically much less), the
intercept by ``1 / sqrt(h)``. The minimum is the same; the path to it is not. A fit
stops by scikit-learn's criterion, every component of the unscaled gradient within
``tol`` (checked after each iteration). On row-space coordinates (the standardised
statistics; TF-IDF in the family's fits), whose Gram matrix is diagonal, the
estimate is exact but for the softmax's part, and a fit takes 4–16 times fewer
iterations than scikit-learn's path (benchmarks/RESULTS.md, sections 18 and 19).
``precondition=False`` with ``solver="scipy"`` follows scikit-learn's path (its
iterates, to round-off).

**Cost.** A loss that declares its ``targets`` (cross-entropy against a fixed
distribution of the true class: ``cross_entropy``, ``soft_target``, and so the
fixed point's rounds), and with them an ``expected_cost`` (``expected_cost``), or
its ``mass`` (``sim_loss``), is a :class:`~emotion_aware_loss.models.compiled_lbfgs.Term`
of arrays computed once per fit; a test holds the declarations to the registered
function. Such a fit, on dense inputs or sparse (CSR: MELD's TF-IDF), is one
call of :func:`~emotion_aware_loss.models.compiled_lbfgs.minimise`
(``solver="compiled"``, the default): L-BFGS, the term and the products compiled
by Numba (a call of the objective 0.13–0.15 ms on the demo's 426 × 425 inputs,
~0.45 ms through SciPy), and free of Python's lock, so a grid's independent fits
share the cores (RESULTS.md, sections 26 and 28). With ``solver="scipy"``, or for
a loss registered without a declaration (its value and gradient with respect to
the ``n × K`` logits then come from TensorFlow, one traced graph per loss),
SciPy's L-BFGS-B drives the objective, with the products NumPy's or SciPy's.

Two classes or more. With two, scikit-learn fits one logistic row ``w`` where the
softmax has two, ``w / 2`` and ``−w / 2`` at the optimum, whose penalty is half of
``w``'s: the model is scikit-learn's binary one at twice the ``C`` (a test).

Longer than most modules: the objective, the solver loop and the fixed point are
parts of this one estimator, used by nothing else.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
import scipy.optimize
import scipy.sparse
import tensorflow as tf
from scipy.special import logsumexp, softmax
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.class_weight import compute_class_weight

from emotion_aware_loss.losses.family import (
    RegisteredLoss,
    own_hyper_parameters,
    registered,
)
from emotion_aware_loss.models import compiled_lbfgs
from emotion_aware_loss.models.compiled_lbfgs import MASS, TARGETS, Solution, Term

CURVATURE = 0.1
MAX_ROUNDS = 50
"""Fixed-point rounds at most for a loss with a prediction weight."""
ROUND_LOSS = "cross_entropy"
"""What each fixed-point round minimises, weighted by the predictions held: the
loss whose path (compiled or not) a prediction-weighted loss's fit takes."""
SOLVERS = ("compiled", "scipy")
"""``compiled``: :func:`emotion_aware_loss.models.compiled_lbfgs.minimise` where it
applies (a loss with a declared term), SciPy's L-BFGS-B elsewhere;
``scipy``: SciPy's L-BFGS-B always."""


def _compiled(solver: str, loss: RegisteredLoss) -> bool:
    """Whether ``solver`` minimises ``loss`` by compiled code: a declared term
    (``targets``, ``mass``), on dense or sparse inputs."""
    return solver == "compiled" and (loss.targets is not None or loss.mass is not None)


def _check_loss(loss: str, hyper: dict[str, float]) -> None:
    declared = registered(loss).hyper
    if unknown := sorted(set(hyper) - set(declared)):
        raise ValueError(
            f"loss {loss!r} takes {list(declared) or 'no hyper-parameters'}, "
            f"not {unknown}"
        )
    for key, value in hyper.items():
        if (problem := declared[key].check(value)) is not None:
            raise ValueError(f"{key} {problem}")


@functools.cache
def _loss_and_gradient(
    function: Callable[..., tf.Tensor], hyper_names: tuple[str, ...]
) -> Callable[..., tuple[tf.Tensor, tf.Tensor]]:
    """The weighted mean of a registered loss's per-utterance ``function`` and its
    gradient with respect to the logits, as a TensorFlow graph traced once per
    function (the registry's, so a name registered again gets its own graph) and
    hyper-parameter names, for any number of utterances and classes, called with
    tensors only.

    Only the loss is TensorFlow's: the logits ``x Wᵀ + b`` and the chain rule's
    ``Gᵀ x`` are two skinny products (``K`` columns) that NumPy, or SciPy on
    sparse TF-IDF, computes in a third of the time TensorFlow takes for them
    (0.10 against 0.34 ms on 426 × 425 inputs; RESULTS.md, section 19)."""

    def loss_and_gradient(logits, labels, sample, similarity, *hyper):
        with tf.GradientTape() as tape:
            tape.watch(logits)
            per_utterance = function(
                labels,
                logits,
                similarity,
                from_logits=True,
                **dict(zip(hyper_names, hyper, strict=True)),
            )
            value = tf.reduce_sum(sample * per_utterance) / tf.reduce_sum(sample)
        return value, tape.gradient(value, logits)

    matrix = tf.TensorSpec([None, None], tf.float64)
    return tf.function(loss_and_gradient).get_concrete_function(
        matrix,
        tf.TensorSpec([None], tf.int32),
        tf.TensorSpec([None], tf.float64),
        matrix,
        *(tf.TensorSpec([], tf.float64) for _ in hyper_names),
    )


def _tensorflow_term(
    function: Callable[..., tf.Tensor],
    hyper: dict[str, float],
    labels: np.ndarray,
    sample: np.ndarray,
    similarity: np.ndarray,
) -> Callable[[np.ndarray], tuple[float, np.ndarray]]:
    """Logits -> the weighted mean of the registered ``function`` and its gradient
    with respect to the logits, by the loss's traced graph."""
    names = tuple(sorted(hyper))
    graph = _loss_and_gradient(function, names)
    arguments = (
        tf.constant(labels, tf.int32),
        tf.constant(sample),
        tf.constant(similarity),
        *(tf.constant(float(hyper[key]), tf.float64) for key in names),
    )

    def term(logits: np.ndarray) -> tuple[float, np.ndarray]:
        value, gradient = graph(tf.constant(logits), *arguments)
        return float(value), gradient.numpy()

    return term


def _target_term(
    targets: np.ndarray, sample: np.ndarray, cost: np.ndarray | None = None
) -> Term:
    """Logits -> the mean over rows, weighted by ``sample``, of the cross-entropy
    against ``targets`` (one distribution per row) plus the expected ``cost``
    ``Σ_j p_j cost_j`` (one cost per row and class; None: none), and its gradient
    ``(p - targets) + p (cost - Σ_j p_j cost_j)`` times each row's share of the
    weight: a registered loss's declared ``targets`` and ``expected_cost``,
    computed by compiled code without a TensorFlow call per step. The targets and
    costs times the shares are computed once, not per call."""
    share = sample / sample.sum()
    return Term(
        TARGETS,
        share,
        np.ascontiguousarray(share[:, None] * targets),
        np.zeros((0, 0))
        if cost is None
        else np.ascontiguousarray(share[:, None] * cost),
        0.0,
    )


def _mass_term(weights: np.ndarray, sample: np.ndarray, epsilon: float) -> Term:
    """Logits -> the mean over rows, weighted by ``sample``, of ``-log m`` with
    ``m = Σ_j weights_j p_j`` (one row of weights per utterance) clipped to
    ``[epsilon, 1]``, and its gradient ``p - weights ⊙ p / m`` (zero where ``m``
    is clipped, as TensorFlow's clip passes none) times each row's share of the
    weight: a registered loss's declared ``mass``, by compiled code."""
    return Term(
        MASS,
        sample / sample.sum(),
        np.ascontiguousarray(weights, dtype=np.float64),
        np.zeros((0, 0)),
        float(epsilon),
    )


class _Objective:
    """The penalised objective of :class:`SoftmaxRegression` and its gradient over
    the flat parameters (each class's coefficients, then its intercept), with the
    last point's unscaled gradient kept for the stopping rule. ``x_t``: ``x``
    transposed (CSR where ``x`` is sparse); ``term``: logits -> the data term's
    value and its gradient with respect to them."""

    def __init__(
        self,
        x: Any,
        x_t: Any,
        penalty: float,
        term: Callable[[np.ndarray], tuple[float, np.ndarray]],
        factor: float,
        shape: tuple[int, int],
    ) -> None:
        self.x = x
        self.x_t = x_t
        self.shape = shape
        self.penalty = penalty
        self.term = term
        self.factor = factor
        self.point, self.gradient = None, np.zeros(shape)

    def __call__(self, flat: np.ndarray) -> tuple[float, np.ndarray]:
        w = flat.reshape(self.shape)
        coef = w[:, :-1]
        value, dlogits = self.term(_logits(self.x, coef, w[:, -1]))
        dlogits = self.factor * dlogits  # not in place: a TensorFlow term's array
        gradient = np.empty(self.shape)
        gradient[:, :-1] = np.asarray(self.x_t @ dlogits).T
        gradient[:, :-1] += self.penalty * coef
        gradient[:, -1] = dlogits.sum(axis=0)
        self.point, self.gradient = flat, gradient
        squares = float(np.vdot(coef, coef))
        return self.factor * value + 0.5 * self.penalty * squares, gradient


def _lbfgs(
    problem: _Objective, scale: np.ndarray, start: np.ndarray, max_iter: int, tol: float
) -> Solution:
    """``problem``'s minimum from ``start`` by scipy's L-BFGS on the coefficients
    divided by ``scale``; converged where it met scikit-learn's criterion (every
    gradient component within ``tol``) or SciPy's own."""
    converged = False

    def objective(scaled: np.ndarray) -> tuple[float, np.ndarray]:
        value, gradient = problem(scaled * scale)
        return value, gradient.ravel() * scale

    def stop(scaled: np.ndarray) -> None:
        # scikit-learn's criterion on the unscaled gradient, at the iterate just
        # accepted (the line search's last point)
        nonlocal converged
        if (
            np.array_equal(scaled * scale, problem.point)
            and np.abs(problem.gradient).max() <= tol
        ):
            converged = True
            raise StopIteration

    scaled = not np.all(scale == 1.0)
    result = scipy.optimize.minimize(
        objective,
        start.ravel() / scale,
        jac=True,
        method="L-BFGS-B",
        # scaled, the gradient L-BFGS sees says nothing of scikit-learn's
        # criterion: the callback checks it; unscaled, L-BFGS's own test is it
        callback=stop if scaled else None,
        options={
            "maxiter": max_iter,
            "maxls": 50,
            "gtol": 0.0 if scaled else tol,
            "ftol": 64 * np.finfo(float).eps,
        },
    )
    w = (result.x * scale).reshape(problem.shape)
    return Solution(
        w, int(result.nit), bool(result.success) or converged, int(result.nfev)
    )


def _logits(x: Any, coef: np.ndarray, intercept: np.ndarray) -> np.ndarray:
    """``x coefᵀ + intercept``, ``x`` dense or a SciPy sparse matrix.

    ``coefᵀ`` is copied to a C-ordered ``d × K`` block first: OpenBLAS multiplies a
    C-ordered ``n × d`` input by it in under half the time it takes with the
    transposed (Fortran-ordered) view of ``coef`` (0.055 against 0.13 ms on
    426 × 426 inputs, five classes, one thread; RESULTS.md, section 22)."""
    return np.asarray(x @ np.ascontiguousarray(coef.T)) + intercept


def _argmax(x: Any, w: np.ndarray) -> np.ndarray:
    """Each row's predicted class (first of ties) under coefficients ``w``
    (each class's, then its intercept)."""
    return np.argmax(_logits(x, w[:, :-1], w[:, -1]), axis=1)


def _jacobi_scale(
    x: Any, weights: np.ndarray, penalty: float, n_classes: int
) -> np.ndarray:
    """Each coefficient's scale (flat, class by class, intercepts last in each
    row): one over the square root of the objective's estimated curvature along it."""
    if scipy.sparse.issparse(x):
        squares = np.asarray(x.multiply(x).T @ weights).ravel()
    else:
        squares = np.square(x).T @ weights
    curvature = CURVATURE * squares / weights.sum() + penalty
    row = np.append(1.0 / np.sqrt(curvature), 1.0 / np.sqrt(CURVATURE))
    return np.tile(row, n_classes)


@dataclass(frozen=True)
class _Problem:
    """One fit's data: inputs, renumbered labels, class weights, the similarity
    over the fit's classes, the penalty, the preconditioner and L-BFGS's limits."""

    x: Any
    labels: np.ndarray
    weights: np.ndarray
    similarity: np.ndarray
    penalty: float
    scale: np.ndarray
    max_iter: int
    tol: float
    solver: str

    @property
    def shape(self) -> tuple[int, int]:
        return (self.similarity.shape[0], self.x.shape[1] + 1)

    @functools.cached_property
    def x_t(self) -> Any:
        """The inputs transposed, once per fit for every objective built on them
        (a fixed point builds two a round; a sparse transpose is a copy, a dense
        one C-ordered for the compiled solver)."""
        if scipy.sparse.issparse(self.x):
            return self.x.T.tocsr()
        return np.ascontiguousarray(self.x.T) if self.solver == "compiled" else self.x.T

    def _objective(
        self, loss: RegisteredLoss, sample: np.ndarray, hyper: dict[str, float]
    ) -> _Objective:
        if loss.targets is not None:
            targets = np.asarray(loss.targets(self.similarity, **hyper))
            cost = (
                None
                if loss.expected_cost is None
                else np.asarray(loss.expected_cost(self.similarity, **hyper))[
                    self.labels
                ]
            )
            term = _target_term(targets[self.labels], sample, cost)
        elif loss.mass is not None:
            weights = np.asarray(loss.mass(self.similarity, **hyper))[self.labels]
            term = _mass_term(weights, sample, keras.config.epsilon())
        else:
            term = _tensorflow_term(
                loss.function, hyper, self.labels, sample, self.similarity
            )
        return _Objective(
            self.x,
            self.x_t,
            self.penalty,
            term,
            # the data term weighs as the class weights sum (the stated
            # objective), whatever ``sample`` sums to
            float(sample.sum() / self.weights.sum()),
            self.shape,
        )

    def minimise(
        self,
        loss: RegisteredLoss,
        sample: np.ndarray,
        hyper: dict[str, float],
        start: np.ndarray,
    ) -> Solution:
        """The minimum of ``loss``'s mean weighted by ``sample`` plus the
        penalty, from ``start``."""
        objective = self._objective(loss, sample, hyper)
        if _compiled(self.solver, loss):
            return compiled_lbfgs.minimise(
                self.x,
                self.x_t,
                objective.term,
                objective.penalty,
                objective.factor,
                self.scale,
                start,
                self.max_iter,
                self.tol,
            )
        return _lbfgs(objective, self.scale, start, self.max_iter, self.tol)

    def stated(self, cost: np.ndarray, w: np.ndarray, logits: np.ndarray) -> float:
        """The penalised objective of the loss that weighs cross-entropy by
        ``cost[true, predicted]``, at coefficients ``w`` whose logits on the
        inputs are ``logits`` (computed once for the predictions and the value):
        the loss's own value there (its weight is constant between prediction
        changes), in NumPy."""
        sample = self.weights * cost[self.labels, np.argmax(logits, axis=1)]
        rows = np.arange(len(self.labels))
        cross_entropy = logsumexp(logits, axis=1) - logits[rows, self.labels]
        value = float(np.vdot(sample, cross_entropy)) / float(self.weights.sum())
        return value + 0.5 * self.penalty * float(np.vdot(w[:, :-1], w[:, :-1]))

    def fixed_point(self, cost: np.ndarray, start: np.ndarray) -> tuple[Solution, int]:
        """A loss that is cross-entropy weighted by ``cost[true, predicted]`` with
        no gradient through the weight (a registered ``prediction_weight``):
        cross-entropy weighted with the predictions held, solved round by round
        until they no longer change. Returns the solution (iterations and calls
        of all rounds; converged where a fixed point was reached) and the rounds.

        The loss's gradient is zero exactly at a fixed point. Where there is none
        (an utterance whose mistake weighs more than its correct prediction flips
        back and forth, as ``emotion_aware``'s do), the predictions come back to
        an earlier set; the fit stops there (or after :data:`MAX_ROUNDS`) with
        the coefficients of the round whose value of the loss itself (weights of
        its own predictions) was lowest, and is not converged."""
        round_loss = registered(ROUND_LOSS)
        cost = np.asarray(cost, dtype=np.float64)
        # from zero coefficients every logit ties: start as if every prediction
        # were right (the weight of a correct one)
        predicted = self.labels if not start.any() else _argmax(self.x, start)
        seen = {predicted.tobytes()}
        w, iterations, calls = start, 0, 0
        best, lowest = start, np.inf
        for rounds in range(1, MAX_ROUNDS + 1):
            sample = self.weights * cost[self.labels, predicted]
            if not sample.any():  # every utterance weighs nothing
                return Solution(np.zeros(self.shape), iterations, True, calls), rounds
            w, steps, converged, more = self.minimise(round_loss, sample, {}, w)
            iterations, calls = iterations + steps, calls + more
            logits = _logits(self.x, w[:, :-1], w[:, -1])
            now = np.argmax(logits, axis=1)
            if np.array_equal(now, predicted):
                return Solution(w, iterations, converged, calls), rounds
            value = self.stated(cost, w, logits)
            if value < lowest:
                best, lowest = w, value
            if now.tobytes() in seen:  # a cycle
                break
            seen.add(now.tobytes())
            predicted = now
        return Solution(best, iterations, False, calls), rounds


class SoftmaxRegression(ClassifierMixin, BaseEstimator):
    """L2-penalised softmax regression with a loss of the family, fitted by L-BFGS.

    Args:
        loss: A name in :data:`emotion_aware_loss.losses.family.LOSS_REGISTRY`.
        similarity: ``(K, K)`` similarity matrix over the labels ``0 … K-1``
            (unused by ``cross_entropy``; identity when None).
        hyper: The loss's hyper-parameters by name (``alpha``, ``beta``, ``lam``,
            ``lower_bound``); a missing one takes its registered default.
        C: Inverse regularisation strength, as scikit-learn's.
        class_weight: ``"balanced"`` (each class's utterances weigh
            ``n / (K · n_class)``, as scikit-learn's) or None.
        max_iter: L-BFGS iterations at most.
        tol: L-BFGS's projected-gradient tolerance.
        warm_start: Start from the last fit's solution (along a grid of ``C``).
        precondition: Scale the coefficients by the objective's diagonal curvature
            (Jacobi) for L-BFGS; False with ``solver="scipy"`` follows
            scikit-learn's path exactly.
        solver: ``"compiled"`` (Numba's L-BFGS for a loss with a declared term,
            dense or sparse inputs, several times faster and free of Python's
            lock; SciPy's elsewhere) or ``"scipy"`` (SciPy's L-BFGS-B always).
            Both stop by scikit-learn's criterion, at different points within
            ``tol``.

    After ``fit``: ``classes_``, ``coef_``, ``intercept_`` (scikit-learn's),
    ``n_iter_`` (L-BFGS iterations, all rounds together), ``n_calls_`` (the
    objective's calls, line searches' too), ``n_rounds_`` (fixed-point rounds; 0 for
    a loss without a prediction weight) and ``converged_``.
    """

    def __init__(
        self,
        loss: str = "cross_entropy",
        similarity: np.ndarray | None = None,
        hyper: dict[str, float] | None = None,
        C: float = 1.0,  # noqa: N803  (scikit-learn's name)
        class_weight: str | None = "balanced",
        max_iter: int = 1000,
        tol: float = 1e-4,
        warm_start: bool = False,
        precondition: bool = True,
        solver: str = "compiled",
    ) -> None:
        self.loss = loss
        self.similarity = similarity
        self.hyper = hyper
        self.C = C
        self.class_weight = class_weight
        self.max_iter = max_iter
        self.tol = tol
        self.warm_start = warm_start
        self.precondition = precondition
        self.solver = solver

    def fit(
        self, x: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None
    ) -> SoftmaxRegression:
        """Fit on ``x`` ``(n, d)`` (dense, or a SciPy sparse matrix) and integer
        labels ``y`` (class ids of the similarity matrix); ``sample_weight``
        multiplies the class weights (which are then balanced on the weighted
        counts, as scikit-learn's)."""
        y = np.asarray(y)
        classes = np.unique(y)
        if len(classes) < 2:
            raise ValueError(
                f"SoftmaxRegression needs two classes or more; got {classes.tolist()}"
            )
        weights = (
            np.ones(len(y))
            if sample_weight is None
            else np.asarray(sample_weight, dtype=np.float64).copy()
        )
        index = np.searchsorted(classes, y)
        if self.class_weight == "balanced":
            # as scikit-learn balances, n / (K · n_class) on the weighted class
            # counts (its compute_class_weight checks its arguments for ~1.3 ms,
            # a tenth of a fit along the C grid; tests hold the fit to scikit-
            # learn's with and without sample weights)
            counts = np.bincount(index, weights=sample_weight, minlength=len(classes))
            weights *= (counts.sum() / (len(classes) * counts))[index]
        elif self.class_weight is not None:
            weights *= compute_class_weight(
                self.class_weight, classes=classes, y=y, sample_weight=sample_weight
            )[index]
        n_features = x.shape[1]
        similarity = (
            np.eye(int(classes.max()) + 1)
            if self.similarity is None
            else np.asarray(self.similarity, dtype=np.float64)
        )
        if similarity.shape[0] <= classes.max():
            raise ValueError(
                f"label {int(classes.max())} has no row in the "
                f"{similarity.shape[0]}x{similarity.shape[1]} similarity matrix"
            )
        if self.solver not in SOLVERS:
            raise ValueError(
                f"solver must be one of {list(SOLVERS)}, not {self.solver!r}"
            )
        given = dict(self.hyper or {})
        _check_loss(self.loss, given)
        hyper = own_hyper_parameters(self.loss, given)  # missing ones: defaults
        if scipy.sparse.issparse(x):
            x = scipy.sparse.csr_matrix(x, dtype=np.float64)
        else:
            x = np.asarray(x, dtype=np.float64)
        shape = (len(classes), n_features + 1)
        start = np.zeros(shape)
        if self.warm_start and getattr(self, "classes_", None) is not None:
            if (
                np.array_equal(self.classes_, classes)
                and self.coef_.shape[1] == n_features
            ):
                start = np.hstack([self.coef_, self.intercept_[:, None]])
        penalty = 1.0 / (self.C * float(weights.sum()))
        problem = _Problem(
            x,
            # the fit's classes only: labels renumbered, S restricted to them
            index,
            weights,
            similarity[np.ix_(classes, classes)],
            penalty,
            _jacobi_scale(x, weights, penalty, len(classes))
            if self.precondition
            else np.ones(shape).ravel(),
            self.max_iter,
            self.tol,
            self.solver,
        )
        entry = registered(self.loss)
        if entry.prediction_weight is None:
            solution = problem.minimise(entry, weights, hyper, start)
            rounds = 0
        else:
            cost = entry.prediction_weight(problem.similarity, **hyper)
            solution, rounds = problem.fixed_point(cost, start)
        self.classes_ = classes
        self.coef_ = solution.w[:, :-1]
        self.intercept_ = solution.w[:, -1]
        self.n_iter_ = np.array([solution.iterations])
        self.n_calls_ = solution.calls
        self.n_rounds_ = rounds
        self.converged_ = solution.converged
        return self

    def runs_compiled(self) -> bool:
        """Whether its fits run compiled code, free of Python's lock, so that fits
        side by side on threads pay (``solver="compiled"`` and a loss with a
        declared term, or a prediction weight, whose rounds minimise
        cross-entropy); elsewhere SciPy's L-BFGS-B, no faster on two threads
        than on one (RESULTS.md, section 26)."""
        entry = registered(self.loss)
        if entry.prediction_weight is not None:
            entry = registered(ROUND_LOSS)
        return _compiled(self.solver, entry)

    def decision_function(self, x: np.ndarray) -> np.ndarray:
        if not scipy.sparse.issparse(x):
            x = np.asarray(x, dtype=np.float64)
        return _logits(x, self.coef_, self.intercept_)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return softmax(self.decision_function(x), axis=1)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.classes_[np.argmax(self.decision_function(x), axis=1)]


__all__ = ["SoftmaxRegression"]
