"""Study: every corpus × seed as its own namespace, then one aggregation.

``study.<corpus>`` preprocesses the corpus once (audio, or precomputed features);
``study.<corpus>.seed_<seed>`` runs fold generation, model building, training,
baselines, similarity and evaluation on it with the run's parameters and writes its
own report. The aggregation reads every run's ``cv_fold_metrics``. Runs, their
parameters and their datasets come from :mod:`emotion_aware_loss.study.design`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from functools import partial
from typing import Any

from kedro.pipeline import Node, Pipeline

from emotion_aware_loss.config.layout import Layout, load_parameters
from emotion_aware_loss.pipelines import (
    baselines,
    evaluation,
    fold_generation,
    from_features,
    model_building,
    preprocessing,
    similarity,
)
from emotion_aware_loss.pipelines.training import pipeline as training
from emotion_aware_loss.study.design import StudyRun, study_config, study_runs

from .nodes import (
    aggregate_frontiers,
    collect_study_metrics,
    plot_critical_difference,
    summarise_study_runs,
    test_study_runs,
    write_study_report,
)

# Raw inputs every run reads unchanged (01_raw).
SHARED_RAW = {"emotion_similarity", "word_vectors"}

# The seeds of a corpus train in one stack (a node in ``study.<corpus>``), so each
# seed's namespace has a node of another namespace between its folds and its
# evaluation, which Kedro reports whenever it builds a pipeline. That is the
# design, not a mistake: only this report is silenced.
warnings.filterwarnings(
    "ignore",
    message=r"Namespace 'study\.[^']+\.seed_[^']+' is interrupted by nodes "
    r"\[('[^']*', )*'study\.[^.']+\.train_models(_second_round)?_node'\]",
    category=UserWarning,
)


def cross_validation(layout: Layout) -> Pipeline:
    """The stages after preprocessing, for one run's layout, but for training (the
    corpus's runs train together, :func:`corpus_training`) and the final model."""
    return sum(
        (
            fold_generation.create_pipeline(layout),
            model_building.create_pipeline(),
            baselines.create_pipeline(layout),
            similarity.create_pipeline(layout),
            evaluation.create_pipeline(layout),
        ),
        Pipeline([]),
    )


def corpus_preprocessing(run: StudyRun, dataset: str) -> Pipeline:
    """The corpus's preprocessing in ``study.<corpus>``, reading catalog ``dataset``."""
    if run.precomputed:
        steps, source = from_features.create_pipeline(), "corpus_features"
    else:
        steps, source = preprocessing.create_pipeline(), "corpus"
    return Pipeline(
        steps,
        namespace=run.corpus_namespace,
        inputs={source: dataset} | {name: name for name in SHARED_RAW & steps.inputs()},
    )


def run_datasets(run: StudyRun, prepared: Pipeline) -> Callable[[str], str]:
    """Where one run's datasets are: the corpus's features and tables at corpus
    level, the raw shared inputs unchanged, everything else in the run's namespace
    (parameters too)."""
    from_corpus = prepared.all_outputs()

    def resolve(name: str) -> str:
        if name.startswith("params:"):
            return f"params:{run.namespace}.{name.removeprefix('params:')}"
        corpus_level = f"{run.corpus_namespace}.{name}"
        if corpus_level in from_corpus:
            return corpus_level
        if name in SHARED_RAW:
            return name
        return f"{run.namespace}.{name}"

    return resolve


def run_pipeline(run: StudyRun, layout: Layout, prepared: Pipeline) -> Pipeline:
    """One run in ``study.<corpus>.seed_<seed>``, reading the corpus's features."""
    steps = cross_validation(layout)
    resolve = run_datasets(run, prepared)
    inputs = {}
    for name in steps.inputs():
        if name.startswith("params:"):
            continue
        target = resolve(name)
        if target != f"{run.namespace}.{name}":
            inputs[name] = target
    return Pipeline(steps, namespace=run.namespace, inputs=inputs)


