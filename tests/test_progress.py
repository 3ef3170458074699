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
from emotion_aware_loss.losses.family import CrossEntropy
from emotion_aware_loss.progress import track
from emotion_aware_loss.run import display
from emotion_aware_loss.run.display import RunProgress, stage_of, variant_and_fold
from emotion_aware_loss.run.hooks import ProgressHooks
from emotion_aware_loss.training.fitting import fit

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


def _plot(name: str) -> Node:
    return Node(
        _pipeline_function("evaluation", name),
        inputs="metrics",
        outputs=name,
        name=f"{name}_node",
    )


def test_a_kind_not_seen_yet_counts_as_its_stages_other_nodes():
    clock = FakeClock()
    nodes = [_evaluation("a", 0), _evaluation("a", 1), _plot("plot_learning_curves")]
    run = RunProgress(nodes, clock=clock)
    for node, seconds in zip(nodes[:2], (2.0, 4.0), strict=True):
        run.node_started(node)
        clock.now += seconds
        run.node_finished(node)
    # the plot has no duration of its own yet: the evaluation nodes' mean, not 0
    assert run.remaining() == pytest.approx(3.0)


def _report(phase, epoch, training, best, remaining=30.0, cost=None, total=4):
    from emotion_aware_loss.training.jobs import EpochReport  # noqa: PLC0415

    return EpochReport(
        phase=phase,
        epoch=epoch,
        max_epochs=40,
        training=training,
        total=total,
        best=best,
        seconds=1.0,
        remaining_seconds=remaining,
        cost=cost,
    )


NAMES = [
    "cross_entropy.fold_0",
    "cross_entropy.fold_1",
    "sim_loss.fold_0",
    "sim_loss.fold_1",
]


def test_a_stack_shows_its_epoch_models_training_and_each_best_score():
    clock = FakeClock()
    node = _training("cross_entropy", 0)
    run = RunProgress([node], clock=clock)
    run.node_in_this_thread(node)
    run.stack_started(NAMES, "val_uar")
    run.stack_epoch(_report("fit", 3, 3, [0.5, 0.8, 0.7, None]))
    console = Console(file=io.StringIO(), width=160, record=True)
    console.print(run)
    shown = console.export_text()
    assert "0/1 nodes" in shown
    assert (
        "fit epoch 3/40, 3 of 4 model(s) training, best val_uar 0.5000–0.8000" in shown
    )
    assert re.search(r"cross_entropy\s+0\.500 0\.800", shown)
    assert re.search(r"sim_loss\s+0\.700\s+…", shown)
    assert "about 0:30 left" in shown  # the stack's own estimate
    run.stack_epoch(_report("refit", 2, 2, [None] * 4, remaining=4.0))
    clock.now += 2
    line = run.node_finished(node)
    assert "(4 model(s), 3 epoch(s), best val_uar 0.5000–0.8000, then 2 refit" in line


def _stack_node(
    name: str, networks: int, function: str = "train_models", stage: str = "training"
) -> Node:
    """A training node of ``networks`` networks (a model and a history each)."""
    return Node(
        _pipeline_function(stage, function),
        inputs="initial_model",
        outputs=[f"{name}_{k}" for k in range(2 * networks)],
        name=f"{name}_node",
    )


def test_a_training_not_yet_started_is_estimated_from_the_stack_costs():
    clock = FakeClock()
    big = _stack_node("train_models", 4)
    small = _stack_node("train_models_second_round", 1)
    run = RunProgress([big, small], clock=clock)
    run.node_in_this_thread(big)
    run.stack_started(NAMES, "val_uar")
    # 1 s per epoch for a fixed part and 1 s per network
    run.stack_epoch(_report("fit", 1, 4, [0.5] * 4, remaining=40.0, cost=(1.0, 1.0)))
    clock.now += 10
    # the running stack: 40 s left, so 50 s in all; the one-network stack:
    # 50 s × (1 + 1) / (1 + 4)
    assert run.remaining() == pytest.approx(40.0 + 50.0 * 2 / 5)


