"""The run's progress display: node lines, time estimates, epochs and items."""

from __future__ import annotations

import io
import logging
import re

import numpy as np
import pytest
from kedro.framework.hooks.manager import _create_hook_manager, _register_hooks
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Node, Pipeline
from kedro.runner import SequentialRunner
from rich.console import Console

from emotion_aware_loss import progress
from emotion_aware_loss.config import TrainingConfig
from emotion_aware_loss.fitting import fit
from emotion_aware_loss.losses import CrossEntropy
from emotion_aware_loss.progress import (
    ProgressHooks,
    RunProgress,
    epoch_callbacks,
    stage_of,
    track,
    variant_and_fold,
)

from .tiny_models import separable_data, softmax_regression


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _pipeline_function(stage: str, name: str):
    """A one-argument function that looks like ``name`` of ``stage``'s nodes."""

    def func(x):
        return x

    func.__module__ = f"emotion_aware_loss.pipelines.{stage}.nodes"
    func.__name__ = name
    return func


def _training(variant: str, fold: int) -> Node:
    return Node(
        _pipeline_function("training", "train_model"),
        inputs="initial_model",
        outputs="model",
        name="train_model_node",
        namespace=f"{variant}.fold_{fold}",
    )


def _evaluation(variant: str, fold: int) -> Node:
    return Node(
        _pipeline_function("evaluation", "evaluate_model"),
        inputs="model",
        outputs="metrics",
        name="evaluate_model_node",
        namespace=f"{variant}.fold_{fold}",
    )


def test_nodes_are_named_by_stage_variant_and_fold():
    node = _training("emotion_aware", 2)
    assert stage_of(node) == "training"
    assert stage_of(_evaluation("x", 0)) == "evaluation"
    assert variant_and_fold(node) == "emotion_aware × fold_2"
    fold_only = Node(len, "a", "b", name="n", namespace="fold_1")
    assert variant_and_fold(fold_only) == "fold_1"
    assert stage_of(fold_only) == "run"  # not a pipeline's node
    assert variant_and_fold(Node(len, "a", "b", name="m")) == ""


def test_time_left_is_estimated_from_finished_nodes_of_the_same_kind():
    clock = FakeClock()
    nodes = [_training("a", 0), _training("a", 1), _evaluation("a", 0)]
    run = RunProgress(nodes, clock=clock)
    assert run.remaining() is None  # no model trained yet

    run.node_started(nodes[0])
    clock.now += 10
    line = run.node_finished(nodes[0])
    assert line.startswith("[1/3] training | a × fold_0 | train_model | 10.0 s")
    # one training of 10 s to go; evaluation has no measured duration yet
    assert run.remaining() == pytest.approx(10.0)
    assert line.endswith("elapsed 0:10, about 0:10 left")

    run.node_started(nodes[1])
    clock.now += 4  # a running node counts with what it has still to do
    assert run.remaining() == pytest.approx(6.0)
    clock.now += 16  # slower than the mean: nothing left for it, not negative
    assert run.remaining() == pytest.approx(0.0)
    run.node_finished(nodes[1])
    run.node_started(nodes[2])
    clock.now += 1
    assert run.node_finished(nodes[2]).startswith("[3/3] evaluation")
    assert run.remaining() == 0.0
    assert run.stage_seconds() == {"training": 30.0, "evaluation": 1.0}


def test_epochs_and_best_score_of_the_training_in_this_thread():
    clock = FakeClock()
    node = _training("cross_entropy", 0)
    run = RunProgress([node], clock=clock)
    run.node_in_this_thread(node)
    run.training_started(40, "val_accuracy")
    for epoch, score in enumerate([0.5, 0.8, 0.7]):
        run.epoch_ended(epoch, {"val_accuracy": score, "loss": 1.0})
    console = Console(file=io.StringIO(), width=120, record=True)
    console.print(run)
    shown = console.export_text()
    assert "0/1 nodes" in shown
    assert "cross_entropy × fold_0" in shown
    assert "epoch 4/40, best val_accuracy 0.8000" in shown
    clock.now += 2
    assert "(3 epoch(s), best val_accuracy 0.8000)" in run.node_finished(node)


