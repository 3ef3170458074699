"""Train many networks of one architecture at once, each as if it trained alone.

A :class:`Job` is one network to train: its initial weights, the rows of the corpus
it trains and validates on (and refits on), its loss with its hyper-parameters,
similarity matrix and class weights, and its seed. :func:`train_jobs` trains all
jobs of one architecture as one :class:`~.stacked_network.StackedNetwork`: each
epoch is one traced call that runs every step of every model (no Python per batch
when the inputs fit in memory), then every model is validated on the device and
early stopping decides, per model, whether it goes on. A model that has stopped
stops changing; the stack ends when the last one stops. Each model's result is
what training it alone gives (a stack of one is the per-node mode,
``training.stacked: false``):

* **Batches**: each epoch every job shuffles its own training rows with its own
  seed (:func:`epoch_order`); jobs with the same seed and rows (the loss variants
  of a fold) see the same batches.
* **Dropout**: masks drawn from the job's seed, the epoch and the step, so the
  variants of a fold share them too, whatever else is in the stack.
* **Loss**: the job's loss of the family (:mod:`emotion_aware_loss.losses.family`), its
  similarity matrix, hyper-parameters and class weights; each utterance's loss is
  multiplied by its class's weight and summed over the batch divided by the batch
  size, plus the L2 penalties (as Keras' ``fit`` computes it).
* **Adam** as Keras computes it, with each model's own step count.
* **Early stopping** as Keras' ``EarlyStopping(restore_best_weights=True,
  start_from_epoch=...)``: the best epoch's weights (and batch-normalisation
  statistics) are restored.
* **Refit**: jobs with ``refit`` rows train again from their initial weights on
  those rows for the epochs early stopping chose.
* **Non-finite loss**: a model whose loss turns NaN or infinite stops at that step
  (the step is not applied) and keeps its best epoch's weights, or, before early
  stopping has chosen one, those it had when the epoch began; the other models go
  on. Its history records ``non_finite_epoch``.
"""

from __future__ import annotations

import ctypes
import gc
import logging
import time
from collections.abc import Callable, Sequence

import keras
import numpy as np
import tensorflow as tf

from emotion_aware_loss.losses.family import LOSS_REGISTRY
from emotion_aware_loss.training.device import Device
from emotion_aware_loss.training.forecast import Clock
from emotion_aware_loss.training.jobs import (
    Corpus,
    EpochReport,
    Job,
    Settings,
    Trained,
)
from emotion_aware_loss.training.schedule import Phase, padded

logger = logging.getLogger(__name__)


def release_memory() -> None:
    """Free the stack's variables and traced steps and give the freed memory back
    to the system, so the next stage's peak does not stack on this one's (glibc
    keeps freed blocks otherwise)."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to trim
        pass


def _check(jobs: Sequence[Job]) -> None:
    if not jobs:
        raise ValueError("a stack needs at least one job")
    for job in jobs:
        if job.validation is None and not job.epochs:
            raise ValueError(f"job {job.name}: needs validation rows or epochs")
        if job.refit is not None and job.validation is None:
            raise ValueError(f"job {job.name}: a refit needs validation rows")
        if job.loss.name not in LOSS_REGISTRY:
            raise ValueError(
                f"job {job.name}: unknown loss {job.loss.name!r}; expected one of "
                f"{sorted(LOSS_REGISTRY)}"
            )


def _first_results(
    device: Device, jobs: Sequence[Job], phase: Phase, monitor: str
) -> list[Trained]:
    """Each job's weights and history after the early-stopped (or fixed) fit, and
    the early-stopped model's probabilities on its validation rows."""
    results = []
    weights = device.model_weights()
    validation = _validation_probabilities(device, jobs)
    for m, job in enumerate(jobs):
        history = dict(phase.histories[m])
        stopper = phase.stoppers[m]
        if stopper is not None:
            history["best_epoch"] = [stopper.best_epoch + 1]
            best = history["best_epoch"][0]
            logger.debug(
                "%s: trained %d epoch(s); best %s %.4f at epoch %d",
                job.name,
                len(history["loss"]),
                monitor,
                history[monitor][best - 1],
                best,
            )
        else:
            logger.debug(
                "%s: trained %d epoch(s) on %d utterances",
                job.name,
                len(history.get("loss", [])),
                len(job.train),
            )
        history["class_weights"] = [float(w) for w in job.class_weights]
        if phase.non_finite[m] is not None:
            history["non_finite_epoch"] = [phase.non_finite[m]]
        results.append(Trained(weights[m], history, validation[m]))
    return results


