"""Model fitting with Adam, tf.data and early stopping on validation accuracy."""

from __future__ import annotations

import logging

import keras
import numpy as np
import tensorflow as tf

from emotion_aware_loss.config import TrainingConfig

logger = logging.getLogger(__name__)


def _dataset(
    inputs: dict[str, np.ndarray],
    labels: np.ndarray,
    batch_size: int,
    shuffle_seed: int | None = None,
) -> tf.data.Dataset:
    data = tf.data.Dataset.from_tensor_slices((inputs, labels))
    if shuffle_seed is not None:
        data = data.shuffle(
            len(labels), seed=shuffle_seed, reshuffle_each_iteration=True
        )
    return data.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def select_inputs(
    model: keras.Model, inputs: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Keep only the inputs the model has (a speech-only model takes no text)."""
    names = [t.name.split(":")[0] for t in model.inputs]
    return {name: inputs[name] for name in names}


def fit(
    initial_model: keras.Model,
    loss: keras.losses.Loss,
    train: tuple[dict[str, np.ndarray], np.ndarray],
    validation: tuple[dict[str, np.ndarray], np.ndarray],
    config: TrainingConfig,
    seed: int,
) -> tuple[keras.Model, dict[str, list[float]]]:
    """Train a copy of ``initial_model``; the input model is left untouched.

    Every variant of a fold starts from the same initial weights and sees the same
    batches (same seed), so differences between variants are paired.

    Returns:
        The model with the weights of its best validation-accuracy epoch, compiled
        with ``loss``, and the per-epoch history (plus ``best_epoch``, 1-based).
    """
    keras.utils.set_random_seed(seed)
    model = keras.models.clone_model(initial_model)
    model.set_weights(initial_model.get_weights())
    model.compile(
        optimizer=keras.optimizers.Adam(config.learning_rate),
        loss=loss,
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
    )
    stopper = keras.callbacks.EarlyStopping(
        monitor="val_accuracy",
        mode="max",
        patience=config.patience,
        restore_best_weights=True,
    )
    x_train, y_train = train
    x_val, y_val = validation
    history = model.fit(
        _dataset(select_inputs(model, x_train), y_train, config.batch_size, seed),
        validation_data=_dataset(select_inputs(model, x_val), y_val, config.batch_size),
        epochs=config.epochs,
        callbacks=[stopper],
        shuffle=False,  # the tf.data pipeline shuffles, with the seed
        verbose=0,
    )
    record = {k: [float(v) for v in values] for k, values in history.history.items()}
    record["best_epoch"] = [stopper.best_epoch + 1]
    logger.info(
        "Trained %d epoch(s); best val_accuracy %.4f at epoch %d",
        len(record["loss"]),
        max(record["val_accuracy"]),
        stopper.best_epoch + 1,
    )
    return model, record