def _round_then_final_then_second(
    clock: FakeClock,
) -> tuple[RunProgress, Node, Node, Node]:
    """A run of a 4-network stack, the final model, a 2-network second round; the
    first of them started."""
    big = _stack_node("train_models", 4)
    final = _stack_node(
        "train_final_model", 1, function="train_final_model", stage="final_model"
    )
    second = _stack_node("train_models_second_round", 2)
    run = RunProgress([big, final, second], clock=clock)
    run.node_in_this_thread(big)
    run.stack_started(NAMES, "val_uar")
    return run, big, final, second


def test_a_one_network_stack_leaves_the_cost_a_larger_stack_measured():
    clock = FakeClock()
    run, big, final, _ = _round_then_final_then_second(clock)
    run.stack_epoch(_report("fit", 1, 4, [0.5] * 4, remaining=40.0, cost=(1.0, 1.0)))
    clock.now += 50
    run.stack_epoch(_report("fit", 30, 0, [0.5] * 4, remaining=0.0))
    run.node_finished(big)
    run.node_in_this_thread(final)
    run.stack_started(["final"], "val_uar")
    # a stack of one: its own guess at the split, (4, 1), is not taken
    run.stack_epoch(
        _report("fit", 1, 1, [None], remaining=1.0, cost=(4.0, 1.0), total=1)
    )
    # the final model: 1 s left; the second round (2 networks) scaled from the
    # 4-network stack's 50 s by its cost: 50 × (1 + 2) / (1 + 4)
    assert run.remaining() == pytest.approx(1.0 + 50.0 * 3 / 5)


def test_the_final_model_is_estimated_from_a_stacks_refit_not_its_fit():
    clock = FakeClock()
    run, big, _, _ = _round_then_final_then_second(clock)
    run.stack_epoch(_report("fit", 30, 30, [0.5] * 4, remaining=9.0, cost=(1.0, 1.0)))
    clock.now += 50
    run.stack_epoch(_report("refit", 10, 10, [None] * 4, remaining=0.0))
    run.node_finished(big)
    # 50 s for 30 fit and 10 refit epochs of 4 networks; the final model (one
    # network, a fixed length): the refit's quarter of it, scaled by the cost
    # (1 + 1) / (1 + 4); the second round: all of it, by (1 + 2) / (1 + 4)
    assert run.remaining() == pytest.approx(50 / 4 * 2 / 5 + 50 * 3 / 5)


def test_a_stack_counts_building_and_saving_its_models_after_its_last_epoch():
    clock = FakeClock()
    run, big, final, second = _round_then_final_then_second(clock)
    # the initial model (an input of every stack) took 0.5 s to save
    run.dataset_saving("initial_model")
    clock.now += 0.5
    run.dataset_saved("initial_model")
    run.stack_epoch(_report("fit", 1, 4, [0.5] * 4, remaining=10.0, cost=(0.0, 1.0)))
    # before any stack has finished: each of its 4 networks as two such saves;
    # the others scaled from its 0.5 s so far, 10 s of epochs and 4 s after them
    assert run.remaining() == pytest.approx(
        10.0 + 4 * 1.0 + (1 + 2) / 4 * (0.5 + 10.0 + 4.0)
    )
    clock.now += 10
    run.stack_epoch(_report("refit", 5, 0, [None] * 4, remaining=0.0))
    clock.now += 2  # its models built and saved: 0.5 s per network
    run.node_finished(big)
    run.node_in_this_thread(final)
    run.stack_started(["final"], "val_uar")
    run.stack_epoch(_report("fit", 1, 1, [None], remaining=3.0, total=1))
    # the final model: 3 s of epochs and 0.5 s to build and save its network;
    # the second round scaled from the first stack's 12.5 s by (0 + 2) / (0 + 4)
    assert run.remaining() == pytest.approx(3.5 + 12.5 * 2 / 4)