def _validation_probabilities(
    device: Device, jobs: Sequence[Job]
) -> list[tuple[np.ndarray, np.ndarray] | None]:
    """Each job's class probabilities on its validation rows and their labels
    (None for a job without), from the weights on the device."""
    held = [m for m, job in enumerate(jobs) if job.validation is not None]
    out: list[tuple[np.ndarray, np.ndarray] | None] = [None] * len(jobs)
    if not held:
        return out
    parts = [np.asarray(jobs[m].validation, np.int32) for m in held]
    rows, _ = padded(parts)
    probabilities = device.predict(
        tf.constant(np.asarray(held, np.int32)), tf.constant(rows)
    ).numpy()
    labels = device.labels.numpy()
    for i, (m, part) in enumerate(zip(held, parts, strict=True)):
        out[m] = (probabilities[i, : len(part)], labels[part])
    return out


def _refit(
    device: Device,
    jobs: Sequence[Job],
    results: list[Trained],
    report: Callable[[EpochReport], None] | None,
    clock: Clock,
) -> int:
    """Train the jobs with refit rows again from their initial weights, for the
    epochs early stopping chose; their results become the refitted networks.

    Returns:
        The epochs the refit took (0 without one).
    """
    refits = [m for m, job in enumerate(jobs) if job.refit is not None]
    if not refits:
        return 0
    # the early-stopped networks' confusions on their validation parts
    rows, lengths = padded([np.asarray(jobs[m].validation, np.int32) for m in refits])
    scores = device.evaluate(
        tf.constant(np.asarray(refits, np.int32)),
        tf.constant(rows),
        tf.constant(lengths),
    )
    epochs = [0] * len(jobs)
    parts: list[np.ndarray | None] = [None] * len(jobs)
    for m, confusion in zip(refits, scores["confusion"].numpy(), strict=True):
        history = results[m].history
        history["validation_confusion"] = confusion.astype(int).tolist()
        epochs[m] = int(history["best_epoch"][0])
        parts[m] = np.asarray(jobs[m].refit, np.int32)
    device.reset()
    second = Phase(device, parts, epochs, [None] * len(jobs), "refit", report, clock)
    second.run()
    weights = device.model_weights()
    for m in refits:
        history = results[m].history
        history["refit_epochs"] = [epochs[m]]
        history["refit_utterances"] = [len(jobs[m].refit)]
        history["refit_loss"] = second.histories[m].get("loss", [])
        if "dynamic_similarity" in second.histories[m]:
            history["dynamic_similarity"] = second.histories[m]["dynamic_similarity"]
        if second.non_finite[m] is not None:
            history["refit_non_finite_epoch"] = [second.non_finite[m]]
        results[m] = Trained(weights[m], history, results[m].validation)
        logger.debug(
            "%s: refitted for %d epoch(s) on %d utterances",
            jobs[m].name,
            epochs[m],
            len(jobs[m].refit),
        )
    return len(second.epoch_seconds)


def train_jobs(
    model: keras.Model,
    corpus: Corpus,
    jobs: Sequence[Job],
    settings: Settings,
    report: Callable[[EpochReport], None] | None = None,
) -> list[Trained]:
    """Train every job as one stack; results in the order of ``jobs``.

    Args:
        model: The architecture every job shares (only read).
        corpus: The rows the jobs read.
        jobs: The networks to train.
        settings: Batch size, learning rate, early stopping.
        report: Called after every epoch (the progress display).

    Returns:
        Each job's final weights (best epoch restored, or refitted) and history:
        per-epoch ``loss``, ``accuracy`` and ``uar`` (training part; accuracy
        weighted by the class weights), ``val_*`` of them with validation, and
        ``best_epoch`` (1-based); with a refit also ``validation_confusion`` (the
        early-stopped model's, on the validation part), ``refit_epochs``,
        ``refit_utterances`` and ``refit_loss``; ``dynamic_similarity`` for a dynamic loss,
        ``non_finite_epoch`` for a model whose loss became non-finite.

    Raises:
        ValueError: If a job is malformed (named).
    """
    _check(jobs)
    started = time.perf_counter()
    release_memory()  # what the stages before left, before the stack takes its share
    device = Device(model, corpus, jobs, settings)
    clock = Clock()
    first = Phase(
        device,
        [np.asarray(job.train, np.int32) for job in jobs],
        [settings.epochs if j.validation is not None else int(j.epochs) for j in jobs],
        [
            None if j.validation is None else np.asarray(j.validation, np.int32)
            for j in jobs
        ],
        "fit",
        report,
        clock,
        refit=[job.refit for job in jobs],
    )
    first.run()
    results = _first_results(device, jobs, first, settings.monitor)
    refit_epochs = _refit(device, jobs, results, report, clock)
    fit_epochs = len(first.epoch_seconds)
    del device, first
    release_memory()
    seconds = time.perf_counter() - started
    model_epochs = sum(
        len(r.history.get("loss", [])) + len(r.history.get("refit_loss", []))
        for r in results
    )
    logger.info(
        "Trained %d network(s) in %.1f s: %d epoch(s)%s, %d model-epochs, %.1f ms "
        "per model-epoch",
        len(jobs),
        seconds,
        fit_epochs,
        f" then {refit_epochs} refit epoch(s)" if refit_epochs else "",
        model_epochs,
        1000 * seconds / max(model_epochs, 1),
    )
    return results
