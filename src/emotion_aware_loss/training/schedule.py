"""The epochs of a stack: batches, validation, early stopping, reports.

A :class:`Phase` trains a stack's jobs epoch after epoch: it builds each job's
batches, runs the epoch on the device, scores the validation parts, applies each
job's early stopping (:class:`Stopper`, Keras' rules) and the non-finite-loss
rule, and reports to the progress display with an estimate of the time left.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence

import numpy as np
import tensorflow as tf

from emotion_aware_loss.losses.similarity import embedding_similarity
from emotion_aware_loss.training.device import Device
from emotion_aware_loss.training.forecast import Clock, forecast, improvement_rate
from emotion_aware_loss.training.jobs import (
    EpochReport,
    Stopper,
    epoch_order,
    warm_up_epochs,
)

logger = logging.getLogger(__name__)


def padded(parts: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Row lists as one ``(M, longest)`` array and each list's length ``(M, 1)``."""
    width = max((len(p) for p in parts), default=0)
    rows = np.zeros((len(parts), width), np.int32)
    for m, part in enumerate(parts):
        rows[m, : len(part)] = part
    return rows, np.array([[len(p)] for p in parts], np.int32).reshape(-1, 1)


def _uar(confusion: np.ndarray) -> float:
    """Recall averaged over the classes present (the ``uar`` metric)."""
    support = confusion.sum(axis=1)
    present = support > 0
    recall = np.diagonal(confusion) / np.maximum(support, 1.0)
    return float((recall * present).sum() / max(present.sum(), 1))


