"""The softmax regression's objective and an L-BFGS solver for it, compiled by Numba.

:class:`~emotion_aware_loss.models.softmax_regression.SoftmaxRegression` spends
most of a fit outside arithmetic: on the demo corpus a call of the objective takes
~0.45 ms through SciPy's ``minimize``, of which the two products with the inputs
(``x Wᵀ`` and ``xᵀ G``, five columns) are ~0.1 ms; the rest is SciPy's wrappers,
NumPy's small-array calls and Python (benchmarks/RESULTS.md, section 26). Here the
whole fit of a declared loss — the data term (:class:`Term`), the penalty, the
products and L-BFGS itself — is one compiled call with no Python per step, and it
releases Python's lock, so the independent fits of a grid (inner folds ×
modalities) run side by side on threads, one per core. The inputs are dense
(products by BLAS) or a CSR matrix (MELD's TF-IDF: products by the kernels below;
there SciPy's L-BFGS-B spent 27 ms a call on its own step for 138,795
coefficients, RESULTS.md, section 28).

The solver is L-BFGS (ten pairs, as SciPy's default) on coefficients divided by a
given scale (the Jacobi preconditioner of the caller), with a backtracking line
search (sufficient decrease, step halved or interpolated) and SciPy's stopping
rules: every component of the unscaled gradient within ``tol`` (scikit-learn's
criterion), a relative decrease of the objective under ``64 ε``, or
``max_iter`` iterations. Its path differs from SciPy's (line search), so a fit
stops at a different point within the same tolerance of the same minimum; a test
holds both solvers to each other and to scikit-learn.

Numba compiles the functions on their first call (about 7.5 s) and caches them on
disk beside this module (``cache=True``): a later process reads them in ~0.2 s.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numba
import numpy as np
import scipy.sparse
from numba import types
from numba.extending import overload

TARGETS = 0
"""A :class:`Term` kind: cross-entropy against per-row target distributions, plus
an optional expected cost."""
MASS = 1
"""A :class:`Term` kind: ``-log`` of a per-row weighted sum of the probabilities."""

MEMORY = 10
"""Correction pairs L-BFGS keeps (SciPy's default ``maxcor``)."""
FTOL = 64 * np.finfo(float).eps
"""Relative decrease of the objective under which a fit stops (scikit-learn's)."""
LINE_SEARCH_STEPS = 50
"""Step reductions at most in one line search (scikit-learn's ``maxls``)."""
SUFFICIENT_DECREASE = 1e-4
"""Armijo's constant: a step is accepted when it lowers the objective by at least
this share of the decrease the slope promises."""


# The products stay in this module, beside the solver that calls them: Numba's
# cache on disk checks only the file of the function it caches, so a kernel in
# another module could change while a stale compiled solver is read back.
NARROW = 8
"""Columns up to which a CSR product keeps each row's sums in registers."""


@numba.njit(nogil=True, cache=True)
def _csr_narrow(data: Any, indices: Any, indptr: Any, m: np.ndarray) -> np.ndarray:
    """``x @ m`` for CSR ``x`` and at most :data:`NARROW` columns: each row's sums
    in scalars (registers), the columns past ``m``'s behind conditions that do not
    change within the loop. Twice as fast as one sum per element of the output,
    and 1.7x SciPy's ``csr_matvecs`` on MELD's TF-IDF (RESULTS.md, section 28)."""
    k = m.shape[1]
    out = np.empty((indptr.size - 1, k))
    for i in range(indptr.size - 1):
        a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = 0.0
        for position in range(indptr[i], indptr[i + 1]):
            value = data[position]
            row = indices[position]
            a0 += value * m[row, 0]
            if k > 1:
                a1 += value * m[row, 1]
            if k > 2:
                a2 += value * m[row, 2]
            if k > 3:
                a3 += value * m[row, 3]
            if k > 4:
                a4 += value * m[row, 4]
            if k > 5:
                a5 += value * m[row, 5]
            if k > 6:
                a6 += value * m[row, 6]
            if k > 7:
                a7 += value * m[row, 7]
        sums = (a0, a1, a2, a3, a4, a5, a6, a7)
        for j in range(k):
            out[i, j] = sums[j]
    return out


@numba.njit(nogil=True, cache=True)
def _csr_wide(data: Any, indices: Any, indptr: Any, m: np.ndarray) -> np.ndarray:
    """``x @ m`` for CSR ``x`` and any number of columns."""
    k = m.shape[1]
    out = np.zeros((indptr.size - 1, k))
    for i in range(indptr.size - 1):
        for position in range(indptr[i], indptr[i + 1]):
            value = data[position]
            row = indices[position]
            for j in range(k):
                out[i, j] += value * m[row, j]
    return out


def _times(x: Any, m: np.ndarray) -> np.ndarray:
    """``x @ m`` in compiled code: ``x`` a C-ordered array (BLAS) or a CSR matrix
    as ``(data, indices, indptr)``; ``m`` C-ordered, a few columns."""
    raise NotImplementedError("compiled code only")


@overload(_times, jit_options={"nogil": True})
def _times_of(x: Any, m: Any) -> Any:
    if isinstance(x, types.Array):

        def dense(x: Any, m: Any) -> Any:  # the overload's own annotations
            return np.dot(x, m)

        return dense

    def csr(x: Any, m: Any) -> Any:
        data, indices, indptr = x
        if m.shape[1] <= NARROW:
            return _csr_narrow(data, indices, indptr, m)
        return _csr_wide(data, indices, indptr, m)

    return csr


@numba.njit(nogil=True, cache=True)
def _data_term(  # noqa: PLR0913  (arrays passed to compiled code one by one)
    logits: np.ndarray,
    kind: int,
    share: np.ndarray,
    targets: np.ndarray,
    cost: np.ndarray,
    epsilon: float,
    gradient: np.ndarray,
) -> float:
    """The data term's value at ``logits`` (``n × K``); its gradient with respect
    to them is written into ``gradient``. See :class:`Term` for the arrays."""
    n, k = logits.shape
    p = np.empty(k)
    value = 0.0
    with_cost = cost.shape[0] > 0
    for i in range(n):
        top = logits[i, 0]
        for j in range(1, k):
            top = max(top, logits[i, j])
        total = 0.0
        for j in range(k):
            p[j] = np.exp(logits[i, j] - top)
            total += p[j]
        log_total = np.log(total)
        for j in range(k):
            p[j] /= total
        if kind == TARGETS:
            expected = 0.0
            for j in range(k):
                value -= targets[i, j] * (logits[i, j] - top - log_total)
                gradient[i, j] = share[i] * p[j] - targets[i, j]
                if with_cost:
                    expected += p[j] * cost[i, j]
            if with_cost:
                # share · p (c − Σ_j p_j c_j), the expected cost's gradient
                value += expected
                for j in range(k):
                    gradient[i, j] += p[j] * (cost[i, j] - expected)
        else:
            mass = 0.0
            for j in range(k):
                mass += targets[i, j] * p[j]
            value -= share[i] * np.log(min(max(mass, epsilon), 1.0))
            inside = epsilon <= mass <= 1.0  # TensorFlow's clip passes no gradient
            for j in range(k):
                gradient[i, j] = (
                    share[i] * (p[j] - targets[i, j] * p[j] / mass) if inside else 0.0
                )
    return value


class Solution(NamedTuple):
    """A fit's coefficients (``K × (d + 1)``: each class's, then its intercept),
    L-BFGS iterations, whether a stopping rule other than ``max_iter`` or a failed
    line search ended it, and the objective's calls (line-search trials too)."""

    w: np.ndarray
    iterations: int
    converged: bool
    calls: int


class Term(NamedTuple):
    """A declared loss's mean over rows, weighted by ``share``, as arrays.

    ``kind`` :data:`TARGETS`: ``targets`` are each row's target distribution times
    its share, ``cost`` each row's cost per class times its share (``(0, 0)``:
    none); the value is ``-Σ_j t_j log p_j + Σ_j p_j c_j`` summed over rows.
    ``kind`` :data:`MASS`: ``targets`` are each row's weights ``w``; the value is
    ``-share · log m`` with ``m = Σ_j w_j p_j`` clipped to ``[epsilon, 1]``.
    """

    kind: int
    share: np.ndarray
    targets: np.ndarray
    cost: np.ndarray
    epsilon: float

    def __call__(self, logits: np.ndarray) -> tuple[float, np.ndarray]:
        """The value at ``logits`` and its gradient with respect to them."""
        logits = np.ascontiguousarray(logits, dtype=np.float64)
        gradient = np.empty_like(logits)
        value = _data_term(logits, *self, gradient)
        return float(value), gradient


@numba.njit(nogil=True, cache=True)
def _objective(  # noqa: PLR0913
    x: Any,
    x_t: Any,
    w: np.ndarray,
    term: tuple,
    penalty: float,
    factor: float,
    gradient: np.ndarray,
) -> float:
    """``factor`` × the data term at the logits ``x coefᵀ + intercept`` plus
    ``penalty / 2 · ‖coef‖²``; the gradient over ``w`` (each class's coefficients,
    then its intercept) is written into ``gradient``."""
    k, width = w.shape
    d = width - 1
    logits = _times(x, np.ascontiguousarray(w[:, :d].T))
    for i in range(logits.shape[0]):
        for j in range(k):
            logits[i, j] += w[j, d]
    dlogits = np.empty_like(logits)
    value = _data_term(logits, term[0], term[1], term[2], term[3], term[4], dlogits)
    dlogits *= factor
    product = _times(x_t, dlogits)
    squares = 0.0
    for j in range(k):
        gradient[j, d] = dlogits[:, j].sum()
        for f in range(d):
            gradient[j, f] = product[f, j] + penalty * w[j, f]
            squares += w[j, f] * w[j, f]
    return factor * value + 0.5 * penalty * squares


@numba.njit(nogil=True, cache=True)
def _dot(a: np.ndarray, b: np.ndarray) -> float:
    total = 0.0
    for i in range(a.size):
        total += a[i] * b[i]
    return total


@numba.njit(nogil=True, cache=True)
def _direction(  # noqa: PLR0913
    gradient: np.ndarray,
    s: np.ndarray,
    y: np.ndarray,
    rho: np.ndarray,
    stored: int,
    newest: int,
    q: np.ndarray,
    alpha: np.ndarray,
) -> None:
    """L-BFGS's two-loop recursion: minus the inverse-Hessian estimate times
    ``gradient`` from the ``stored`` pairs (``newest`` the last one written),
    written into ``q`` (loops in place: no temporary arrays per step)."""
    memory = s.shape[0]
    size = q.size
    for f in range(size):
        q[f] = -gradient[f]
    for t in range(stored):
        i = (newest - t) % memory
        alpha[i] = rho[i] * _dot(s[i], q)
        for f in range(size):
            q[f] -= alpha[i] * y[i, f]
    if stored:
        ratio = _dot(s[newest], y[newest]) / _dot(y[newest], y[newest])
        for f in range(size):
            q[f] *= ratio
    for t in range(stored - 1, -1, -1):
        i = (newest - t) % memory
        b = alpha[i] - rho[i] * _dot(y[i], q)
        for f in range(size):
            q[f] += b * s[i, f]


@numba.njit(nogil=True, cache=True)
def _minimise(  # noqa: PLR0913, PLR0915  (one compiled loop, no Python per step)
    x: Any,
    x_t: Any,
    term: tuple,
    penalty: float,
    factor: float,
    scale: np.ndarray,
    start: np.ndarray,
    max_iter: int,
    tol: float,
) -> tuple[np.ndarray, int, bool, int]:
    size = start.size
    w = start.copy().ravel()
    unit = scale.ravel()
    gradient = np.empty(size)
    value = _objective(
        x,
        x_t,
        w.reshape(start.shape),
        term,
        penalty,
        factor,
        gradient.reshape(start.shape),
    )
    scaled = gradient * unit
    s = np.zeros((MEMORY, size))
    y = np.zeros((MEMORY, size))
    rho = np.zeros(MEMORY)
    alpha = np.zeros(MEMORY)
    stored, newest = 0, MEMORY - 1
    direction = np.empty(size)
    trial = np.empty(size)
    trial_gradient = np.empty(size)
    iterations, calls = 0, 1
    converged = np.abs(gradient).max() <= tol
    while not converged and iterations < max_iter:
        _direction(scaled, s, y, rho, stored, newest, direction, alpha)
        slope = _dot(scaled, direction)
        if not slope < 0.0:  # not a descent direction: forget the pairs
            stored = 0
            direction[:] = -scaled
            slope = _dot(scaled, direction)
        # the first step's length is one over the gradient's (as SciPy's), then 1
        step = 1.0 if stored else min(1.0, 1.0 / np.sqrt(-slope))
        accepted = False
        for _ in range(LINE_SEARCH_STEPS):
            for f in range(size):
                trial[f] = w[f] + step * direction[f] * unit[f]
            found = _objective(
                x,
                x_t,
                trial.reshape(start.shape),
                term,
                penalty,
                factor,
                trial_gradient.reshape(start.shape),
            )
            calls += 1
            if found <= value + SUFFICIENT_DECREASE * step * slope:
                accepted = True
                break
            # the minimum of the quadratic through the value, slope and trial,
            # kept within a tenth and a half of the step (halved where not finite)
            curve = found - value - slope * step
            shorter = -slope * step * step / (2.0 * curve) if curve > 0.0 else 0.0
            step = min(max(shorter, 0.1 * step), 0.5 * step)
        if not accepted:
            break
        # the pair (scaled step, change of the scaled gradient), written in the
        # slot after the newest; kept only where the curvature is positive
        slot = (newest + 1) % MEMORY
        curvature, changes = 0.0, 0.0
        for f in range(size):
            now = trial_gradient[f] * unit[f]
            s[slot, f] = step * direction[f]
            y[slot, f] = now - scaled[f]
            scaled[f] = now
            curvature += s[slot, f] * y[slot, f]
            changes += y[slot, f] * y[slot, f]
        if curvature > np.finfo(np.float64).eps * changes:
            newest = slot
            rho[newest] = 1.0 / curvature
            stored = min(stored + 1, MEMORY)
        else:  # the slot held the oldest pair when all were stored: it is gone
            stored = min(stored, MEMORY - 1)
        previous = value
        w[:] = trial
        gradient[:] = trial_gradient
        value = found
        iterations += 1
        if np.abs(gradient).max() <= tol:
            converged = True
        elif previous - value <= FTOL * max(abs(previous), abs(value), 1.0):
            converged = True  # SciPy's success on a relative decrease under ftol
            break
    return w.reshape(start.shape), iterations, converged, calls


def _compiled_input(x: Any) -> Any:
    """``x`` as the compiled functions take it: a C-ordered float64 array, or a
    CSR matrix's ``(data, indices, indptr)``."""
    if scipy.sparse.issparse(x):
        x = scipy.sparse.csr_matrix(x, dtype=np.float64)
        return (x.data, x.indices, x.indptr)
    return np.ascontiguousarray(x, dtype=np.float64)


def minimise(  # noqa: PLR0913
    x: Any,
    x_t: Any,
    term: Term,
    penalty: float,
    factor: float,
    scale: np.ndarray,
    start: np.ndarray,
    max_iter: int,
    tol: float,
) -> Solution:
    """The minimum over ``w`` (``K × (d + 1)``: each class's coefficients, then its
    intercept) of ``factor`` × ``term`` at the logits ``x coefᵀ + intercept`` plus
    ``penalty / 2 · ‖coef‖²``, from ``start``, by L-BFGS on ``w`` divided by
    ``scale`` (flat, as ``w``).

    Args:
        x: The inputs, ``n × d``: an array, or a SciPy sparse matrix (CSR).
        x_t: ``x`` transposed (``d × n``): C-ordered, or CSR.
        term: The data term.
        penalty: The L2 penalty's weight.
        factor: The data term's weight.
        scale: Each coefficient's scale (the preconditioner; ones for none).
        start: The first iterate.
        max_iter: Iterations at most.
        tol: The stopping tolerance on every component of the gradient.

    Returns:
        The fit's :class:`Solution`.
    """
    w, iterations, converged, calls = _minimise(
        _compiled_input(x),
        _compiled_input(x_t),
        tuple(term),
        float(penalty),
        float(factor),
        np.asarray(scale, dtype=np.float64).reshape(start.shape),
        np.asarray(start, dtype=np.float64),
        int(max_iter),
        float(tol),
    )
    return Solution(w, int(iterations), bool(converged), int(calls))


__all__ = ["MASS", "TARGETS", "Solution", "Term", "minimise"]
