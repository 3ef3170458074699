"""Progress of a ``kedro run``: a live display in a terminal, one line per node elsewhere.

:class:`RunProgress` is the run's state and its rendering;
:class:`emotion_aware_loss.run.hooks.ProgressHooks` (registered in ``settings.py``)
follows the run through Kedro's hooks and feeds it. In a terminal it shows one live display (rich, which Kedro's logging already
uses): nodes done out of the total, elapsed time and an estimate of the time left,
and for the running node its stage, loss variant and fold, and its epoch and best
validation score (training) or utterances per second (feature extraction). Log
messages print above it. When the output is not a terminal (CI, a file, a pipe) the
display is replaced by one log line per finished node with the same figures.

The estimate of the time left is the sum, over the nodes still to run, of the mean
duration of finished nodes running the same function; it appears once a model has
been trained (trainings dominate a run) and is revised after every node. A function
not run yet in this run counts as long as it took in the project's earlier runs
(:data:`TIMINGS_FILE`, written at the end of each run), else as its stage's other
nodes, and never less than reading its inputs.

Nodes report their inner progress through :mod:`emotion_aware_loss.progress`
(:func:`~emotion_aware_loss.progress.stack_reporter`,
:func:`~emotion_aware_loss.progress.track`), which forwards to the run's
:class:`RunProgress`.

A training node's time left is the stack's own estimate (it simulates early
stopping from the scores so far, :func:`emotion_aware_loss.training.stack.forecast`);
a training node not yet started is estimated from the finished or running one with
the stack's measured cost per epoch (a fixed part plus a part per model).

Longer than most modules: one class, :class:`RunProgress`, keeps the run's state
(nodes, stacks, items, earlier timings) and renders it both ways (live, and one line
per node); its estimate of the time left reads all of that state, so the estimate
and the rendering stay together.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kedro.pipeline.node import Node
from rich.console import Group, RenderableType
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

logger = logging.getLogger(__name__)


# Runners that run the nodes in this process, where the hooks below see every node.
# (``None``: ``KedroSession.run`` without a runner uses SequentialRunner.)
IN_PROCESS_RUNNERS = ("SequentialRunner", "ThreadRunner", "None")
# Width of the log lines when the output is not a terminal (rich wraps at 80
# columns there, which splits each progress line over several); COLUMNS overrides.
PLAIN_WIDTH = 200
_FOLD = re.compile(r"^fold_\d+$")
# Mean seconds per node kind of the project's earlier runs, next to the log file
# (git-ignored): what a kind not seen yet in this run is expected to take.
TIMINGS_FILE = Path("logs") / "node_seconds.json"


def stage_of(node: Node) -> str:
    """The pipeline stage a node belongs to: the package its function lives in.

    ``emotion_aware_loss.pipelines.training.nodes.train_model`` -> ``training``.
    """
    parts = getattr(node.func, "__module__", "").split(".")
    if "pipelines" in parts[:-1]:
        return parts[parts.index("pipelines") + 1]
    return "run"


def variant_and_fold(node: Node) -> str:
    """``<variant> × fold_<k>`` from the node's namespace ('' outside namespaces)."""
    parts = (node.namespace or "").split(".")
    if parts and _FOLD.match(parts[-1]):
        return " × ".join([".".join(parts[:-1]), parts[-1]] if parts[:-1] else parts)
    return node.namespace or ""


def short_name(node: Node) -> str:
    """The node's name without its namespace and ``_node`` suffix."""
    return node.name.rpartition(".")[2].removesuffix("_node")


def _kind(node: Node) -> str:
    """What a node runs: nodes of one kind take about the same time."""
    return getattr(node.func, "__name__", short_name(node))


def _is_training_kind(kind: str) -> bool:
    return kind.startswith("train")


def _is_training(node: Node) -> bool:
    return _is_training_kind(_kind(node))


