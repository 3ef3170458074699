"""How long a stack still needs: its cost per epoch and simulated early stopping."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.optimize

from emotion_aware_loss.training.jobs import Stopper


class Clock:
    """Seconds per epoch of a stack: ``steps × (per_step + per_model_step × A)``
    for a stack of ``A`` networks (the size the epoch computes, padding slots
    included: with ``A`` counting only the models still training, a stack of 35
    with one model stopped looked as slow as with none, the fit made networks
    look free, and the run's estimate jumped from 1:08 to 3:39 left and back).

    An epoch that traces the step (each phase's first) or runs at a stack size not
    seen before (its first epoch compiles the optimiser update for that size) is
    left out: it costs more than the epochs that follow.
    """

    SPREAD = 2.0  # largest over smallest stack size before both parts are fitted

    def __init__(self) -> None:
        self.seen: list[tuple[int, int, float]] = []  # (models, steps, seconds)
        self.sizes: set[int] = set()  # stack sizes that have run an epoch

    def add(
        self,
        models: int,
        steps: int,
        seconds: float,
        size: int | None = None,
        traced: bool = False,
    ) -> None:
        """Record an epoch of ``models`` models training (``size``: the stack size
        it ran at, padding included)."""
        first_at_size = size is not None and size not in self.sizes
        if size is not None:
            self.sizes.add(size)
        if traced or first_at_size:
            return
        self.seen.append((models, steps, seconds))

    def cost(self) -> tuple[float, float] | None:
        """``(seconds per step, seconds per model-step)``, or None before any.

        Fitted by non-negative least squares (an unconstrained fit of noisy epochs
        can give a negative fixed cost, and falling back from it to the rule below,
        epoch after epoch, made the estimate jump back and forth), once the stack
        sizes seen differ by a factor of :attr:`SPREAD`: only epochs of different
        sizes tell the fixed part from the per-model part, and between sizes 35
        and 32 a few percent of noise put nearly all of the cost in the fixed
        part, so that a stack of 5 looked as slow as one of 35 (the run's
        estimate read 4:06 left for one epoch, against 1:08 before and after).
        """
        if not self.seen:
            return None
        a = np.array([[s, s * m] for m, s, _ in self.seen], float)
        t = np.array([sec for _, _, sec in self.seen], float)
        models = [m for m, _, _ in self.seen]
        if max(models) >= self.SPREAD * max(min(models), 1):
            fit, _ = scipy.optimize.nnls(a, t)
            if fit[1] > 0:
                return float(fit[0]), float(fit[1])
        # too little spread in size: a step's fixed part as that of ~4 models
        # (measured on this project's default network on 2 CPU cores)
        per_model_step = float(t.sum() / (a[:, 1] + 4 * a[:, 0]).sum())
        return 4 * per_model_step, per_model_step

    def seconds(self, steps: float, models: np.ndarray) -> np.ndarray:
        cost = self.cost() or (0.0, 0.0)
        return steps * (cost[0] * (models > 0) + cost[1] * models)


def improvement_rate(
    stoppers: Sequence[Stopper | None],
    histories: Sequence[dict[str, list]],
    monitor: str,
) -> float:
    """How much more often than noise a counted epoch sets a new best score.

    Of ``k`` scores drawn from one distribution, the ``k``-th is the best so far
    with probability ``1 / k``: a plateaued noisy validation score improves less
    and less often. A network still learning improves more often; so each
    counted epoch ``k`` of a model (its first, a best by definition, left out)
    is taken to be a new best with probability ``min(1, θ / k)``, and ``θ`` is
    fitted to every model's scores so far (new bests seen over the ``Σ 1/k``
    expected of noise), starting from 2 with the weight of about ten epochs.

    Returns:
        ``θ``.
    """
    records = expected = 0.0
    for stopper, history in zip(stoppers, histories, strict=True):
        if stopper is None or not history.get(monitor):
            continue
        best = None
        for k, value in enumerate(history[monitor][stopper.start :], start=1):
            if best is not None:
                expected += 1.0 / k
                records += value > best
            best = value if best is None or value > best else best
    prior = 2.0  # Σ 1/k over counted epochs 2..10
    return (records + 2.0 * prior) / (expected + prior)


def forecast(
    stoppers: Sequence[Stopper | None],
    lengths: Sequence[int],
    active: np.ndarray,
    epoch: int,
    rate: float,
    refit: Sequence[bool] = (),
    draws: int = 200,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Simulated futures of a phase: for each draw, the number of models still
    training in each epoch to come, and each model's chosen epoch (the length of
    its refit).

    Early stopping ends a model ``patience`` epochs after its last improvement,
    not before its warm-up; its ``k``-th counted epoch improves with probability
    ``min(1, rate / k)`` (:func:`improvement_rate`); fixed-length models train
    their remaining epochs.

    Returns:
        ``(draws, epochs to come)`` models training, and ``(draws, models)`` the
        refit lengths (0 for a model without a refit).
    """
    rng = np.random.default_rng(seed)
    n = len(lengths)
    horizon = max([lengths[m] - (epoch + 1) for m in np.flatnonzero(active)] + [0])
    training = np.zeros((draws, horizon), int)
    chosen = np.zeros((draws, n), int)
    for m in range(n):
        stopper = stoppers[m]
        if stopper is not None:
            chosen[:, m] = stopper.best_epoch + 1 if stopper.has_best else 0
        if not active[m]:
            continue
        left = lengths[m] - (epoch + 1)
        if stopper is None:
            training[:, :left] += 1
            continue
        wait = np.full(draws, stopper.wait)
        has_best = np.full(draws, stopper.has_best)
        running = np.ones(draws, bool)
        best = chosen[:, m].copy()
        for k in range(left):
            e = epoch + 1 + k
            training[:, k] += running
            if e < stopper.start:
                continue
            counted = e - stopper.start + 1
            hit = ~has_best | (rng.random(draws) < rate / counted)
            best = np.where(running & hit, e + 1, best)
            wait = np.where(hit, 0, wait + 1)
            has_best |= True
            running &= ~((wait >= stopper.patience) & (e > 0))
        chosen[:, m] = best
    if len(refit):
        chosen = chosen * np.asarray(refit, int)[None, :]
    return training, chosen
