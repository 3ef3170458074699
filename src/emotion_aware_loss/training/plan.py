"""What the pipeline's datasets become for a stack, and what a stack gives back.

A *run* is one cross-validation: its initial network, the corpus table and
features, and per fold its split, scaler, vocabulary and embedding matrix. The
training pipeline hands one or more runs (a study's seeds) to :func:`train_runs`,
which turns every (variant, fold, ensemble member) into a
:class:`~.stack.Job`, trains them all as one stack and returns, per (variant,
fold), the trained Keras model (compiled with its loss) and its history, as
``fitting.fit`` did for one network.

Longer than most modules: it is the one translation between the pipeline's datasets
and a stack, both ways (runs and folds into jobs, trained models and histories
back), with the training node Kedro calls; a split would pass the same run
structures back and forth.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np
import pandas as pd

from emotion_aware_loss.config import LossConfig, TrainingConfig
from emotion_aware_loss.features.text import encode_texts
from emotion_aware_loss.folds.cross_validation import TRAIN, VALIDATION, rows_of
from emotion_aware_loss.losses.family import make_loss, own_hyper_parameters
from emotion_aware_loss.models.calibration import held_out_record
from emotion_aware_loss.models.ensemble import (
    average_of,
    member_initial_model,
    member_seed,
)
from emotion_aware_loss.models.inputs import InputSpec
from emotion_aware_loss.progress import stack_reporter
from emotion_aware_loss.training.jobs import (
    STATE_COPIES,
    Corpus,
    EpochReport,
    Job,
    LossSpec,
    View,
)
from emotion_aware_loss.training.setup import (
    compile_model,
    configure_threads,
    initial_weights,
    settings_of,
    with_final_similarity,
)
from emotion_aware_loss.training.stack import train_jobs

logger = logging.getLogger(__name__)


@dataclass
class Fold:
    """One fold of a run: its split and the transforms fitted on its training part.

    Attributes:
        name: ``fold_<k>``.
        split: ``utterance_id, fold, split`` of the fold.
        feature_scaler: ``mean`` and ``std`` per acoustic feature.
        vocabulary: The fold's vocabulary.
        embedding_matrix: Pre-trained vectors of its vocabulary (empty: none).
    """

    name: str
    split: pd.DataFrame
    feature_scaler: dict[str, list[float]]
    vocabulary: list[str]
    embedding_matrix: np.ndarray

    @property
    def number(self) -> int:
        return int(self.split["fold"].iloc[0])


@dataclass
class Variant:
    """One loss variant of a run and the similarity matrix of each of its folds."""

    name: str
    loss: LossConfig
    similarity: dict[str, pd.DataFrame]  # fold name -> matrix


@dataclass
class Run:
    """One cross-validation's inputs (one seed of a study, or the project's run)."""

    key: str  # names the run in messages ("" for the project's run)
    initial_model: keras.Model
    model_input_table: pd.DataFrame
    acoustic_features: np.ndarray
    input_spec: InputSpec
    training: TrainingConfig
    seed: int
    folds: list[Fold]
    variants: list[Variant]
    text_features: np.ndarray | None = None


@dataclass
class _Planned:
    """The jobs of one (run, variant, fold): one per ensemble member."""

    run: Run
    variant: Variant
    fold: Fold
    jobs: list[int] = field(default_factory=list)


def loss_spec(loss: LossConfig, similarity: np.ndarray) -> LossSpec:
    """A variant's loss for the stack (its hyper-parameters by name)."""
    return LossSpec(
        loss.loss,
        np.asarray(similarity, dtype=np.float32),
        own_hyper_parameters(loss.loss, loss.hyper_parameters()),
        loss.dynamic_momentum if loss.dynamic else None,
    )


def _same_table(runs: Sequence[Run]) -> None:
    first = runs[0]
    for run in runs[1:]:
        if run.model_input_table is not first.model_input_table and not (
            run.model_input_table["utterance_id"].equals(
                first.model_input_table["utterance_id"]
            )
        ):
            raise ValueError(
                f"runs {first.key!r} and {run.key!r} read different corpora; a stack "
                "trains the runs of one corpus"
            )
        if run.training.batch_size != first.training.batch_size:
            raise ValueError(
                f"runs {first.key!r} and {run.key!r} differ in training.batch_size "
                f"({first.training.batch_size} and {run.training.batch_size}); one "
                "stack needs one batch size"
            )