def test_a_refit_keeps_the_early_stopping_summary():
    clock = FakeClock()
    node = _training("cross_entropy", 0)
    run = RunProgress([node], clock=clock)
    run.node_in_this_thread(node)
    run.training_started(40, "val_uar")
    for epoch, score in enumerate([0.5, 0.8, 0.7]):
        run.epoch_ended(epoch, {"val_uar": score})
    run.training_started(2, None, "refit")
    run.epoch_ended(0, {"accuracy": 0.99})
    console = Console(file=io.StringIO(), width=160, record=True)
    console.print(run)
    shown = console.export_text()
    assert "refit epoch 2/2 (after 3 epoch(s), best val_uar 0.8000)" in shown
    run.epoch_ended(1, {"accuracy": 0.99})
    clock.now += 2
    line = run.node_finished(node)
    assert "(3 epoch(s), best val_uar 0.8000, then 2 refit epoch(s))" in line
    assert "accuracy 0.99" not in line


def test_items_are_counted_with_their_rate():
    clock = FakeClock()
    node = Node(len, "corpus", "features", name="extract_node")
    run = RunProgress([node], clock=clock)
    run.node_in_this_thread(node)
    progress._current = run
    try:
        seen = []
        for item in track(range(4), 4, "utt"):
            seen.append(item)
            clock.now += 0.5
    finally:
        progress._current = None
    assert seen == [0, 1, 2, 3]
    assert "(4 utt, 2 utt/s)" in run.node_finished(node)


def test_outside_a_run_nothing_is_added():
    assert epoch_callbacks(10, "val_accuracy") == []
    assert list(track(iter("abc"), 3, "utt")) == ["a", "b", "c"]


def test_the_display_follows_fit_without_changing_it():
    x, y = separable_data(60, 4, seed=0)
    model = softmax_regression(4, 2)
    data = ({"speech": x[:40]}, y[:40]), ({"speech": x[40:]}, y[40:])
    config = TrainingConfig(epochs=3, batch_size=16, patience=3)
    alone, alone_history = fit(model, CrossEntropy(), *data, config, seed=1)

    node = _training("cross_entropy", 0)
    run = RunProgress([node])
    run.node_in_this_thread(node)
    progress._current = run
    try:
        shown, shown_history = fit(model, CrossEntropy(), *data, config, seed=1)
    finally:
        progress._current = None
    line = run.node_finished(node)
    best = max(shown_history["val_accuracy"])
    assert f"(3 epoch(s), best val_accuracy {best:.4f})" in line
    assert shown_history == alone_history
    for a, b in zip(alone.get_weights(), shown.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def _double(x: int) -> int:
    return 2 * x


def test_the_hooks_log_one_line_per_node_and_a_summary(caplog):
    pipeline = Pipeline(
        [
            Node(_double, "a", "b", name="first_node"),
            Node(_double, "b", "c", name="second_node", namespace="v.fold_0"),
        ]
    )
    catalog = DataCatalog({"a": MemoryDataset(1)})
    hooks = ProgressHooks()
    manager = _create_hook_manager()
    _register_hooks(manager, [hooks])
    params = {"runner": "SequentialRunner", "only_missing_outputs": False}
    with caplog.at_level(logging.DEBUG, logger="emotion_aware_loss.progress"):
        hooks.before_pipeline_run(params, pipeline, catalog)
        SequentialRunner().run(pipeline, catalog, manager)
        hooks.after_pipeline_run()
    lines = [r.getMessage() for r in caplog.records if r.name == progress.__name__]
    assert lines[0] == "Running 2 nodes (run 2)"
    assert lines[1].startswith("[1/2] run | first | ")
    assert lines[2].startswith("[2/2] run | v × fold_0 | second | ")
    assert lines[3].startswith("Finished 2 of 2 nodes in 0:0")
    assert progress._current is None  # the run is over


def test_a_worker_process_logs_its_nodes_without_a_total(caplog):
    """ParallelRunner/Dask workers get node hooks but not the pipeline hook."""
    hooks = ProgressHooks()
    node = Node(_double, "a", "b", name="first_node", namespace="v.fold_1")
    try:
        with caplog.at_level(logging.INFO, logger="emotion_aware_loss.progress"):
            hooks.before_dataset_loaded("a", node)
            hooks.before_node_run(node)
            hooks.after_node_run(node)
            hooks.before_dataset_saved("b", node)
            hooks.after_dataset_saved("b", node)
    finally:
        progress._current = None
    (line,) = [r.getMessage() for r in caplog.records if r.name == progress.__name__]
    assert re.fullmatch(
        r"\[1\] run \| v × fold_1 \| first \| \d+\.\d s \| elapsed 0:00", line
    )
