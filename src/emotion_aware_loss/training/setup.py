"""What every network's training is set up with: TensorFlow's threads, the
compiled optimiser and metrics, the starting weights (pre-trained token vectors
in place) and the stack's settings, from the parameters."""

from __future__ import annotations

import logging
import os

import keras
import numpy as np
import tensorflow as tf

from emotion_aware_loss.config import TrainingConfig
from emotion_aware_loss.losses.metrics import UnweightedAverageRecall
from emotion_aware_loss.training.jobs import Settings

logger = logging.getLogger(__name__)


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


def compile_model(
    model: keras.Model, loss: keras.losses.Loss, config: TrainingConfig
) -> None:
    """Compile ``model`` as the project saves it: Adam, ``loss``, accuracy, UAR."""
    model.compile(
        optimizer=keras.optimizers.Adam(config.learning_rate),
        loss=loss,
        metrics=[
            keras.metrics.SparseCategoricalAccuracy(name="accuracy"),
            UnweightedAverageRecall(model.output_shape[-1]),
        ],
    )


def with_final_similarity(loss: keras.losses.Loss, history: dict[str, list]) -> None:
    """A dynamic similarity's last matrix into ``loss`` (saved with the model)."""
    if "dynamic_similarity" in history and hasattr(loss, "similarity_variable"):
        final = np.asarray(history["dynamic_similarity"], dtype=np.float32)
        loss.similarity_variable.assign(final)


def settings_of(training: TrainingConfig) -> Settings:
    """The settings a stack of networks trains with, from ``training``."""
    return Settings(
        epochs=training.epochs,
        batch_size=training.batch_size,
        learning_rate=training.learning_rate,
        patience=training.patience,
        min_steps=training.min_steps,
        monitor=training.monitor,
        jit_compile=training.jit_compile,
    )


EMBEDDING_LAYER = "text_embedding"


def initial_weights(
    model: keras.Model, embedding_matrix: np.ndarray | None
) -> list[np.ndarray]:
    """``model``'s weights, with pre-trained vectors as its token embeddings."""
    weights = [np.array(w) for w in model.get_weights()]
    if embedding_matrix is not None and embedding_matrix.size:
        layer = model.get_layer(EMBEDDING_LAYER)
        position = [id(v) for v in model.weights].index(id(layer.embeddings))
        weights[position] = np.asarray(embedding_matrix, dtype=weights[position].dtype)
    return weights