def _corpus(runs: Sequence[Run]) -> tuple[Corpus, dict[tuple[int, str], int]]:
    """The rows every run reads and one view per (run, fold)."""
    first = runs[0]
    table = first.model_input_table
    tokens_input = not first.input_spec.embedded_text
    texts = table["tokens"].astype(str).tolist()
    max_tokens = first.input_spec.max_tokens
    views, index = [], {}
    for r, run in enumerate(runs):
        for fold in run.folds:
            index[(r, fold.name)] = len(views)
            views.append(
                View(
                    np.asarray(fold.feature_scaler["mean"], np.float32),
                    np.asarray(fold.feature_scaler["std"], np.float32),
                    encode_texts(texts, fold.vocabulary, max_tokens)
                    if tokens_input
                    else None,
                )
            )
    text_features = first.text_features
    corpus = Corpus(
        labels=table["label_id"].to_numpy(dtype=np.int32),
        speech=first.acoustic_features,
        n_frames=table["n_frames"].to_numpy(dtype=np.int64),
        views=views,
        text_features=text_features
        if text_features is not None and text_features.size
        else None,
        resident_bytes=int(first.training.max_resident_mb) << 20,
    )
    return corpus, index


def _jobs(
    runs: Sequence[Run], views: dict[tuple[int, str], int]
) -> tuple[list[Job], list[_Planned]]:
    jobs: list[Job] = []
    planned: list[_Planned] = []
    for r, run in enumerate(runs):
        classes = list(run.input_spec.classes)
        table = run.model_input_table
        for fold in run.folds:
            train = rows_of(table, fold.split, TRAIN)
            validation = rows_of(table, fold.split, VALIDATION)
            refit = None
            if run.training.refit:
                # the validation part joins the training part (the scaler and the
                # vocabulary stay those fitted on the training part)
                joined = fold.split.assign(
                    split=fold.split["split"].replace({VALIDATION: TRAIN})
                )
                refit = rows_of(table, joined, TRAIN)
            labels = table["label_id"].to_numpy(dtype=np.int32)[train]
            class_weights = run.training.class_weights(labels, classes)
            # every variant of a fold: the same initial weights, batches and seed
            seed = run.seed + fold.number
            members = [
                initial_weights(
                    member_initial_model(run.initial_model, seed, k),
                    fold.embedding_matrix,
                )
                for k in range(run.training.ensemble)
            ]
            for variant in run.variants:
                plan = _Planned(run, variant, fold)
                spec = loss_spec(variant.loss, variant.similarity[fold.name].to_numpy())
                for k, weights in enumerate(members):
                    plan.jobs.append(len(jobs))
                    jobs.append(
                        Job(
                            name=_job_name(run, variant, fold, k),
                            weights=weights,
                            view=views[(r, fold.name)],
                            train=train,
                            validation=validation,
                            loss=spec,
                            class_weights=class_weights,
                            seed=member_seed(seed, k),
                            refit=refit,
                        )
                    )
                planned.append(plan)
    return jobs, planned


def _job_name(run: Run, variant: Variant, fold: Fold, member: int) -> str:
    parts = [run.key, variant.name, fold.name]
    if member:
        parts.append(f"member_{member}")
    return ".".join(p for p in parts if p)


def _assemble(
    plan: _Planned, results: list, training: TrainingConfig
) -> tuple[keras.Model, dict[str, list]]:
    """The Keras model (an ensemble of the members) and history of one plan."""
    run, variant = plan.run, plan.variant
    loss = make_loss(
        variant.loss.loss,
        variant.similarity[plan.fold.name].to_numpy(),
        **variant.loss.hyper_parameters(),
    )
    members = []
    for m in plan.jobs:
        network = keras.models.clone_model(run.initial_model)
        network.set_weights(results[m].weights)
        members.append(network)
    records = [results[m].history for m in plan.jobs]
    model = average_of(members) if len(members) > 1 else members[0]
    with_final_similarity(loss, records[0])
    compile_model(model, loss, training)
    record = dict(records[0])
    validation = rows_of(run.model_input_table, plan.fold.split, VALIDATION)
    record |= held_out_record(
        [results[m].validation for m in plan.jobs],
        run.model_input_table["utterance_id"].to_numpy()[validation],
    )
    if len(members) > 1:
        record["ensemble"] = [len(members)]
        if "best_epoch" in record:
            record["member_best_epochs"] = [r["best_epoch"][0] for r in records]
        record["members"] = records[1:]
    record["fold"] = [plan.fold.number]
    return model, record


