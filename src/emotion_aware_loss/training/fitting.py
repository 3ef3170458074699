"""One network's training on arrays, prediction batches and thread settings.

:func:`fit` and :func:`fit_epochs` train one network (or an ensemble) with the
project's protocol; the pipelines train many at once through
:mod:`emotion_aware_loss.training`, which both call.
"""

from __future__ import annotations

import logging
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from emotion_aware_loss.config import TrainingConfig
from emotion_aware_loss.losses.family import describe_loss
from emotion_aware_loss.models.calibration import held_out_record
from emotion_aware_loss.models.ensemble import (
    average_of,
    member_initial_model,
    member_seed,
)
from emotion_aware_loss.progress import stack_reporter
from emotion_aware_loss.training.jobs import Corpus, Job, LossSpec, View
from emotion_aware_loss.training.setup import (
    compile_model,
    configure_threads,
    initial_weights,
    settings_of,
    with_final_similarity,
)
from emotion_aware_loss.training.stack import train_jobs

logger = logging.getLogger(__name__)


def _dataset(inputs: dict[str, Any], batch_size: int) -> tf.data.Dataset:
    """Consecutive batches of ``inputs`` for prediction.

    In-memory arrays are converted to tensors once and each batch is one
    vectorised ``tf.gather``. Inputs read on demand (anything else with a
    ``take(indices)`` method, such as
    :class:`~emotion_aware_loss.folds.cross_validation.ScaledFeatures`) are read one
    batch at a time, so they are never held whole; their ``take`` runs in
    tf.data's worker threads, several at once, so it must be thread-safe
    (``ScaledFeatures`` parses its file's header when made, not per batch).
    """
    arrays = {name: v for name, v in inputs.items() if isinstance(v, np.ndarray)}
    on_demand = {name: v for name, v in inputs.items() if name not in arrays}
    tensors = {name: tf.convert_to_tensor(v) for name, v in arrays.items()}

    def gather(rows: tf.Tensor) -> dict:
        x = {name: tf.gather(t, rows) for name, t in tensors.items()}
        for name, source in on_demand.items():
            x[name] = tf.numpy_function(
                source.take, [rows], tf.as_dtype(source.dtype), stateful=False
            )
            x[name].set_shape((None, *source.shape[1:]))
        return x

    return (
        tf.data.Dataset.range(len(next(iter(inputs.values()))))
        .batch(batch_size)
        .map(gather, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        .prefetch(tf.data.AUTOTUNE)
    )


def predict(
    model: keras.Model, inputs: dict[str, Any], batch_size: int = 32
) -> np.ndarray:
    """``model.predict(inputs, batch_size=batch_size)`` for on-demand inputs too.

    The batches are those ``model.predict`` makes from arrays (consecutive
    utterances, ``batch_size`` at a time; 32 is its default), so the predictions
    are the same; inputs such as
    :class:`~emotion_aware_loss.folds.cross_validation.ScaledFeatures` are read one
    batch at a time. The model is called on each batch directly: a model loaded
    to score one fold's test part would otherwise spend longer tracing
    ``predict`` than predicting.
    """
    selected = select_inputs(model, inputs)
    parts = [
        np.asarray(model(batch, training=False))
        for batch in _dataset(selected, batch_size)
    ]
    if not parts:
        return np.zeros((0, *model.output_shape[1:]), np.float32)
    return np.concatenate(parts)


def select_inputs(model: keras.Model, inputs: dict[str, Any]) -> dict[str, Any]:
    """Keep only the inputs the model has (a speech-only model takes no text).

    Utterance-level speech vectors are stored as one-frame sequences; a model
    whose speech input has no time axis gets them without it.
    """
    selected = {}
    for tensor in model.inputs:
        name = tensor.name.split(":")[0]
        value = inputs[name]
        if len(tensor.shape) == 2 and value.ndim == 3 and value.shape[1] == 1:
            if isinstance(value, np.ndarray):
                value = value[:, 0, :]
            else:  # read on demand (ScaledFeatures)
                value = value.without_frame_axis()
        selected[name] = value
    return selected


def _one_block(
    parts: list[tuple[dict[str, Any], np.ndarray]],
) -> tuple[Corpus, list[np.ndarray]]:
    """Inputs given as arrays (already scaled, token ids already encoded) as one
    corpus of their rows, and the row positions of each part."""
    names = set(parts[0][0])
    if any(set(x) != names for x, _ in parts):
        raise ValueError("the training and validation inputs name different inputs")
    whole = {
        name: np.concatenate([np.asarray(x[name]) for x, _ in parts]) for name in names
    }
    labels = np.concatenate([np.asarray(y, dtype=np.int32) for _, y in parts])
    starts = np.cumsum([0, *[len(y) for _, y in parts]])
    positions = [np.arange(a, b) for a, b in zip(starts[:-1], starts[1:], strict=True)]
    speech = whole.get("speech")
    if speech is not None and speech.ndim == 2:
        speech = speech[:, None, :]  # utterance vectors as one-frame sequences
    text = whole.get("text")
    tokens = (
        text if text is not None and np.issubdtype(text.dtype, np.integer) else None
    )
    width = speech.shape[-1] if speech is not None else 0
    view = View(np.zeros(width, np.float32), np.ones(width, np.float32), tokens)
    corpus = Corpus(
        labels=labels,
        speech=None if speech is None else speech.astype(np.float32),
        n_frames=np.full(len(labels), 0 if speech is None else speech.shape[1]),
        views=[view],
        text_features=None if text is None or tokens is not None else text,
    )
    return corpus, positions


def _jobs_of(
    initial_model: keras.Model,
    loss: keras.losses.Loss,
    config: TrainingConfig,
    seed: int,
    positions: dict[str, np.ndarray | None],
    dynamic_momentum: float | None,
    embedding_matrix: np.ndarray | None,
    class_weights: np.ndarray | None,
    epochs: int | None = None,
) -> list[Job]:
    name, hyper, similarity = describe_loss(loss, int(initial_model.output_shape[-1]))
    spec = LossSpec(name, similarity, hyper, dynamic_momentum)
    n_classes = int(initial_model.output_shape[-1])
    weights = (
        np.ones(n_classes, np.float32)
        if class_weights is None
        else np.asarray(class_weights, np.float32)
    )
    return [
        Job(
            name=f"member_{k}" if k else "network",
            weights=initial_weights(
                member_initial_model(initial_model, seed, k), embedding_matrix
            ),
            view=0,
            train=positions["train"],
            validation=positions.get("validation"),
            loss=spec,
            class_weights=weights,
            seed=member_seed(seed, k),
            epochs=epochs,
            refit=positions.get("refit"),
        )
        for k in range(config.ensemble)
    ]


def _model_of(
    initial_model: keras.Model,
    trained: list,
    loss: keras.losses.Loss,
    config: TrainingConfig,
    class_weights: np.ndarray | None,
) -> tuple[keras.Model, dict[str, list]]:
    members = []
    for result in trained:
        network = keras.models.clone_model(initial_model)
        network.set_weights(result.weights)
        members.append(network)
    records = [dict(r.history) for r in trained]
    for record in records:
        if class_weights is None:
            record.pop("class_weights", None)
    model = average_of(members) if len(members) > 1 else members[0]
    record = records[0]
    record |= held_out_record([r.validation for r in trained])
    with_final_similarity(loss, record)
    compile_model(model, loss, config)
    # built now (fit's callers may save the model themselves): its fresh state
    # then loads back whole
    model.optimizer.build(model.trainable_variables)
    if len(members) > 1:
        record["ensemble"] = [len(members)]
        if "best_epoch" in record:
            record["member_best_epochs"] = [r["best_epoch"][0] for r in records]
        record["members"] = records[1:]
        logger.info("Averaged an ensemble of %d networks", len(members))
    return model, record


def fit(
    initial_model: keras.Model,
    loss: keras.losses.Loss,
    train: tuple[dict[str, np.ndarray], np.ndarray],
    validation: tuple[dict[str, np.ndarray], np.ndarray],
    config: TrainingConfig,
    seed: int,
    dynamic_momentum: float | None = None,
    embedding_matrix: np.ndarray | None = None,
    class_weights: np.ndarray | None = None,
    refit_on: tuple[dict[str, np.ndarray], np.ndarray] | None = None,
) -> tuple[keras.Model, dict[str, list]]:
    """Train a copy of ``initial_model`` (the input model is left untouched).

    The project's training protocol for one network on arrays (the pipelines
    train many at once with :mod:`emotion_aware_loss.training`, which this calls
    with a stack of one): Adam, batches shuffled with ``seed``, early stopping on
    ``config.monitor`` of the validation part with the best epoch's weights
    restored; early stopping neither ends training nor picks an epoch within the
    first ``config.min_steps`` optimiser steps (whole epochs, rounded up; the last
    epoch always counts). ``class_weights`` (one per class) multiply each training
    utterance's loss; validation scores stay unweighted. With
    ``dynamic_momentum`` the loss's similarity matrix follows the class-mean
    training embeddings after every epoch (the history records the final matrix).

    With ``config.ensemble`` K > 1, K networks are trained (member ``k`` from
    weights drawn with seed ``seed + 1000 k`` and on batches shuffled with it;
    member 0 is the single network) and joined into one model that averages their
    probabilities (:mod:`emotion_aware_loss.models.ensemble`).

    With ``refit_on`` (``config.refit``: the training and validation parts
    together), each network is then trained again from its initial weights on
    those utterances for as many epochs as early stopping chose, without
    validation, and that network is returned. Its history stays that of the
    early-stopped training, plus ``validation_confusion`` (the early-stopped
    network's), ``refit_epochs`` and the refit's per-epoch ``refit_loss``.

    Returns:
        The model, compiled with ``loss``, and the per-epoch history (plus
        ``best_epoch``, 1-based; for an ensemble, member 0's history,
        ``member_best_epochs`` and the other members' histories under
        ``members``).
    """
    parts = [train, validation] + ([refit_on] if refit_on is not None else [])
    corpus, positions = _one_block(parts)
    rows = {"train": positions[0], "validation": positions[1]}
    if refit_on is not None:
        rows["refit"] = positions[2]
    configure_threads(config)
    jobs = _jobs_of(
        initial_model,
        loss,
        config,
        seed,
        rows,
        dynamic_momentum,
        embedding_matrix,
        class_weights,
    )
    report = stack_reporter([job.name for job in jobs], config.monitor)
    trained = train_jobs(initial_model, corpus, jobs, settings_of(config), report)
    return _model_of(initial_model, trained, loss, config, class_weights)


def fit_epochs(
    initial_model: keras.Model,
    loss: keras.losses.Loss,
    train: tuple[dict[str, np.ndarray], np.ndarray],
    config: TrainingConfig,
    epochs: int,
    seed: int,
    dynamic_momentum: float | None = None,
    embedding_matrix: np.ndarray | None = None,
    class_weights: np.ndarray | None = None,
) -> tuple[keras.Model, dict[str, list]]:
    """Train a copy of ``initial_model`` for exactly ``epochs`` epochs, no validation.

    Optimiser, batching, the dynamic similarity, the class weights and the
    ensemble are those of :func:`fit`; ``config.epochs`` and the early-stopping
    settings are not used.

    Returns:
        The model after its last epoch, compiled with ``loss``, and the per-epoch
        training history (for an ensemble, member 0's and the others' under
        ``members``).
    """
    corpus, positions = _one_block([train])
    configure_threads(config)
    jobs = _jobs_of(
        initial_model,
        loss,
        config,
        seed,
        {"train": positions[0]},
        dynamic_momentum,
        embedding_matrix,
        class_weights,
        epochs=epochs,
    )
    report = stack_reporter([job.name for job in jobs], config.monitor)
    trained = train_jobs(initial_model, corpus, jobs, settings_of(config), report)
    return _model_of(initial_model, trained, loss, config, class_weights)
