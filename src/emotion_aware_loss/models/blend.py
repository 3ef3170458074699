"""A network and a linear model averaged, with the weight chosen on held-out rows.

The two model families make different mistakes where their inputs or their fits
differ; a weighted mean of their calibrated probabilities,

    p = w p_network + (1 - w) p_linear,

can then beat both. ``w`` is chosen from a grid by the negative log-likelihood of
the mean on rows neither model trained on: the validation part, which the network
saw only through early stopping (its early-stopped model's predictions) and the
linear model only through its inner folds' held-out predictions. The
log-likelihood, not the UAR, picks ``w``: on a validation part of a few dozen
utterances the UAR moves in steps of one utterance, the likelihood smoothly.
"""

from __future__ import annotations

import numpy as np

from emotion_aware_loss.models.calibration import FLOOR

# The network's weight, from the linear model alone (0) to the network alone (1).
WEIGHTS = tuple(np.round(np.linspace(0.0, 1.0, 11), 2))


def blend(network: np.ndarray, linear: np.ndarray, weight: float) -> np.ndarray:
    """``weight * network + (1 - weight) * linear``, row by row."""
    return weight * np.asarray(network, np.float64) + (1.0 - weight) * np.asarray(
        linear, np.float64
    )


def choose_weight(
    network: np.ndarray,
    linear: np.ndarray,
    labels: np.ndarray,
    weights: tuple[float, ...] = WEIGHTS,
) -> float:
    """The network's weight with the lowest negative log-likelihood of ``labels``
    on the held-out rows (ties: the weight closest to 0.5).

    Args:
        network: ``(n, K)`` the network's calibrated held-out probabilities.
        linear: ``(n, K)`` the linear model's, on the same rows.
        labels: ``(n,)`` their true class ids.
        weights: The grid searched.

    Returns:
        The weight; 0.5 without held-out rows.

    Raises:
        ValueError: If the shapes disagree.
    """
    network, linear = np.asarray(network), np.asarray(linear)
    labels = np.asarray(labels, dtype=np.int64)
    if network.shape != linear.shape or len(labels) != len(network):
        raise ValueError(
            f"held-out probabilities {network.shape} and {linear.shape} and labels "
            f"{labels.shape} do not match"
        )
    if not len(labels):
        return 0.5
    rows = np.arange(len(labels))
    losses = [
        -np.log(np.maximum(blend(network, linear, w)[rows, labels], FLOOR)).mean()
        for w in weights
    ]
    best = min(losses)
    # equal losses (within rounding): the weight nearest an even mix
    tied = [w for w, loss in zip(weights, losses, strict=True) if loss <= best + 1e-12]
    return float(min(tied, key=lambda w: abs(w - 0.5)))