def corpus_training(
    runs: list[tuple[StudyRun, Layout]], prepared: Pipeline
) -> Pipeline:
    """Every seed of one corpus trained together (one stack per round), unless
    ``training.stacked`` is off, in the namespace ``study.<corpus>``."""
    stacked = all(layout.stacked for _, layout in runs)
    return training.training_nodes(
        [(layout, run_datasets(run, prepared), run.namespace) for run, layout in runs],
        stacked,
        namespace=runs[0][0].corpus_namespace,
    )


def aggregation(runs: list[StudyRun]) -> Pipeline:
    """The study's tables, diagram and report from every run's fold metrics."""
    return Pipeline(
        [
            Node(
                collect_study_metrics,
                inputs={run.key: f"{run.namespace}.cv_fold_metrics" for run in runs},
                outputs="study_fold_metrics",
                name="collect_study_metrics_node",
            ),
            Node(
                summarise_study_runs,
                inputs="study_fold_metrics",
                outputs="study_summary",
                name="summarise_study_runs_node",
            ),
            Node(
                test_study_runs,
                inputs=["study_fold_metrics", "params:study.tests"],
                outputs="study_tests",
                name="test_study_runs_node",
            ),
            Node(
                aggregate_frontiers,
                inputs={run.key: f"{run.namespace}.frontier_points" for run in runs},
                outputs=["study_frontier", "study_frontier_plot"],
                name="aggregate_frontiers_node",
            ),
            Node(
                plot_critical_difference,
                inputs=["study_tests", "params:study.tests"],
                outputs="study_critical_difference_plot",
                name="plot_critical_difference_node",
            ),
            Node(
                write_study_report,
                inputs=[
                    "study_summary",
                    "study_tests",
                    "study_fold_metrics",
                    "params:study.tests",
                ],
                outputs="study_report",
                name="write_study_report_node",
            ),
        ]
    )


def create_pipeline(parameters: dict[str, Any] | None = None, **kwargs) -> Pipeline:
    """Every run of ``study`` in ``parameters`` (default: the run's), then the tests.

    Returns:
        An empty pipeline when the parameters have no ``study`` block.
    """
    parameters = parameters if parameters is not None else load_parameters()
    runs = study_runs(parameters)
    if not runs:
        return Pipeline([])
    config = study_config(parameters)
    parts = []
    prepared: dict[str, Pipeline] = {}
    by_corpus: dict[str, list[tuple[StudyRun, Layout]]] = {}
    for run, layout in runs.items():
        if run.corpus not in prepared:
            dataset = config.corpora[run.corpus].dataset
            prepared[run.corpus] = corpus_preprocessing(run, dataset)
            parts.append(prepared[run.corpus])
        parts.append(run_pipeline(run, layout, prepared[run.corpus]))
        by_corpus.setdefault(run.corpus, []).append((run, layout))
    for corpus, members in by_corpus.items():
        parts.append(corpus_training(members, prepared[corpus]))
    return sum(parts, Pipeline([])) + aggregation(list(runs))


def refuse_study(message: str) -> None:
    """The study's only node when its parameters do not fit the project.

    Raises:
        ValueError: Always, with ``message``.
    """
    raise ValueError(message)


def registered_pipeline() -> Pipeline:
    """``create_pipeline()`` for the registry, which builds every pipeline each run.

    A ``study`` block that does not fit the project (e.g. ``study.variants`` naming
    a variant conf/local removed) must not stop ``kedro run`` of the other
    pipelines: the study is then one node that raises the error when it runs.
    """
    try:
        return create_pipeline()
    except ValueError as error:
        return Pipeline(
            [
                Node(
                    partial(refuse_study, f"the study cannot run: {error}"),
                    inputs=None,
                    outputs="study_refused",  # never written: the node raises
                    name="refuse_study_node",
                )
            ]
        )
