"""What a stack of networks trains: its jobs, its corpus and its settings.

A :class:`Job` is one network to train: its initial weights, the rows of the corpus
it trains and validates on (and refits on), its loss with its hyper-parameters,
similarity matrix and class weights, and its seed; every job of a stack reads one
:class:`Corpus`. These are plain data, with the rules every job follows alike:
:func:`epoch_order` (its batches), :func:`warm_up_epochs` (when early stopping
starts counting, and :class:`Stopper` its state) and :func:`bucket_size` (the few
stack sizes an epoch runs at).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

# Copies of each network's weights a stack holds at its peak (measured on the
# default network): weights, both moments, its best epoch's and its epoch-start
# weights, and in the traced step the weights, moments and gradients being
# updated and their new values.
STATE_COPIES = 21


@dataclass(frozen=True)
class View:
    """How the models of one fold see the corpus: its scaler and its token ids.

    Attributes:
        mean: Per acoustic feature, the training part's mean.
        std: Its standard deviation.
        tokens: ``(N, max_tokens)`` token ids of every utterance under the fold's
            vocabulary, or None when the model takes no token ids.
    """

    mean: np.ndarray
    std: np.ndarray
    tokens: np.ndarray | None = None


@dataclass(frozen=True)
class Corpus:
    """What every job reads: the corpus's rows, unscaled, and the folds' views.

    Attributes:
        labels: ``(N,)`` class ids.
        speech: ``(N, frames, features)`` unscaled acoustic features (may be
            memory-mapped), or None without a speech input.
        n_frames: ``(N,)`` valid frames of each utterance.
        views: One per fold (scaler, token ids).
        text_features: ``(N, ...)`` a frozen text encoder's embeddings, or None.
        resident_bytes: Speech arrays up to this size are held in memory; larger
            ones are read from their file a batch at a time.
    """

    labels: np.ndarray
    speech: np.ndarray | None
    n_frames: np.ndarray
    views: Sequence[View]
    text_features: np.ndarray | None = None
    resident_bytes: int = 2 << 30


@dataclass(frozen=True)
class LossSpec:
    """One job's loss: a name of ``losses.family.LOSS_REGISTRY`` and its settings."""

    name: str
    similarity: np.ndarray
    hyper: dict[str, float] = field(default_factory=dict)
    dynamic_momentum: float | None = None


@dataclass(frozen=True)
class Job:
    """One network to train.

    Attributes:
        name: Names the job in messages (e.g. ``cross_entropy.fold_0``).
        weights: Initial weights, in ``model.get_weights()`` order.
        view: Index of the corpus view (fold) it reads.
        train: Row positions it trains on.
        validation: Row positions early stopping scores; None: train for exactly
            ``epochs`` epochs.
        loss: Its loss.
        class_weights: One weight per class, multiplying each utterance's loss.
        seed: Seeds its batch order and dropout masks.
        epochs: Fixed length (without ``validation``).
        refit: Rows to train on again, from ``weights``, for the epochs early
            stopping chose (needs ``validation``).
    """

    name: str
    weights: Sequence[np.ndarray]
    view: int
    train: np.ndarray
    validation: np.ndarray | None
    loss: LossSpec
    class_weights: np.ndarray
    seed: int
    epochs: int | None = None
    refit: np.ndarray | None = None


@dataclass(frozen=True)
class Settings:
    """The training settings a stack uses (from ``TrainingConfig``)."""

    epochs: int
    batch_size: int
    learning_rate: float
    patience: int
    min_steps: int
    monitor: str
    jit_compile: bool = False


@dataclass
class Trained:
    """One job's result: its weights, its per-epoch history and, for a job with
    validation rows, the early-stopped model's class probabilities on them and
    their labels (what calibrates it: :mod:`emotion_aware_loss.models.calibration`)."""

    weights: list[np.ndarray]
    history: dict[str, list]
    validation: tuple[np.ndarray, np.ndarray] | None = None


@dataclass
class EpochReport:
    """What a stack tells its progress display after each epoch."""

    phase: str  # "fit" (early stopping or fixed length) or "refit"
    epoch: int  # 1-based, the epoch just finished
    max_epochs: int
    training: int  # models still training
    total: int
    best: list[float | None]  # per job, its best validation score so far
    seconds: float  # the epoch's wall time
    # estimate for the rest of the stack (refit included); None before an epoch
    # has been timed
    remaining_seconds: float | None
    cost: tuple[float, float] | None  # seconds per step and per model-step


def epoch_order(n: int, seed: int, epoch: int) -> np.ndarray:
    """The order in which a job with ``n`` rows visits them in epoch ``epoch``.

    A refit draws the same orders as a fit (of its own rows): it trains as a
    fresh training on those rows would (``fitting.fit_epochs``, the final model).
    """
    return np.random.default_rng([seed, epoch]).permutation(n)


def warm_up_epochs(settings: Settings, n_rows: int) -> int:
    """Epochs before early stopping counts: ``min_steps`` in whole epochs, so that
    the last epoch always counts."""
    steps = max(1, math.ceil(n_rows / settings.batch_size))
    return min(math.ceil(settings.min_steps / steps), settings.epochs - 1)


def bucket_size(active: int, total: int) -> int:
    """The stack size an epoch with ``active`` of ``total`` models runs at: the
    smallest of 1, 2, 3, 4, 6, 8, 12, 16, 24, 32, ... (``2^k`` and ``3·2^k``) that
    holds them, at most ``total``."""
    k = max(active - 1, 0).bit_length()  # 2^k >= active
    three = 3 << max(k - 2, 0)
    size = three if k >= 2 and three >= active else 1 << k
    return min(size, total)


@dataclass
class Stopper:
    """Keras' EarlyStopping state for one model (mode max, min_delta 0)."""

    start: int
    patience: int
    wait: int = 0
    best: float | None = None
    best_epoch: int = 0

    def update(self, epoch: int, value: float) -> tuple[bool, bool]:
        """``(improved, stop)`` after 0-based ``epoch`` with score ``value``."""
        if epoch < self.start:
            return False, False
        self.wait += 1
        if self.best is None or value > self.best:
            self.best, self.best_epoch, self.wait = value, epoch, 0
            return True, False
        return False, self.wait >= self.patience and epoch > 0

    @property
    def has_best(self) -> bool:
        return self.best is not None