class _Part:
    """The reports of one of several stacks, as reports of all of them: its models'
    scores in their place among all, the models of the stacks still to come
    counted as training, and their time estimated from this stack's."""

    def __init__(
        self, report: Callable[[EpochReport], None], start: int, size: int, total: int
    ) -> None:
        self.report, self.start, self.size, self.total = report, start, size, total
        self.started = time.perf_counter()

    def __call__(self, epoch: EpochReport) -> None:
        if self.size == self.total:
            self.report(epoch)
            return
        later = self.total - self.start - self.size
        spent = time.perf_counter() - self.started
        best = [None] * self.total
        best[self.start : self.start + self.size] = epoch.best
        part = self.start // self.size + 1
        parts = -(-self.total // self.size)
        self.report(
            dataclasses.replace(
                epoch,
                phase=f"{epoch.phase} (stack {part} of {parts})",
                training=epoch.training + later,
                total=self.total,
                best=best,
                remaining_seconds=None
                if epoch.remaining_seconds is None
                else epoch.remaining_seconds
                + (spent + epoch.remaining_seconds) * later / self.size,
            )
        )


def train_runs(
    runs: Sequence[Run],
    report: Callable[[EpochReport], None] | None = None,
) -> dict[tuple[str, str, str], tuple[keras.Model, dict[str, list]]]:
    """Train every variant of every fold of every run as one stack.

    Each fold's training part is fitted, each utterance's loss multiplied by its
    class's weight (``training.class_weight``); its validation part drives early
    stopping and the best epoch's weights are restored; with ``training.refit``
    each network is trained again from its initial weights on the training and
    validation parts for the epochs early stopping chose. The test part is not
    touched. A non-empty embedding matrix (pre-trained vectors of the fold's
    vocabulary) replaces the text embeddings before training; with
    ``training.ensemble`` K > 1 each model is K networks (member ``k`` from
    weights and batches seeded ``seed + fold + 1000 k``) whose probabilities are
    averaged.

    Args:
        runs: The runs to train (one architecture: a corpus and its seeds).
        report: Called after every epoch of the stack (progress display).

    Returns:
        ``(run key, variant, fold)`` -> the trained model (compiled with its loss)
        and its history; with validation, the history also keeps the early-stopped
        model's probabilities on the validation part (``validation_probabilities``,
        ``_labels``, ``_utterances``: what calibrates it,
        :func:`emotion_aware_loss.models.calibration.held_out_record`).

    Raises:
        ValueError: If the runs cannot share one stack (named).
    """
    if not runs:
        return {}
    _same_table(runs)
    training = runs[0].training
    configure_threads(training)
    if training.deterministic:
        import tensorflow as tf  # noqa: PLC0415

        tf.config.experimental.enable_op_determinism()  # process-wide
    corpus, views = _corpus(runs)
    jobs, planned = _jobs(runs, views)
    logger.info(
        "Training %d network(s) at once: %d run(s) x variants x folds%s",
        len(jobs),
        len(runs),
        f" x {training.ensemble} members" if training.ensemble > 1 else "",
    )
    model = runs[0].initial_model
    per_model = STATE_COPIES * 4 * model.count_params()
    size = max(1, (training.stack_memory_mb << 20) // per_model)
    if size < len(jobs):
        logger.info(
            "%d networks of %d weights need more than training.stack_memory_mb = "
            "%d MB at once: %d stacks of up to %d",
            len(jobs),
            model.count_params(),
            training.stack_memory_mb,
            -(-len(jobs) // size),
            size,
        )
    if report is None:
        report = stack_reporter([job.name for job in jobs], training.monitor)
    results = []
    for start in range(0, len(jobs), size):
        part = jobs[start : start + size]
        shown = _Part(report, start, len(part), len(jobs)) if report else None
        results.extend(train_jobs(model, corpus, part, settings_of(training), shown))
    out = {}
    for plan in planned:
        key = (plan.run.key, plan.variant.name, plan.fold.name)
        out[key] = _assemble(plan, results, plan.run.training)
    return out


def train_for_epochs(
    initial_model: keras.Model,
    model_input_table: pd.DataFrame,
    acoustic_features: np.ndarray,
    fold: Fold,
    input_spec: InputSpec,
    training: TrainingConfig,
    variant: Variant,
    epochs: int,
    seed: int,
    text_features: np.ndarray | None = None,
    report: Callable[[EpochReport], None] | None = None,
) -> tuple[keras.Model, dict[str, list]]:
    """Train ``variant`` on every row of ``fold``'s training part for ``epochs``
    epochs, without validation (the final model), as a stack of its ensemble
    members (member ``k`` seeded ``seed + 1000 k``).

    Returns:
        The model (compiled with its loss) and its history: per-epoch training
        ``loss``, ``accuracy`` and ``uar`` (for an ensemble, member 0's and the
        others' under ``members``).
    """
    run = Run(
        "",
        initial_model,
        model_input_table,
        acoustic_features,
        input_spec,
        training,
        seed,
        [fold],
        [variant],
        text_features,
    )
    configure_threads(training)
    corpus, views = _corpus([run])
    table = model_input_table
    train = rows_of(table, fold.split, TRAIN)
    classes = list(input_spec.classes)
    labels = table["label_id"].to_numpy(dtype=np.int32)[train]
    spec = loss_spec(variant.loss, variant.similarity[fold.name].to_numpy())
    plan = _Planned(run, variant, fold)
    jobs = []
    for k in range(training.ensemble):
        plan.jobs.append(k)
        jobs.append(
            Job(
                name=_job_name(run, variant, fold, k) + ".final",
                weights=initial_weights(
                    member_initial_model(initial_model, seed, k), fold.embedding_matrix
                ),
                view=views[(0, fold.name)],
                train=train,
                validation=None,
                loss=spec,
                class_weights=training.class_weights(labels, classes),
                seed=member_seed(seed, k),
                epochs=epochs,
            )
        )
    if report is None:
        report = stack_reporter([job.name for job in jobs], training.monitor)
    results = train_jobs(initial_model, corpus, jobs, settings_of(training), report)
    model, history = _assemble(plan, results, training)
    model.optimizer.build(model.trainable_variables)  # its state then reloads whole
    history.pop("fold", None)
    return model, history


def input_names(model: keras.Model) -> list[str]:
    """The names of a model's inputs."""
    return [t.name.split(":")[0] for t in model.inputs]


# --- the node's view: which dataset is which input of which run ------------------------
SHARED = (
    "initial_model",
    "model_input_table",
    "acoustic_features",
    "input_spec",
    "text_features",
)
PER_FOLD = ("split", "feature_scaler", "vocabulary", "embedding_matrix")


@dataclass(frozen=True)
class RunNames:
    """The datasets of one run a training node reads and writes.

    Attributes:
        key: Names the run in messages and results (a study run's namespace, or
            "" for the project's run).
        variants: The loss variants it trains here.
        folds: Its folds.
        inputs: Role -> dataset: the :data:`SHARED` roles, ``training`` and
            ``seed`` (parameters), ``<fold>.<what>`` for :data:`PER_FOLD`,
            ``<variant>.loss`` (its parameters) and ``<variant>.<fold>.similarity``.
        outputs: ``<variant>.<fold>.model`` / ``.history`` -> dataset.
    """

    key: str
    variants: tuple[str, ...]
    folds: tuple[str, ...]
    inputs: tuple[tuple[str, str], ...]
    outputs: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class TrainingNode:
    """What one training node trains: some variants of some runs, as one stack."""

    runs: tuple[RunNames, ...]

    def inputs(self) -> dict[str, str]:
        """The node's inputs: ``<run index>|<role>`` -> dataset."""
        return {
            f"{r}|{role}": dataset
            for r, run in enumerate(self.runs)
            for role, dataset in run.inputs
        }

    def outputs(self) -> dict[str, str]:
        """The node's outputs: ``<run index>|<variant>.<fold>.<model|history>``."""
        return {
            f"{r}|{name}": dataset
            for r, run in enumerate(self.runs)
            for name, dataset in run.outputs
        }

    def train(self, values: dict[str, Any]) -> dict[str, Any]:
        """Train every run's variants on every fold (one stack); the outputs."""
        runs = []
        for r, names in enumerate(self.runs):
            value = {role: values[f"{r}|{role}"] for role, _ in names.inputs}
            folds = [
                Fold(
                    fold,
                    value[f"{fold}.split"],
                    value[f"{fold}.feature_scaler"],
                    value[f"{fold}.vocabulary"],
                    value[f"{fold}.embedding_matrix"],
                )
                for fold in names.folds
            ]
            variants = [
                Variant(
                    v,
                    LossConfig.model_validate(value[f"{v}.loss"]),
                    {f: value[f"{v}.{f}.similarity"] for f in names.folds},
                )
                for v in names.variants
            ]
            runs.append(
                Run(
                    names.key,
                    value["initial_model"],
                    value["model_input_table"],
                    value["acoustic_features"],
                    value["input_spec"],
                    TrainingConfig.model_validate(value["training"]),
                    int(value["seed"]),
                    folds,
                    variants,
                    value["text_features"],
                )
            )
        trained = train_runs(runs)
        out = {}
        for r, names in enumerate(self.runs):
            for variant in names.variants:
                for fold in names.folds:
                    model, history = trained[(names.key, variant, fold)]
                    out[f"{r}|{variant}.{fold}.model"] = model
                    out[f"{r}|{variant}.{fold}.history"] = history
        return out


__all__ = [
    "Fold",
    "Run",
    "RunNames",
    "TrainingNode",
    "Variant",
    "train_for_epochs",
    "train_runs",
]
