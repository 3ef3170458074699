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

The similarity-aware losses other than ``soft_target`` and ``expected_cost`` are
not convex in ``W`` (``sim_loss`` is a difference of convex functions;
``emotion_aware`` and ``seed_weighted`` reweight each utterance by its current
prediction, with no gradient through the weight); L-BFGS then finds a local
minimum from the same start (zero coefficients), as the network's optimiser does.

**Preconditioning.** L-BFGS runs on the coefficients divided by the square root of
a diagonal estimate of the objective's curvature (Jacobi's preconditioner): feature
``j`` is scaled by ``1 / sqrt(h · Σ s_i x_ij² / Σ s_i + penalty)``, ``h`` =
:data:`CURVATURE` (a softmax's curvature is at most 1/2, typically much less), the
intercept by ``1 / sqrt(h)``. The minimum is the same; the path to it is not. The
stopping tolerance is scaled by the smallest of those factors, so a fit stops only
when every coefficient's own gradient is within ``tol``, scikit-learn's criterion.
On the speech baseline's inputs (standardised statistics in row-space coordinates,
whose Gram matrix is diagonal, so the estimate is exact but for the softmax's part)
it takes 4–16 times fewer iterations and stops closer to the exact minimum; on
TF-IDF (normalised rows) about as many (benchmarks/RESULTS.md, section 18).
``precondition=False`` follows scikit-learn's path (its iterates, to round-off).

Two classes or more. With two, scikit-learn fits one logistic row ``w`` where the
softmax has two, ``w / 2`` and ``−w / 2`` at the optimum, whose penalty is half of
``w``'s: the model is scikit-learn's binary one at twice the ``C`` (a test).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.optimize
import scipy.sparse
import tensorflow as tf
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.class_weight import compute_class_weight

from emotion_aware_loss.losses.family import registered

CURVATURE = 0.1


def _check_loss(loss: str, hyper: dict[str, float]) -> None:
    names = list(registered(loss).hyper)
    unknown = sorted(set(hyper) - set(names))
    if unknown:
        raise ValueError(
            f"loss {loss!r} takes {names or 'no hyper-parameters'}, not {unknown}"
        )


def _value_and_gradient(
    flat: tf.Tensor,
    inputs: tf.Tensor | tf.SparseTensor,
    labels: tf.Tensor,
    sample: tf.Tensor,
    penalty: tf.Tensor,
    similarity: tf.Tensor,
    hyper: dict[str, tf.Tensor],
    function: Callable[..., tf.Tensor],
) -> tuple[tf.Tensor, tf.Tensor]:
    """The objective and its gradient at ``flat`` (the coefficients, then the
    intercepts, class by class), ``function`` a registered loss's per-utterance
    function."""
    n_classes = tf.shape(similarity)[0]
    with tf.GradientTape() as tape:
        tape.watch(flat)
        w = tf.reshape(flat, (n_classes, -1))
        logits = _times(inputs, tf.transpose(w[:, :-1])) + w[:, -1]
        per_utterance = function(labels, logits, similarity, from_logits=True, **hyper)
        total = tf.reduce_sum(sample)
        value = tf.reduce_sum(sample * per_utterance) / total
        value += 0.5 * penalty * tf.reduce_sum(tf.square(w[:, :-1]))
    return value, tape.gradient(value, flat)


@functools.cache
def _objective(
    function: Callable[..., tf.Tensor], hyper_names: tuple[str, ...], sparse: bool
) -> Callable[..., tuple[tf.Tensor, tf.Tensor]]:
    """The objective and its gradient as a TensorFlow graph traced once per loss
    function (the registry's, so a name registered again gets its own graph),
    hyper-parameter names and input kind (dense or sparse), for inputs of any
    shape, called with tensors only: 0.4 ms per L-BFGS iteration on 426 × 425
    inputs against 0.7 ms through a ``tf.function`` with Python arguments. Not
    XLA-compiled: XLA compiles every new input shape again (about 0.2 s), and a
    preconditioned fit takes too few iterations to earn that back."""

    def value_and_gradient(flat, inputs, labels, sample, penalty, similarity, *hyper):
        return _value_and_gradient(
            flat,
            inputs,
            labels,
            sample,
            penalty,
            similarity,
            dict(zip(hyper_names, hyper, strict=True)),
            function,
        )

    matrix = tf.TensorSpec([None, None], tf.float64)
    return tf.function(value_and_gradient).get_concrete_function(
        tf.TensorSpec([None], tf.float64),
        tf.SparseTensorSpec([None, None], tf.float64) if sparse else matrix,
        tf.TensorSpec([None], tf.int32),
        tf.TensorSpec([None], tf.float64),
        tf.TensorSpec([], tf.float64),
        matrix,
        *(tf.TensorSpec([], tf.float64) for _ in hyper_names),
    )


def _tensor(x: Any) -> tf.Tensor | tf.SparseTensor:
    """``x`` in float64 for TensorFlow; a SciPy sparse matrix (TF-IDF) stays sparse."""
    if scipy.sparse.issparse(x):
        coo = scipy.sparse.coo_matrix(x, dtype=np.float64)
        indices = np.stack([coo.row, coo.col], axis=1).astype(np.int64)
        return tf.sparse.reorder(tf.SparseTensor(indices, coo.data, coo.shape))
    return tf.constant(np.asarray(x, dtype=np.float64))


def _times(x: tf.Tensor | tf.SparseTensor, w: tf.Tensor) -> tf.Tensor:
    if isinstance(x, tf.SparseTensor):
        return tf.sparse.sparse_dense_matmul(x, w)
    return tf.matmul(x, w)


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


class SoftmaxRegression(ClassifierMixin, BaseEstimator):
    """L2-penalised softmax regression with a loss of the family, fitted by L-BFGS.

    Args:
        loss: A name in :data:`emotion_aware_loss.losses.family.LOSS_REGISTRY`.
        similarity: ``(K, K)`` similarity matrix over the labels ``0 … K-1``
            (unused by ``cross_entropy``; identity when None).
        hyper: The loss's hyper-parameters by name (``alpha``, ``beta``, ``lam``).
        C: Inverse regularisation strength, as scikit-learn's.
        class_weight: ``"balanced"`` (each class's utterances weigh
            ``n / (K · n_class)``, as scikit-learn's) or None.
        max_iter: L-BFGS iterations at most.
        tol: L-BFGS's projected-gradient tolerance.
        warm_start: Start from the last fit's solution (along a grid of ``C``).
        precondition: Scale the coefficients by the objective's diagonal curvature
            (Jacobi) for L-BFGS; False follows scikit-learn's path exactly.
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
        if self.class_weight is not None:
            # balanced as scikit-learn balances: on the weighted class counts
            per_class = compute_class_weight(
                self.class_weight,
                classes=classes,
                y=y,
                sample_weight=sample_weight,
            )
            weights *= per_class[np.searchsorted(classes, y)]
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
        hyper = dict(self.hyper or {})
        _check_loss(self.loss, hyper)
        penalty = 1.0 / (self.C * float(weights.sum()))
        # the fit's classes only: S restricted to them, labels renumbered
        names = tuple(sorted(hyper))
        arguments = (
            _tensor(x),
            tf.constant(np.searchsorted(classes, y), tf.int32),
            tf.constant(weights),
            tf.constant(penalty, tf.float64),
            tf.constant(similarity[np.ix_(classes, classes)]),
            *(tf.constant(float(hyper[key]), tf.float64) for key in names),
        )
        shape = (len(classes), n_features + 1)
        scale = (
            _jacobi_scale(x, weights, penalty, len(classes))
            if self.precondition
            else np.ones(shape).ravel()
        )

        compute = _objective(
            registered(self.loss).function, names, scipy.sparse.issparse(x)
        )

        def objective(scaled: np.ndarray) -> tuple[float, np.ndarray]:
            value, gradient = compute(tf.constant(scaled * scale), *arguments)
            return float(value), gradient.numpy() * scale

        start = np.zeros(shape)
        if self.warm_start and getattr(self, "classes_", None) is not None:
            if (
                np.array_equal(self.classes_, classes)
                and self.coef_.shape[1] == n_features
            ):
                start = np.hstack([self.coef_, self.intercept_[:, None]])
        result = scipy.optimize.minimize(
            objective,
            start.ravel() / scale,
            jac=True,
            method="L-BFGS-B",
            options={
                "maxiter": self.max_iter,
                "maxls": 50,
                "gtol": self.tol * float(scale.min()),
                "ftol": 64 * np.finfo(float).eps,
            },
        )
        result.x *= scale
        w = result.x.reshape(shape)
        self.classes_ = classes
        self.coef_ = w[:, :-1]
        self.intercept_ = w[:, -1]
        self.n_iter_ = np.array([result.nit])
        self.converged_ = bool(result.success)
        return self

    def decision_function(self, x: np.ndarray) -> np.ndarray:
        if not scipy.sparse.issparse(x):
            x = np.asarray(x, dtype=np.float64)
        return np.asarray(x @ self.coef_.T) + self.intercept_

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        logits = self.decision_function(x)
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(axis=1, keepdims=True)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.classes_[np.argmax(self.decision_function(x), axis=1)]


__all__ = ["SoftmaxRegression"]