def clock(seconds: float) -> str:
    """``m:ss`` (or ``h:mm:ss``) of a duration."""
    minutes, secs = divmod(round(max(seconds, 0.0)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


@dataclass
class _Stack:
    """What a stack of networks reported after its last epoch."""

    names: list[str]
    monitor: str
    phase: str = "fit"
    epoch: int = 0
    max_epochs: int = 0
    training: int = 0
    total: int = 0
    best: list[float | None] | None = None
    remaining: float | None = None  # seconds, the stack's estimate
    fit_epochs: int = 0  # epochs of the early-stopped fit, once a refit runs
    epochs: dict[str, int] | None = None  # per phase, the stack's epochs

    def best_range(self) -> str:
        values = [b for b in (self.best or []) if b is not None and math.isfinite(b)]
        if not values:
            return ""
        low, high = min(values), max(values)
        if len(values) == 1:
            return f"best {self.monitor} {high:.4f}"
        return f"best {self.monitor} {low:.4f}–{high:.4f}"

    def detail(self) -> str:
        text = (
            f"{self.phase} epoch {self.epoch}/{self.max_epochs}, "
            f"{self.training} of {self.total} model(s) training"
        )
        best = self.best_range()
        return f"{text}, {best}" if best else text

    def summary(self) -> str:
        epochs = self.epochs or {}
        parts = [f"{self.total} model(s)"]
        if "fit" in epochs:
            parts.append(f"{epochs['fit']} epoch(s)")
        best = self.best_range()
        if best:
            parts.append(best)
        text = ", ".join(parts)
        if "refit" in epochs:
            text += f", then {epochs['refit']} refit epoch(s)"
        return text

    def per_variant(self) -> list[str]:
        """One line per variant: its models' best scores in fold order."""
        grouped: dict[str, list[str]] = {}
        for name, best in zip(self.names, self.best or [], strict=False):
            head, _, tail = name.rpartition(".fold_")
            key = head or name
            value = "  …  " if best is None else f"{best:.3f}"
            grouped.setdefault(key, []).append(value)
        width = max((len(k) for k in grouped), default=0)
        return [f"{k:<{width}}  {' '.join(v)}" for k, v in grouped.items()]


@dataclass
class _Running:
    """What one node is doing right now."""

    node: Node
    started: float
    status: str = "loading inputs"
    saved: int = 0
    items: int = 0
    items_total: int = 0
    items_unit: str = ""
    items_started: float | None = None
    items_last: float | None = None
    stack: _Stack | None = None
    last_epoch: float | None = None  # when its stack last reported an epoch

    def detail(self) -> str:
        """The stack's epoch (training) or items per second, else the status."""
        if self.stack is not None and self.stack.epoch:
            return self.stack.detail()
        if self.items_total:
            return f"{self.items}/{self.items_total} {self.items_unit}, {self.rate()}"
        return self.status

    def rate(self) -> str:
        if self.items_started is None or self.items_last is None or not self.items:
            return f"… {self.items_unit}/s"
        spent = max(self.items_last - self.items_started, 1e-9)
        return f"{self.items / spent:.0f} {self.items_unit}/s"

    def summary(self) -> str:
        """What the finished node did, for its log line."""
        if self.stack is not None and self.stack.epoch:
            return self.stack.summary()
        if self.items:
            return f"{self.items} {self.items_unit}, {self.rate()}"
        return ""


def _jobs_of(node: Node) -> int:
    """Networks a training node trains: one model and one history per network."""
    return max(1, len(node.outputs) // 2)


class RunProgress:
    """The progress of one pipeline run: what has finished, what is running, ETA.

    Safe to update from the runner's threads; rich renders it through
    ``__rich__`` (the live display refreshes it twice a second).

    Args:
        nodes: The nodes the run will execute.
        clock: Seconds from a monotonic clock (replaceable in tests).
    """

    def __init__(
        self,
        nodes: Iterable[Node],
        clock: Callable[[], float] = time.monotonic,
        earlier: dict[str, float] | None = None,
    ) -> None:
        self._pending = {node.name: node for node in nodes}
        self._earlier = dict(earlier or {})  # kind -> seconds in earlier runs
        self.total = len(self._pending)
        self._clock = clock
        self.started = clock()
        self._lock = threading.Lock()
        self._running: dict[str, _Running] = {}
        self._by_thread: dict[int, str] = {}
        self._durations: dict[str, float] = {}
        self._stage: dict[str, str] = {}
        self._kind: dict[str, str] = {}
        self._training: set[str] = set()
        self._jobs: dict[str, int] = {}
        # epochs per phase ("fit", "refit") of each finished stack
        self._phase_epochs: dict[str, dict[str, int]] = {}
        # (seconds per epoch, seconds per model-epoch) a stack measured
        self._stack_cost: tuple[float, float] | None = None
        self._stack_cost_models = 0  # networks in the stack that measured it
        # seconds each dataset of this run took to save, and saves under way
        self._saved: dict[str, float] = {}
        self._saving: dict[tuple[int, str], float] = {}
        # (seconds, networks) from a finished stack's last epoch to its node's end:
        # building each network's Keras model and saving its outputs
        self._tails: list[tuple[float, int]] = []

    # --- events -------------------------------------------------------------------
    def node_started(self, node: Node, status: str = "running") -> None:
        """Mark ``node`` as running (first input load or the call itself)."""
        with self._lock:
            running = self._running.get(node.name)
            if running is None:
                running = self._running[node.name] = _Running(node, self._clock())
                self._pending.pop(node.name, None)
            running.status = status

    def node_in_this_thread(self, node: Node) -> None:
        """Remember that ``node`` runs in the calling thread (for its callbacks)."""
        self.node_started(node)
        with self._lock:
            self._by_thread[threading.get_ident()] = node.name

    def status(self, node: Node, status: str) -> None:
        with self._lock:
            if node.name in self._running:
                self._running[node.name].status = status

    def output_saved(self, node: Node) -> bool:
        """Count one saved output of ``node``; true once all its outputs are saved."""
        with self._lock:
            running = self._running.get(node.name)
            if running is None:
                return False
            running.saved += 1
            return running.saved >= len(node.outputs)

    def node_finished(self, node: Node) -> str:
        """Record ``node`` as finished and return its progress line."""
        now = self._clock()
        with self._lock:
            running = self._running.pop(node.name, None) or _Running(node, now)
            self._pending.pop(node.name, None)
            self._by_thread = {
                t: name for t, name in self._by_thread.items() if name != node.name
            }
            seconds = now - running.started
            self._durations[node.name] = seconds
            self._stage[node.name] = stage_of(node)
            self._kind[node.name] = _kind(node)
            if _is_training(node):
                self._training.add(node.name)
                self._jobs[node.name] = (
                    running.stack.total if running.stack else _jobs_of(node)
                )
                if running.stack and running.stack.epochs:
                    self._phase_epochs[node.name] = dict(running.stack.epochs)
                if running.stack and running.last_epoch is not None:
                    self._tails.append((now - running.last_epoch, running.stack.total))
            done = len(self._durations)
            left = self._remaining(now) if self.total else None
        fields = [stage_of(node), variant_and_fold(node), short_name(node)]
        fields.append(
            f"{seconds:.1f} s" + (f" ({s})" if (s := running.summary()) else "")
        )
        total = f"/{self.total}" if self.total else ""
        timing = f"elapsed {clock(now - self.started)}"
        if left is not None:
            timing += f", about {clock(left)} left"
        return f"[{done}{total}] " + " | ".join(f for f in fields if f) + f" | {timing}"

    def stack_started(self, names: list[str], monitor: str) -> None:
        """A stack of networks (``names``) starts in this thread's node."""
        with self._lock:
            running = self._in_this_thread()
            if running is not None:
                running.stack = _Stack(list(names), monitor, total=len(names))

    def stack_epoch(self, report: Any) -> None:
        """Record one epoch of the stack training in this thread's node (an
        ``emotion_aware_loss.training.stack.EpochReport``)."""
        with self._lock:
            running = self._in_this_thread()
            if running is None or running.stack is None:
                return
            stack = running.stack
            stack.phase, stack.epoch = report.phase, report.epoch
            stack.max_epochs, stack.training = report.max_epochs, report.training
            kind = report.phase.split(" ")[0]  # "fit (stack 2 of 3)" is a fit
            epochs = dict(stack.epochs or {})
            epochs[kind] = max(epochs.get(kind, 0), report.epoch)
            stack.epochs = epochs
            if kind == "fit":  # a later stack's report leaves the earlier ones' scores
                earlier = stack.best or [None] * len(report.best)
                stack.best = [
                    new if new is not None else old
                    for new, old in zip(report.best, earlier, strict=False)
                ]
            stack.remaining = report.remaining_seconds
            running.last_epoch = self._clock()
            # the cost fitted on the most networks: a one-network stack (the final
            # model) cannot tell a step's fixed part from its per-network part, and
            # its guess at them halved the estimate of the second round after it
            if report.cost is not None and report.total >= self._stack_cost_models:
                self._stack_cost = report.cost
                self._stack_cost_models = report.total
            left = self._remaining(self._clock())
        # to the log file: how the estimate of the time left evolves (a check of it)
        logger.debug(
            "%s: %s; run about %s left",
            running.node.name,
            stack.detail(),
            "?" if left is None else clock(left),
        )

    def dataset_saving(self, name: str) -> None:
        with self._lock:
            self._saving[(threading.get_ident(), name)] = self._clock()

    def dataset_saved(self, name: str) -> None:
        with self._lock:
            started = self._saving.pop((threading.get_ident(), name), None)
            if started is not None:
                self._saved[name] = self._clock() - started

    def items_started(self, total: int, unit: str) -> None:
        with self._lock:
            running = self._in_this_thread()
            if running is not None:
                running.items, running.items_total, running.items_unit = 0, total, unit
                running.items_started = self._clock()

    def item_done(self) -> None:
        with self._lock:
            running = self._in_this_thread()
            if running is not None:
                running.items += 1
                running.items_last = self._clock()

    # --- figures ------------------------------------------------------------------
    @property
    def done(self) -> int:
        return len(self._durations)

    def elapsed(self) -> float:
        return self._clock() - self.started

    def remaining(self) -> float | None:
        """Seconds the run still needs, or None before any estimate exists."""
        with self._lock:
            return self._remaining(self._clock())

    def _remaining(self, now: float) -> float | None:
        """The estimate (lock held): mean duration of each kind, summed over nodes;
        a training node's own estimate while it runs."""
        todo = [*self._pending.values(), *(r.node for r in self._running.values())]
        training_now = [
            r
            for r in self._running.values()
            if r.stack and r.stack.remaining is not None
        ]
        if any(_is_training(node) for node in todo) and not (
            self._training or training_now
        ):
            return None  # trainings dominate: no estimate before the first one
        if not self._durations and not training_now:
            return None
        mean = self._mean_seconds(self._kind)
        stage_mean = self._mean_seconds(self._stage, training=False)
        left = 0.0
        for node in todo:
            running = self._running.get(node.name)
            if (
                running is not None
                and running.stack
                and running.stack.remaining is not None
            ):
                left += running.stack.remaining + self._tail(node, running.stack.total)
                continue
            if _is_training(node):
                expected = self._training_estimate(node, now)
            elif _kind(node) in mean:
                expected = mean[_kind(node)]
            else:
                expected = self._unseen_estimate(node, stage_mean)
            if running is not None:
                expected = max(expected - (now - running.started), 0.0)
            left += expected
        return left

    def _mean_seconds(
        self, group: dict[str, str], training: bool = True
    ) -> dict[str, float]:
        """Mean duration of the finished nodes by ``group`` (node -> its kind or
        stage; lock held), trainings left out unless ``training``."""
        seconds: dict[str, list[float]] = defaultdict(list)
        for name, value in self._durations.items():
            if training or not _is_training_kind(self._kind[name]):
                seconds[group[name]].append(value)
        return {key: sum(v) / len(v) for key, v in seconds.items()}

    def _input_saves(self, node: Node) -> list[float]:
        """Seconds each of ``node``'s inputs took to save in this run (0 for one
        not saved in it)."""
        return [self._saved.get(name, 0.0) for name in node.inputs]

    def _load_seconds(self, node: Node) -> float:
        """Reading a node's inputs saved in this run, each taken to load in twice
        the time its save took (a trained Keras model of the demo network: 0.07 s
        to load, 0.03–0.045 s to save)."""
        return 2.0 * sum(self._input_saves(node))

    def _unseen_estimate(self, node: Node, stage_mean: dict[str, float]) -> float:
        """A node of a kind not seen yet in this run (lock held): as long as in the
        project's earlier runs; without one, its stage's other nodes, and no less
        than reading its inputs.

        Counting such nodes as nothing made the last minute read "0:00 left"; a
        stage's mean alone counted the 45 evaluations after the first round as
        ``describe_setup``'s 0.0 s, and the estimate fell 20–35 % short.
        """
        if _kind(node) in self._earlier:
            return self._earlier[_kind(node)]
        return max(stage_mean.get(stage_of(node), 0.0), self._load_seconds(node))

    def kind_seconds(self) -> dict[str, float]:
        """Mean seconds per kind of the finished nodes (their training excepted:
        a training's duration depends on its stack, and is estimated from it)."""
        with self._lock:
            return self._mean_seconds(self._kind, training=False)

    def _tail(self, node: Node, networks: int) -> float:
        """What a training node does after its stack's last epoch (lock held):
        building a Keras model per network and saving each one's outputs; per
        network as the finished stacks measured it, before any as two saves of
        its largest input saved in this run (the initial model: building a
        network's model took 0.045 s, saving it 0.03–0.045 s; 0.1 s per network
        was measured after the default run's first stack)."""
        if self._tails:
            seconds = sum(t for t, _ in self._tails)
            per_network = seconds / max(sum(n for _, n in self._tails), 1)
        else:
            per_network = 2.0 * max(self._input_saves(node), default=0.0)
        return per_network * networks

    def _training_estimate(self, node: Node, now: float) -> float:
        """A training node's duration from the trainings seen (lock held): scaled
        by its number of networks with the stacks' cost per epoch and per
        model-epoch, or the mean of the finished ones of its kind.

        The final model trains for a fixed number of epochs, without the
        early-stopped fit before it: it is scaled from the refit phase of a
        finished stack (its epochs are those early stopping chose), not from
        fit and refit together, which made it read three times its length.
        """
        references = [
            (self._durations[name], self._jobs[name], self._refit_share(name))
            for name in self._training
        ]
        for running in self._running.values():
            if running.stack and running.stack.remaining is not None:
                spent = now - running.started
                tail = self._tail(running.node, running.stack.total)
                references.append(
                    (spent + running.stack.remaining + tail, running.stack.total, None)
                )
        if not references:
            return 0.0
        same = [d for d, jobs, _ in references if jobs == _jobs_of(node)]
        if same:
            return sum(same) / len(same)
        seconds, jobs, refit_share = max(references, key=lambda r: r[1])
        if stage_of(node) == "final_model" and refit_share is not None:
            seconds *= refit_share
        if self._stack_cost is None:
            return seconds * _jobs_of(node) / jobs
        per_epoch, per_model = self._stack_cost
        scale = (per_epoch + per_model * _jobs_of(node)) / (
            per_epoch + per_model * jobs
        )
        return seconds * scale

    def _refit_share(self, name: str) -> float | None:
        """The refit's share of a finished stack's epochs (None without a refit)."""
        epochs = self._phase_epochs.get(name, {})
        if not epochs.get("refit"):
            return None
        return epochs["refit"] / (epochs["refit"] + epochs.get("fit", 0))

    def stage_seconds(self) -> dict[str, float]:
        """Seconds spent per stage over the finished nodes, in running order."""
        with self._lock:
            seconds: dict[str, float] = defaultdict(float)
            for name, value in self._durations.items():
                seconds[self._stage[name]] += value
            return dict(seconds)

    def slowest(self, n: int = 10) -> list[tuple[str, float]]:
        with self._lock:
            return sorted(self._durations.items(), key=lambda kv: -kv[1])[:n]

    def _in_this_thread(self) -> _Running | None:
        """The node running in the calling thread (lock held)."""
        name = self._by_thread.get(threading.get_ident())
        if name is None and len(self._running) == 1:
            name = next(iter(self._running))
        return self._running.get(name) if name else None

    # --- display ------------------------------------------------------------------
    def __rich__(self) -> RenderableType:
        now = self._clock()
        with self._lock:
            left = self._remaining(now)
            running = list(self._running.values())
            done = len(self._durations)
        head = Table.grid(padding=(0, 1))
        estimate = (
            f"about {clock(left)} left"
            if left is not None
            else "time left: once training has started"
        )
        head.add_row(
            ProgressBar(total=max(self.total, 1), completed=done, width=30),
            Text(f"{done}/{self.total} nodes", style="bold"),
            Text(f"elapsed {clock(now - self.started)}"),
            Text(estimate, style="cyan"),
        )
        rows: list[RenderableType] = [head]
        for item in running:
            line = Text("  ", no_wrap=True, overflow="ellipsis")
            line.append(stage_of(item.node), style="bold magenta")
            where = variant_and_fold(item.node)
            if where:
                line.append(f"  {where}", style="bold")
            line.append(f"  {short_name(item.node)}  ")
            line.append(item.detail(), style="green")
            rows.append(line)
            if item.stack is not None and item.stack.epoch and item.stack.best:
                for text in item.stack.per_variant():
                    rows.append(
                        Text(f"      {text}", no_wrap=True, overflow="ellipsis")
                    )
        return Group(*rows)


def read_timings(path: Path | None) -> dict[str, float]:
    """Seconds per node kind from :data:`TIMINGS_FILE` (empty when missing or
    unreadable: it only improves the estimate of the time left)."""
    if path is None or not path.is_file():
        return {}
    try:
        seconds = json.loads(path.read_text(encoding="utf-8")).get("seconds", {})
        return {str(kind): float(value) for kind, value in seconds.items()}
    except (OSError, ValueError, TypeError, AttributeError):
        logger.debug("Ignoring unreadable %s", path, exc_info=True)
        return {}


def write_timings(path: Path, seconds: dict[str, float]) -> None:
    """Merge this run's seconds per kind into :data:`TIMINGS_FILE` (the kinds it
    did not run keep their earlier figure); written whole or not at all."""
    merged = {**read_timings(path), **seconds}
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_text(
            json.dumps({"seconds": merged}, indent=1, sort_keys=True), encoding="utf-8"
        )
        os.replace(temporary, path)
    except OSError:
        logger.debug("Could not write %s", path, exc_info=True)
        temporary.unlink(missing_ok=True)