def test_a_kind_not_seen_yet_takes_at_least_the_time_to_read_its_inputs():
    clock = FakeClock()
    describe = Node(
        _pipeline_function("evaluation", "describe_setup"), "spec", "setup", name="d"
    )
    nodes = [describe, _plot("plot_learning_curves")]
    run = RunProgress(nodes, clock=clock)
    run.node_started(describe)
    run.node_finished(describe)  # 0 s: the stage's mean alone would say nothing
    run.dataset_saving("metrics")
    clock.now += 0.25
    run.dataset_saved("metrics")
    # the plot reads "metrics": twice its save
    assert run.remaining() == pytest.approx(0.5)


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
    assert progress.stack_reporter(["a.fold_0"], "val_uar") is None
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
    assert f"(1 model(s), 3 epoch(s), best val_accuracy {best:.4f})" in line
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
    with caplog.at_level(logging.DEBUG, logger="emotion_aware_loss.run.display"):
        hooks.before_pipeline_run(params, pipeline, catalog)
        SequentialRunner().run(pipeline, catalog, manager)
        hooks.after_pipeline_run()
    lines = [r.getMessage() for r in caplog.records if r.name == display.__name__]
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
        with caplog.at_level(logging.INFO, logger="emotion_aware_loss.run.display"):
            hooks.before_dataset_loaded("a", node)
            hooks.before_node_run(node)
            hooks.after_node_run(node)
            hooks.before_dataset_saved("b", node)
            hooks.after_dataset_saved("b", node)
    finally:
        progress._current = None
    (line,) = [r.getMessage() for r in caplog.records if r.name == display.__name__]
    assert re.fullmatch(
        r"\[1\] run \| v × fold_1 \| first \| \d+\.\d s \| elapsed 0:00", line
    )


def test_a_kind_not_seen_yet_takes_what_it_took_in_earlier_runs():
    clock = FakeClock()
    describe = Node(
        _pipeline_function("evaluation", "describe_setup"), "spec", "setup", name="d"
    )
    plot = _plot("plot_learning_curves")
    run = RunProgress(
        [describe, plot], clock=clock, earlier={"plot_learning_curves": 2.5}
    )
    run.node_started(describe)
    run.node_finished(describe)
    assert run.remaining() == pytest.approx(2.5)  # not the stage's 0 s
    run.node_started(plot)
    clock.now += 4.0
    run.node_finished(plot)
    # this run's figure replaces the earlier one
    assert run.kind_seconds() == {"describe_setup": 0.0, "plot_learning_curves": 4.0}


def test_the_timings_of_a_run_are_kept_for_the_next(tmp_path):
    pipeline = Pipeline([Node(_double, "a", "b", name="first_node")])
    catalog = DataCatalog({"a": MemoryDataset(1)})
    path = tmp_path / display.TIMINGS_FILE
    path.parent.mkdir()
    path.write_text('{"seconds": {"plot_pair_costs": 1.5, "_double": 9.0}}')
    hooks = ProgressHooks()
    manager = _create_hook_manager()
    _register_hooks(manager, [hooks])
    params = {"runner": "SequentialRunner", "project_path": str(tmp_path)}
    hooks.before_pipeline_run(params, pipeline, catalog)
    assert hooks._run._earlier == {"plot_pair_costs": 1.5, "_double": 9.0}
    SequentialRunner().run(pipeline, catalog, manager)
    hooks.after_pipeline_run()
    seconds = display.read_timings(path)
    assert seconds["plot_pair_costs"] == 1.5  # not run this time: kept
    assert seconds["_double"] < 1.0  # run this time: its new figure
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary


def test_an_unreadable_timings_file_is_ignored(tmp_path):
    path = tmp_path / "node_seconds.json"
    path.write_text("{not json")
    assert display.read_timings(path) == {}
    display.write_timings(path, {"f": 1.0})
    assert display.read_timings(path) == {"f": 1.0}
