"""Model fitting with Adam, tf.data and early stopping on validation accuracy."""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from sklearn.metrics import confusion_matrix

from emotion_aware_loss.config import TrainingConfig
from emotion_aware_loss.ensemble import (
    average_of,
    embedding_model,
    member_initial_model,
    member_seed,
)
from emotion_aware_loss.metrics import UnweightedAverageRecall
from emotion_aware_loss.progress import epoch_callbacks
from emotion_aware_loss.similarity import embedding_similarity

logger = logging.getLogger(__name__)


def _dataset(
    inputs: dict[str, Any],
    labels: np.ndarray | None,
    batch_size: int,
    shuffle_seed: int | None = None,
    sample_weights: np.ndarray | None = None,
) -> tf.data.Dataset:
    """Batches gathered by shuffled index batches.

    Only the indices are shuffled (with the same seed and buffer as shuffling the
    utterances themselves, so the batches are the same). In-memory arrays are
    converted to tensors once, which is the cache: no epoch copies them again, and
    each batch is one vectorised ``tf.gather`` instead of one slice per utterance.
    Inputs read on demand (anything else with a ``take(indices)`` method, such as
    :class:`~emotion_aware_loss.cross_validation.ScaledFeatures`) are read one
    batch at a time, so they are never held whole. Their ``take`` runs in
    tf.data's worker threads, several at once, so it must be thread-safe
    (``ScaledFeatures`` parses its file's header when made, not per batch).

    Returns:
        ``(inputs, labels)`` batches, ``(inputs, labels, sample_weights)`` with
        weights, or the inputs alone without labels (for prediction). Keras
        multiplies each utterance's loss by its weight, whatever the loss.
    """
    arrays = {name: v for name, v in inputs.items() if isinstance(v, np.ndarray)}
    on_demand = {name: v for name, v in inputs.items() if name not in arrays}
    targets = tuple(a for a in (labels, sample_weights) if a is not None)
    tensors = tf.nest.map_structure(tf.convert_to_tensor, (arrays, targets))
    order = tf.data.Dataset.range(len(next(iter(inputs.values()))))
    if shuffle_seed is not None:
        order = order.shuffle(
            len(labels), seed=shuffle_seed, reshuffle_each_iteration=True
        )

    def gather(rows: tf.Tensor) -> tuple | dict:
        x, y = tf.nest.map_structure(lambda t: tf.gather(t, rows), tensors)
        x = dict(x)
        for name, source in on_demand.items():
            x[name] = tf.numpy_function(
                source.take, [rows], tf.as_dtype(source.dtype), stateful=False
            )
            x[name].set_shape((None, *source.shape[1:]))
        return (x, *y) if y else x

    return (
        order.batch(batch_size)
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
    :class:`~emotion_aware_loss.cross_validation.ScaledFeatures` are read one
    batch at a time.
    """
    return model.predict(
        _dataset(select_inputs(model, inputs), None, batch_size), verbose=0
    )


def configure_threads(config: TrainingConfig) -> None:
    """Apply ``config``'s TensorFlow thread counts to this process and its children.

    TensorFlow fixes its thread pools when its runtime starts (the first tensor or
    model). The counts are therefore also put in ``TF_NUM_INTRAOP_THREADS`` and
    ``TF_NUM_INTEROP_THREADS``, which TensorFlow reads when it starts, here or in
    worker processes started later (ParallelRunner, a local Dask cluster). The
    project's ``TrainingThreadsHooks`` calls this when the Kedro context is created,
    before TensorFlow starts; a later call with other counts is logged and only
    affects processes started afterwards.
    """
    wanted = {
        "intra_op": config.intra_op_threads,
        "inter_op": config.inter_op_threads,
    }
    for pool, threads in wanted.items():
        if not threads:
            continue
        variable = f"TF_NUM_{pool.replace('_', '').upper()}_THREADS"
        preset = os.environ.get(variable) == str(threads)
        os.environ[variable] = str(threads)
        current = getattr(tf.config.threading, f"get_{pool}_parallelism_threads")()
        if preset or current == threads:
            continue
        try:
            getattr(tf.config.threading, f"set_{pool}_parallelism_threads")(threads)
        except RuntimeError:
            logger.warning(
                "TensorFlow already started in this process; %s threads = %d "
                "applies only to processes started from now on",
                pool,
                threads,
            )


class DynamicSimilarity(keras.callbacks.Callback):
    """Update a loss's similarity matrix from the training embeddings every epoch.

    After each epoch the class-mean embeddings of the training data (last hidden
    layer) give a cosine similarity ``S_emb`` (clipped to [0, 1], unit diagonal), and
    the loss's matrix becomes ``momentum * S + (1 - momentum) * S_emb``. Only
    training data is used. The seed project names this as future work.

    Args:
        loss: A similarity-aware loss with a ``similarity_variable``.
        inputs: Training inputs by input name.
        labels: Integer training labels.
        momentum: Weight of the previous matrix, in [0, 1).
    """

    def __init__(
        self,
        loss: keras.losses.Loss,
        inputs: dict[str, np.ndarray],
        labels: np.ndarray,
        momentum: float = 0.9,
    ) -> None:
        super().__init__()
        self.loss = loss
        self.inputs = inputs
        self.labels = labels
        self.momentum = momentum
        self.trajectory: list[np.ndarray] = []

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._encoder = embedding_model(self.model)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        embeddings = predict(self._encoder, self.inputs, batch_size=256)
        names = [str(k) for k in range(self.loss.similarity.shape[0])]
        observed = embedding_similarity(embeddings, self.labels, names).to_numpy()
        updated = self.momentum * self.loss.similarity + (1 - self.momentum) * observed
        np.fill_diagonal(updated, 1.0)
        self.loss.similarity_variable.assign(updated.astype("float32"))
        self.trajectory.append(updated)


def _per_sample(
    class_weights: np.ndarray | None, labels: np.ndarray
) -> np.ndarray | None:
    """Each utterance's weight: its class's weight (None: all equal)."""
    if class_weights is None:
        return None
    return np.asarray(class_weights, dtype=np.float32)[labels]


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


def _training_data(
    model: keras.Model,
    train: tuple[dict[str, np.ndarray], np.ndarray],
    config: TrainingConfig,
    seed: int,
    class_weights: np.ndarray | None,
) -> tf.data.Dataset:
    """The shuffled training batches, with per-utterance class weights if given."""
    x_train, y_train = train
    return _dataset(
        select_inputs(model, x_train),
        y_train,
        config.batch_size,
        seed,
        _per_sample(class_weights, y_train),
    )


def _compiled_copy(
    initial_model: keras.Model,
    loss: keras.losses.Loss,
    config: TrainingConfig,
    seed: int,
    embedding_matrix: np.ndarray | None,
) -> keras.Model:
    """A seeded copy of ``initial_model`` compiled with Adam, ``loss`` and metrics."""
    configure_threads(config)
    keras.utils.set_random_seed(seed)
    if config.deterministic:
        # Process-wide and irreversible; only slower kernels are chosen.
        tf.config.experimental.enable_op_determinism()
    model = keras.models.clone_model(initial_model)
    model.set_weights(initial_model.get_weights())
    if embedding_matrix is not None:  # pre-trained vectors of this fold's words
        model.get_layer("text_embedding").set_weights([embedding_matrix])
    _compile(model, loss, config)
    return model


def _compile(
    model: keras.Model, loss: keras.losses.Loss, config: TrainingConfig
) -> None:
    model.compile(
        optimizer=keras.optimizers.Adam(config.learning_rate),
        loss=loss,
        metrics=[
            keras.metrics.SparseCategoricalAccuracy(name="accuracy"),
            UnweightedAverageRecall(model.output_shape[-1]),
        ],
        jit_compile=config.jit_compile,
        steps_per_execution=config.steps_per_execution,
    )


def _fresh_loss(loss: keras.losses.Loss) -> keras.losses.Loss:
    """An independent copy (a dynamic similarity is updated per network)."""
    return type(loss).from_config(loss.get_config())


def _ensemble(
    members: list[keras.Model],
    records: list[dict[str, list]],
    loss: keras.losses.Loss,
    config: TrainingConfig,
) -> tuple[keras.Model, dict[str, list]]:
    """Join trained members into one model; the history is member 0's plus the
    others' (under ``members``) and every member's best epoch."""
    if len(members) == 1:
        return members[0], records[0]
    model = average_of(members)
    _compile(model, loss, config)
    # Built now, so that the saved (untrained) optimiser state loads back whole.
    model.optimizer.build(model.trainable_variables)
    record = dict(records[0])
    record["ensemble"] = [len(members)]
    if "best_epoch" in record:
        record["member_best_epochs"] = [r["best_epoch"][0] for r in records]
    record["members"] = records[1:]
    logger.info("Averaged an ensemble of %d networks", len(members))
    return model, record


def _members(
    train_one: Callable[
        [keras.Model, keras.losses.Loss, int], tuple[keras.Model, dict[str, list]]
    ],
    initial_model: keras.Model,
    loss: keras.losses.Loss,
    config: TrainingConfig,
    seed: int,
) -> tuple[keras.Model, dict[str, list]]:
    """``config.ensemble`` networks, each trained by ``train_one(start, loss,
    seed)`` from its own initial weights and seed (member 0: ``initial_model``,
    ``loss`` and ``seed`` themselves), joined by :func:`_ensemble`."""
    members, records = [], []
    for k in range(config.ensemble):
        model, record = train_one(
            member_initial_model(initial_model, seed, k),
            loss if k == 0 else _fresh_loss(loss),
            member_seed(seed, k),
        )
        members.append(model)
        records.append(record)
    return _ensemble(members, records, loss, config)


def _fit_one(
    initial_model: keras.Model,
    loss: keras.losses.Loss,
    train: tuple[dict[str, np.ndarray], np.ndarray],
    validation: tuple[dict[str, np.ndarray], np.ndarray],
    config: TrainingConfig,
    seed: int,
    dynamic_momentum: float | None = None,
    embedding_matrix: np.ndarray | None = None,
    class_weights: np.ndarray | None = None,
) -> tuple[keras.Model, dict[str, list]]:
    """One network of :func:`fit`."""
    model = _compiled_copy(initial_model, loss, config, seed, embedding_matrix)
    x_train, y_train = train
    x_val, y_val = validation
    steps_per_epoch = max(1, math.ceil(len(y_train) / config.batch_size))
    warm_up = math.ceil(config.min_steps / steps_per_epoch)  # whole epochs
    stopper = keras.callbacks.EarlyStopping(
        monitor=config.monitor,
        mode="max",
        patience=config.patience,
        restore_best_weights=True,
        start_from_epoch=min(warm_up, config.epochs - 1),  # the last epoch counts
    )
    callbacks: list[keras.callbacks.Callback] = [stopper]
    dynamic = None
    if dynamic_momentum is not None:
        dynamic = DynamicSimilarity(
            loss, select_inputs(model, x_train), y_train, dynamic_momentum
        )
        callbacks.append(dynamic)
    history = model.fit(
        _training_data(model, train, config, seed, class_weights),
        validation_data=_dataset(select_inputs(model, x_val), y_val, config.batch_size),
        epochs=config.epochs,
        callbacks=[*callbacks, *epoch_callbacks(config.epochs, config.monitor)],
        shuffle=False,  # the tf.data pipeline shuffles, with the seed
        verbose=0,
    )
    record = {k: [float(v) for v in values] for k, values in history.history.items()}
    record["best_epoch"] = [stopper.best_epoch + 1]
    if class_weights is not None:
        record["class_weights"] = [float(w) for w in class_weights]
    if dynamic is not None:
        record["dynamic_similarity"] = dynamic.trajectory[-1].tolist()
    logger.info(
        "Trained %d epoch(s); best %s %.4f at epoch %d",
        len(record["loss"]),
        config.monitor,
        record[config.monitor][stopper.best_epoch],
        stopper.best_epoch + 1,
    )
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
    """Train a copy of ``initial_model``; the input model is left untouched.

    Every variant of a fold starts from the same initial weights and sees the same
    batches (same seed), so differences between variants are paired.

    With ``dynamic_momentum`` set, a :class:`DynamicSimilarity` callback updates
    the loss's similarity matrix after every epoch (the history then records the
    final matrix; early stopping restores weights, not the matrix).
    ``class_weights`` (one per class) multiply each training utterance's loss;
    validation scores stay unweighted. Early stopping neither ends training nor
    picks an epoch within the first ``config.min_steps`` optimiser steps (whole
    epochs, rounded up; the last epoch always counts).

    With ``config.ensemble`` K > 1, K networks are trained this way (member ``k``
    from weights drawn with seed ``seed + 1000 k`` and on batches shuffled with
    it; member 0 is the single network) and joined into one model that averages
    their probabilities (:mod:`emotion_aware_loss.ensemble`).

    With ``refit_on`` (``config.refit``: the training and validation parts
    together), each network is then trained again from its initial weights and
    seed on those utterances for as many epochs as early stopping chose, without
    validation, and that network is returned: model selection on the validation
    part, the model fitted on all the fold's training utterances (as the linear
    baselines are). Its history stays that of the early-stopped training, plus
    ``refit_epochs`` and the refit's per-epoch ``refit_loss``.

    Returns:
        The model with the weights of its best epoch (``config.monitor``), compiled
        with ``loss``, and the per-epoch history (plus ``best_epoch``, 1-based; for
        an ensemble, member 0's history, ``member_best_epochs`` and the other
        members' histories under ``members``).
    """

    def one(start: keras.Model, member_loss: keras.losses.Loss, member: int):
        model, record = _fit_one(
            start,
            member_loss,
            train,
            validation,
            config,
            member,
            dynamic_momentum,
            embedding_matrix,
            class_weights,
        )
        if refit_on is None:
            return model, record
        # the early-stopped network's validation confusions, for the `confusions`
        # similarity (the refitted one has seen these utterances)
        x_val, y_val = validation
        guessed = predict(model, x_val).argmax(axis=1)
        record["validation_confusion"] = confusion_matrix(
            y_val, guessed, labels=range(int(model.output_shape[-1]))
        ).tolist()
        epochs = int(record["best_epoch"][0])
        model, again = _fit_epochs_one(
            start,
            _fresh_loss(loss),
            refit_on,
            config,
            epochs,
            member,
            dynamic_momentum,
            embedding_matrix,
            class_weights,
            phase="refit",
        )
        record["refit_epochs"] = [epochs]
        record["refit_loss"] = again["loss"]
        logger.info(
            "Refitted for %d epoch(s) on %d utterances", epochs, len(refit_on[1])
        )
        return model, record

    return _members(one, initial_model, loss, config, seed)


def _fit_epochs_one(
    initial_model: keras.Model,
    loss: keras.losses.Loss,
    train: tuple[dict[str, np.ndarray], np.ndarray],
    config: TrainingConfig,
    epochs: int,
    seed: int,
    dynamic_momentum: float | None = None,
    embedding_matrix: np.ndarray | None = None,
    class_weights: np.ndarray | None = None,
    phase: str = "",
) -> tuple[keras.Model, dict[str, list]]:
    """One network of :func:`fit_epochs` (``phase="refit"``: the refit of :func:`fit`)."""
    model = _compiled_copy(initial_model, loss, config, seed, embedding_matrix)
    x_train, y_train = train
    callbacks: list[keras.callbacks.Callback] = []
    if dynamic_momentum is not None:
        callbacks.append(
            DynamicSimilarity(
                loss, select_inputs(model, x_train), y_train, dynamic_momentum
            )
        )
    history = model.fit(
        _training_data(model, train, config, seed, class_weights),
        epochs=epochs,
        callbacks=[
            *callbacks,
            *epoch_callbacks(epochs, None if phase else "accuracy", phase),
        ],
        shuffle=False,  # the tf.data pipeline shuffles, with the seed
        verbose=0,
    )
    record = {k: [float(v) for v in values] for k, values in history.history.items()}
    if callbacks:
        record["dynamic_similarity"] = callbacks[0].trajectory[-1].tolist()
    if class_weights is not None:
        record["class_weights"] = [float(w) for w in class_weights]
    logger.info(
        "Trained %d epoch(s) on %d utterances; last training accuracy %.4f",
        epochs,
        len(y_train),
        record["accuracy"][-1],
    )
    return model, record


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

    For the final model, trained on every utterance once cross-validation has
    chosen how long to train. Optimiser, metrics, batching, the dynamic similarity,
    the class weights and the ensemble (``config.ensemble`` members, seeded as in
    :func:`fit`) are those of :func:`fit`; ``config.epochs`` and the
    early-stopping settings are not used.

    Returns:
        The model after its last epoch, compiled with ``loss``, and the per-epoch
        training history (for an ensemble, member 0's and the others' under
        ``members``).
    """

    def one(start: keras.Model, member_loss: keras.losses.Loss, member: int):
        return _fit_epochs_one(
            start,
            member_loss,
            train,
            config,
            epochs,
            member,
            dynamic_momentum,
            embedding_matrix,
            class_weights,
        )

    return _members(one, initial_model, loss, config, seed)
