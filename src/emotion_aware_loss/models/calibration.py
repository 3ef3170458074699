"""Temperature scaling: calibrated class probabilities for any model.

A network trained to low training loss is overconfident: its top probability is
larger than the share of its predictions that are right. Temperature scaling (Guo
et al., "On Calibration of Modern Neural Networks", ICML 2017) divides every
log-probability by one number ``T`` fitted on held-out predictions, by minimising
their negative log-likelihood::

    q = softmax(log p / T)

``T > 1`` flattens over-confident probabilities, ``T < 1`` sharpens under-confident
ones (e.g. the mean of two models' probabilities). The predicted class (argmax)
never changes; what changes is everything that reads the probabilities: the
cross-entropy, the calibration error and the minimum-expected-cost rule, which
weighs each class's cost by its probability.

The held-out predictions must come from a model that did not train on them: a
network's early-stopped model on its validation part (the same temperature then
serves the refitted network, which trained on that part too), a linear model's
inner-fold predictions at the chosen ``C``.

A validation part of a few dozen utterances (one speaker of a small acted corpus)
says little about ``T``: its likelihood is dominated by two or three confident
mistakes. A normal prior on ``log T`` centred on ``T = 1`` (``prior``: its standard
deviation) turns the fit into the maximum a posteriori: on a few dozen rows ``T``
is drawn toward 1, on hundreds the likelihood decides.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq, minimize_scalar
from scipy.special import log_softmax

# The temperatures searched: a model more than 20 times too confident (or too
# timid) is refused a larger correction rather than allowed a degenerate one.
BOUNDS = (0.05, 20.0)
# How a temperature is fitted (see fit_temperature).
OBJECTIVES = ("log_likelihood", "confidence")
# Probabilities are floored here before the logarithm (a float32 softmax can
# underflow to 0 for a class far from the top).
FLOOR = 1e-12


def _log(probabilities: np.ndarray) -> np.ndarray:
    return np.log(np.maximum(np.asarray(probabilities, dtype=np.float64), FLOOR))


def apply_temperature(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """``softmax(log p / T)`` row by row.

    Args:
        probabilities: ``(n, K)`` class probabilities.
        temperature: ``T > 0``; 1 leaves the probabilities as they are.

    Returns:
        ``(n, K)`` float64 probabilities; their argmax is that of ``probabilities``.

    Raises:
        ValueError: If the temperature is not a positive finite number.
    """
    if not np.isfinite(temperature) or temperature <= 0:
        raise ValueError(f"temperature must be positive and finite, got {temperature}")
    if temperature == 1.0:
        return np.asarray(probabilities, dtype=np.float64)
    return np.exp(log_softmax(_log(probabilities) / temperature, axis=1))


def _confidence_temperature(log_probabilities: np.ndarray, labels: np.ndarray) -> float:
    """``T`` with mean top-class probability equal to the argmax accuracy (the mean
    top probability falls as ``T`` grows: one root, or the nearer bound)."""
    accuracy = float((log_probabilities.argmax(axis=1) == labels).mean())

    def gap(log_t: float) -> float:
        scaled = log_softmax(log_probabilities / np.exp(log_t), axis=1)
        return float(np.exp(scaled.max(axis=1)).mean() - accuracy)

    low, high = np.log(BOUNDS)
    if gap(low) <= 0:  # even the sharpest allowed is not confident enough
        return BOUNDS[0]
    if gap(high) >= 0:
        return BOUNDS[1]
    return float(np.exp(brentq(gap, low, high, xtol=1e-6)))


def _penalised_nll(
    log_probabilities: np.ndarray,
    labels: np.ndarray,
    log_t: float,
    prior: float | None,
) -> float:
    """The negative log-likelihood of ``labels`` at ``T = exp(log_t)`` plus
    ``log_t² / (2 prior²)`` (a normal prior on ``log T``), per row."""
    scaled = log_softmax(log_probabilities / np.exp(log_t), axis=1)
    value = float(-scaled[np.arange(len(labels)), labels].mean())
    if prior is None:
        return value
    return value + log_t**2 / (2.0 * prior**2 * len(labels))


def fit_temperature(
    probabilities: np.ndarray,
    labels: np.ndarray,
    objective: str = "log_likelihood",
    prior: float | None = None,
) -> float:
    """The temperature that best calibrates held-out probabilities.

    ``objective``: ``log_likelihood`` minimises the negative log-likelihood of
    ``labels`` (Guo et al.), plus the prior's penalty when ``prior`` is given;
    ``confidence`` makes the mean top-class probability equal to the share of
    right predictions (the argmax, which the temperature does not change). The
    likelihood is dominated by the few most confident mistakes, so on a
    validation part of a few dozen utterances it can flatten far more than the
    test part needs: the prior draws such a temperature toward 1, the confidence
    match uses every prediction alike.

    Args:
        probabilities: ``(n, K)`` held-out class probabilities.
        labels: ``(n,)`` their true class ids.
        objective: ``log_likelihood`` or ``confidence``.
        prior: Standard deviation of ``log T`` under a normal prior centred on
            ``T = 1``: the fit is the maximum a posteriori (``log_likelihood``
            only; ``confidence`` has no likelihood to weigh it against). None:
            the maximum likelihood.

    Returns:
        ``T`` within :data:`BOUNDS`; 1.0 when there is nothing to fit on (no rows,
        or a single class among the labels, whose likelihood any sharpening
        raises without bound).

    Raises:
        ValueError: If the shapes disagree or a label is not a column.
    """
    log_probabilities = _log(probabilities)
    labels = np.asarray(labels, dtype=np.int64)
    if log_probabilities.ndim != 2 or len(log_probabilities) != len(labels):
        raise ValueError(
            f"probabilities {log_probabilities.shape} and labels {labels.shape} do "
            "not match: one row of probabilities per label"
        )
    if len(labels) and (labels.min() < 0 or labels.max() >= log_probabilities.shape[1]):
        raise ValueError(
            f"labels must be class ids 0..{log_probabilities.shape[1] - 1}, got "
            f"{labels.min()}..{labels.max()}"
        )
    if objective not in OBJECTIVES:
        raise ValueError(
            f"unknown calibration objective {objective!r}; expected one of {OBJECTIVES}"
        )
    if prior is not None and not (np.isfinite(prior) and prior > 0):
        raise ValueError(f"the temperature's prior must be positive, got {prior}")
    if len(np.unique(labels)) < 2:
        return 1.0
    if objective == "confidence":
        return _confidence_temperature(log_probabilities, labels)
    low, high = np.log(BOUNDS)
    found = minimize_scalar(
        lambda log_t: _penalised_nll(log_probabilities, labels, log_t, prior),
        bounds=(low, high),
        method="bounded",
        options={"xatol": 1e-4},
    )
    temperature = float(np.exp(found.x))
    # the bounded search never evaluates T = 1 itself: keep it if it is as good
    if _penalised_nll(log_probabilities, labels, 0.0, prior) <= found.fun:
        return 1.0
    return temperature


@dataclass(frozen=True)
class TemperatureFit:
    """How a run fits its temperatures (``evaluation.calibration_objective`` and
    ``evaluation.temperature_prior``): called with held-out probabilities and
    their labels, it returns :func:`fit_temperature`'s ``T``."""

    objective: str = "log_likelihood"
    prior: float | None = None

    def __call__(self, probabilities: np.ndarray, labels: np.ndarray) -> float:
        return fit_temperature(probabilities, labels, self.objective, self.prior)


def held_out_record(
    held_out: Sequence[tuple[np.ndarray, np.ndarray] | None],
    utterances: Sequence[str] | None = None,
) -> dict[str, list]:
    """What a model's history keeps of its held-out predictions: the model
    averages the probabilities of ``held_out``'s members (one member: that model).

    Args:
        held_out: Each member's probabilities on the held-out rows and their
            labels (the same rows for every member).
        utterances: The held-out rows' utterance ids, when known.

    Returns:
        ``validation_probabilities`` (the members' mean, uncalibrated, 6 decimals:
        what the evaluation fits the model's temperature on) and
        ``validation_labels``, and ``validation_utterances`` with ``utterances``;
        empty when a member has no held-out predictions.
    """
    if not held_out or any(h is None for h in held_out):
        return {}
    probabilities = np.mean([h[0] for h in held_out], axis=0)
    labels = np.asarray(held_out[0][1])
    record = {
        "validation_probabilities": np.round(probabilities, 6).tolist(),
        "validation_labels": labels.astype(int).tolist(),
    }
    if utterances is not None:
        record["validation_utterances"] = [str(u) for u in utterances]
    return record