class Phase:
    """One pass of training over a stack: early-stopped fits and fixed lengths,
    or the refits. Every job trains its epoch ``e`` in the stack's epoch ``e``."""

    def __init__(
        self,
        device: Device,
        rows: list[np.ndarray | None],
        lengths: list[int],
        validation: list[np.ndarray | None],
        name: str,
        report: Callable[[EpochReport], None] | None,
        clock: Clock,
        refit: Sequence[np.ndarray | None] = (),
    ) -> None:
        self.device = device
        self.rows = rows
        self.lengths = lengths
        self.validation = validation
        self.name = name
        self.report = report
        self.clock = clock
        # the refit to come after this phase: which models, and its batches
        self.refit = [r is not None for r in refit]
        self.refit_steps = max(
            (
                math.ceil(len(r) / device.settings.batch_size)
                for r in refit
                if r is not None
            ),
            default=0,
        )
        settings = device.settings
        self.batch = settings.batch_size
        self.steps = [
            0 if r is None else max(1, math.ceil(len(r) / self.batch)) for r in rows
        ]
        self.stoppers: list[Stopper | None] = [
            Stopper(warm_up_epochs(settings, len(r)), settings.patience)
            if v is not None and r is not None
            else None
            for r, v in zip(rows, validation, strict=True)
        ]
        # jobs with the same seed and rows (a fold's variants) share their batches
        self.batch_keys = [
            None if r is None else (job.seed, hash(r.tobytes()))
            for r, job in zip(rows, device.jobs, strict=True)
        ]
        self.histories: list[dict[str, list]] = [{} for _ in rows]
        self.non_finite: list[int | None] = [None] * len(rows)
        self.epoch_seconds: list[float] = []

    def _orders(self, epoch: int, slots: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(A, steps, batch)`` batches of epoch ``epoch`` of jobs ``slots``."""
        steps = max(self.steps[m] for m in slots)
        orders = np.zeros((len(slots), steps * self.batch), np.int32)
        valid = np.zeros((len(slots), steps * self.batch), np.float32)
        cache: dict[tuple, np.ndarray] = {}
        for i, m in enumerate(slots):
            key = self.batch_keys[m]
            if key not in cache:
                rows = self.rows[m]
                seed = self.device.jobs[m].seed
                cache[key] = rows[epoch_order(len(rows), seed, epoch)]
            order = cache[key]
            orders[i, : len(order)] = order
            valid[i, : len(order)] = 1.0
        shape = (len(slots), steps, self.batch)
        return orders.reshape(shape), valid.reshape(shape)

    def run(self) -> None:
        device = self.device
        active = np.array(
            [
                r is not None and n > 0
                for r, n in zip(self.rows, self.lengths, strict=True)
            ]
        )
        dynamic = {
            m
            for m, job in enumerate(device.jobs)
            if job.loss.dynamic_momentum is not None and active[m]
        }
        monitor = device.settings.monitor
        max_epochs = max(self.lengths, default=0)
        for epoch in range(max_epochs):
            slots = np.flatnonzero(active).astype(np.int32)
            if not len(slots):
                break
            started = time.perf_counter()
            device.copy(slots, "weights", "epoch_start")
            orders, valid = self._orders(epoch, slots)
            padded = device.padded(slots)
            extra = len(padded) - len(slots)
            sums = device.train_epoch(
                tf.constant(padded),
                tf.constant(np.pad(orders, ((0, extra), (0, 0), (0, 0)))),
                tf.constant(np.pad(valid, ((0, extra), (0, 0), (0, 0)))),
                tf.constant(epoch, tf.int64),
            )
            sums = {k: v.numpy()[: len(slots)] for k, v in sums.items()}
            bad = sums["non_finite"]
            device.copy(slots[bad], "epoch_start", "weights")
            scores = self._validate(slots)
            improved = []
            for i, m in enumerate(slots):
                logs = self._logs(i, m, sums, scores)
                for key, value in logs.items():
                    self.histories[m].setdefault(key, []).append(value)
                stop = epoch + 1 >= self.lengths[m]
                stopper = self.stoppers[m]
                if bad[i]:
                    self._non_finite(m, epoch)
                    stop = True
                elif stopper is not None:
                    better, early = stopper.update(epoch, logs[monitor])
                    if better:
                        improved.append(m)
                    stop = stop or early
                if stop:
                    active[m] = False
            device.copy(np.asarray(improved, np.int32), "weights", "best")
            self._update_similarity(sorted(dynamic & set(slots.tolist())))
            self.epoch_seconds.append(time.perf_counter() - started)
            self.clock.add(
                len(padded),  # what the epoch computed: padding slots cost as much
                orders.shape[1],
                self.epoch_seconds[-1],
                size=len(padded),
                traced=epoch == 0,  # the first epoch traces the step
            )
            self._report(epoch, max_epochs, active, orders.shape[1])
        chosen = [
            m for m, s in enumerate(self.stoppers) if s is not None and s.has_best
        ]
        device.copy(np.asarray(chosen, np.int32), "best", "weights")

    def _validate(self, slots: np.ndarray) -> dict[str, np.ndarray] | None:
        """Scores of the jobs with validation rows among ``slots`` (by slot order;
        NaN for jobs without)."""
        scored = [i for i, m in enumerate(slots) if self.validation[m] is not None]
        if not scored:
            return None
        parts = [self.validation[slots[i]] for i in scored]
        rows, lengths = padded(parts)
        out = self.device.evaluate(
            tf.constant(slots[scored]), tf.constant(rows), tf.constant(lengths)
        )
        scores = {}
        for key, tensor in out.items():
            value = tensor.numpy()
            full = np.full((len(slots), *value.shape[1:]), np.nan, value.dtype)
            full[scored] = value
            scores[key] = full
        return scores

    def _non_finite(self, m: int, epoch: int) -> None:
        self.non_finite[m] = epoch + 1
        stopper = self.stoppers[m]
        logger.warning(
            "%s: the loss became non-finite in epoch %d of the %s; this model stops "
            "(keeping %s), the others go on",
            self.device.jobs[m].name,
            epoch + 1,
            self.name,
            "its best epoch's weights"
            if stopper is not None and stopper.has_best
            else "the weights it had when that epoch began",
        )

    def _logs(
        self,
        i: int,
        m: int,
        sums: dict[str, np.ndarray],
        scores: dict[str, np.ndarray] | None,
    ) -> dict[str, float]:
        logs = {
            "accuracy": float(sums["correct"][i] / max(sums["weight"][i], 1e-12)),
            "loss": float(sums["loss"][i] / max(sums["rows"][i], 1.0)),
            "uar": _uar(sums["confusion"][i]),
        }
        if sums["non_finite"][i]:
            logs["loss"] = float("nan")
        if scores is not None and self.validation[m] is not None:
            rows = max(scores["rows"][i], 1.0)
            logs["val_accuracy"] = float(scores["correct"][i] / rows)
            logs["val_loss"] = float(scores["loss"][i] / rows + scores["penalty"][i])
            logs["val_uar"] = _uar(scores["confusion"][i])
        return logs

    def _update_similarity(self, models: list[int]) -> None:
        """The dynamic similarity: class-mean training embeddings, every epoch."""
        if not models:
            return
        device = self.device
        rows, _ = padded([self.rows[m] for m in models])
        embeddings = device.embed(
            tf.constant(np.asarray(models, np.int32)), tf.constant(rows)
        ).numpy()
        current = device.similarity.numpy()
        names = [str(k) for k in range(device.n_classes)]
        labels = device.labels.numpy()
        for i, m in enumerate(models):
            momentum = device.jobs[m].loss.dynamic_momentum
            own = self.rows[m]
            observed = embedding_similarity(
                embeddings[i, : len(own)], labels[own], names
            ).to_numpy()
            updated = momentum * current[m] + (1 - momentum) * observed
            np.fill_diagonal(updated, 1.0)
            current[m] = updated
            self.histories[m]["dynamic_similarity"] = updated.tolist()
        device.similarity.assign(current.astype(np.float32))

    def remaining_seconds(self, epoch: int, active: np.ndarray, steps: int) -> float:
        """Expected seconds until the stack ends: this phase's epochs to come and
        the refit after it, with the models training in each (simulated)."""
        rate = improvement_rate(
            self.stoppers, self.histories, self.device.settings.monitor
        )
        training, chosen = forecast(
            self.stoppers, self.lengths, active, epoch, rate, self.refit
        )
        # an epoch of m models computes a stack of bucket_size(m) (padding included)
        sizes = self.device.stack_sizes
        seconds = self.clock.seconds(steps, sizes[training]).sum(axis=1)
        if self.refit_steps:
            horizon = int(chosen.max(initial=0))
            refitting = (chosen[:, :, None] > np.arange(horizon)[None, None, :]).sum(1)
            seconds = seconds + self.clock.seconds(
                self.refit_steps, sizes[refitting]
            ).sum(1)
        return float(seconds.mean())

    def _report(
        self, epoch: int, max_epochs: int, active: np.ndarray, steps: int
    ) -> None:
        if self.report is None:
            return
        monitor = self.device.settings.monitor
        cost = self.clock.cost()
        self.report(
            EpochReport(
                phase=self.name,
                epoch=epoch + 1,
                max_epochs=max_epochs,
                training=int(active.sum()),
                total=int(sum(r is not None for r in self.rows)),
                best=[
                    max(h[monitor]) if h.get(monitor) else None for h in self.histories
                ],
                seconds=self.epoch_seconds[-1],
                remaining_seconds=(
                    self.remaining_seconds(epoch, active, steps)
                    if cost is not None
                    else None  # no epoch timed yet: no estimate, rather than 0
                ),
                cost=cost,
            )
        )
