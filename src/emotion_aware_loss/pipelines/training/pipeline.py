"""Training: every network of a run at once, or one node per (loss variant, fold).

With ``training.stacked: true`` (the default) one node trains every loss variant on
every fold as one stacked model (:mod:`emotion_aware_loss.training`), and a second
node the variants whose similarity comes from the first round's models
(``learned``, ``confusions``). With ``false`` each (variant, fold) is its own node
``<variant>.fold_<k>.train_model_node``, as runners that spread nodes over workers
(ParallelRunner, Dask) need. Both write the same datasets:
``<variant>.fold_<k>.model`` and ``<variant>.fold_<k>.history``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial, update_wrapper

from kedro.pipeline import Node, Pipeline

from emotion_aware_loss.config.layout import DERIVED_FROM_MODELS, Layout, load_layout
from emotion_aware_loss.training.plan import PER_FOLD, SHARED, RunNames, TrainingNode

from .nodes import train_model, train_models

STACKED_NODE = "train_models_node"
SECOND_ROUND_NODE = "train_models_second_round_node"
PER_NODE = "train_model_node"


def rounds(layout: Layout) -> list[tuple[str, ...]]:
    """The variants of each training round: those with a hand-set or
    valence-arousal similarity, then those with one derived from the first
    round's models (empty rounds left out)."""
    sources = dict(zip(layout.variants, layout.similarity_sources, strict=False))
    first = tuple(
        v for v in layout.variants if sources.get(v) not in DERIVED_FROM_MODELS
    )
    second = tuple(v for v in layout.variants if v not in first)
    return [r for r in (first, second) if r]


def run_names(
    layout: Layout,
    variants: tuple[str, ...],
    folds: tuple[str, ...] | None = None,
    resolve: Callable[[str], str] = str,
    key: str = "",
) -> RunNames:
    """The datasets a training node reads and writes for one run.

    Args:
        layout: The run's variants, folds and similarity sources.
        variants: The variants this node trains.
        folds: The folds it trains (default: all).
        resolve: Maps a dataset name of the run to the catalog's (a study run's
            namespace; the identity for the project's run).
        key: Names the run in messages.
    """
    folds = layout.folds if folds is None else folds
    inputs = [(role, resolve(role)) for role in SHARED]
    inputs += [
        ("training", resolve("params:training")),
        ("seed", resolve("params:seed")),
    ]
    inputs += [
        (f"{fold}.{what}", resolve(f"{fold}.{what}"))
        for fold in folds
        for what in PER_FOLD
    ]
    outputs = []
    for variant in variants:
        inputs.append((f"{variant}.loss", resolve(f"params:loss_variants.{variant}")))
        for fold in folds:
            inputs.append(
                (
                    f"{variant}.{fold}.similarity",
                    resolve(layout.similarity_dataset(variant, fold)),
                )
            )
            for what in ("model", "history"):
                name = f"{variant}.{fold}.{what}"
                outputs.append((name, resolve(name)))
    return RunNames(key, tuple(variants), tuple(folds), tuple(inputs), tuple(outputs))


def _node(plan: TrainingNode, function: Callable, name: str, namespace: str | None):
    bound = update_wrapper(partial(function, plan), function)
    return Node(
        bound,
        inputs=plan.inputs(),
        outputs=plan.outputs(),
        name=name,
        namespace=namespace,
    )


def training_nodes(
    runs: list[tuple[Layout, Callable[[str], str], str]],
    stacked: bool,
    namespace: str | None = None,
) -> Pipeline:
    """The training nodes of one or more runs of one architecture.

    Args:
        runs: ``(layout, resolve, key)`` per run (see :func:`run_names`); a
            study's seeds of one corpus train in one stack.
        stacked: One node per round, or one per (run, variant, fold).
        namespace: The stacked nodes' namespace (e.g. ``study.<corpus>``).
    """
    if not stacked:
        nodes = []
        for layout, resolve, key in runs:
            for variant in layout.variants:
                for fold in layout.folds:
                    plan = TrainingNode(
                        (run_names(layout, (variant,), (fold,), resolve, key),)
                    )
                    scope = resolve(f"{variant}.{fold}")
                    nodes.append(_node(plan, train_model, PER_NODE, scope))
        return Pipeline(nodes)
    by_round: list[list[RunNames]] = [[], []]
    for layout, resolve, key in runs:
        first, *later = rounds(layout)
        for variants in (first, *later):
            second = variants is not first
            by_round[int(second)].append(
                run_names(layout, variants, None, resolve, key)
            )
    names = (STACKED_NODE, SECOND_ROUND_NODE)
    return Pipeline(
        [
            _node(TrainingNode(tuple(members)), train_models, names[r], namespace)
            for r, members in enumerate(by_round)
            if members
        ]
    )


def create_pipeline(layout: Layout | None = None, **kwargs) -> Pipeline:
    layout = layout or load_layout()
    return training_nodes([(layout, str, "")], layout.stacked)
