"""What code inside a node reports of its progress, to the run's display if any.

Nodes report their inner progress through two functions that do nothing outside a
``kedro run`` with the progress hook (tests, notebooks): :func:`stack_reporter`
(what a stack of networks reports after each epoch: the epoch, how many models
still train, each model's best validation score and the stack's own estimate of its
time left) and :func:`track` (counts the items of an iterable, e.g. utterances
during feature extraction). The display itself is
:mod:`emotion_aware_loss.run.display`; it registers with :func:`report_to`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Protocol, TypeVar

T = TypeVar("T")


class Run(Protocol):
    """What a run's progress display takes from code inside nodes."""

    def stack_started(self, names: list[str], monitor: str) -> None: ...
    def stack_epoch(self, report: Any) -> None: ...
    def items_started(self, total: int, unit: str) -> None: ...
    def item_done(self) -> None: ...


# The run whose nodes execute in this process (set by the progress hook), so that
# code inside nodes (fit, extraction) can report to it without knowing about Kedro.
_current: Run | None = None


def report_to(run: Run | None) -> None:
    """Send the progress of the nodes running in this process to ``run`` (None:
    nowhere). One run per process at a time."""
    global _current  # noqa: PLW0603
    _current = run


def stack_reporter(names: list[str] | None = None, monitor: str = "val_uar"):
    """What a stack of networks calls after each epoch, or None outside a run.

    Args:
        names: The networks of the stack (``variant.fold_k``), in its order.
        monitor: The validation score early stopping follows.

    Returns:
        A function taking the stack's ``EpochReport``; None outside a
        ``kedro run`` with this hook (tests, notebooks).
    """
    run = _current
    if run is None:
        return None
    if names is not None:
        run.stack_started(names, monitor)
    return run.stack_epoch


def track(items: Iterable[T], total: int, unit: str) -> Iterator[T]:
    """Yield ``items``, counting them (and their rate) in the run's progress display.

    Args:
        items: What a node processes one by one (e.g. utterances).
        total: How many there are.
        unit: Their name in the display, e.g. ``utt``.
    """
    run = _current
    if run is None:
        yield from items
        return
    run.items_started(total, unit)
    for item in items:
        yield item
        run.item_done()
