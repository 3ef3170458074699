"""Nodes of the training pipeline (one instance per loss variant and fold)."""

from __future__ import annotations

import keras
import numpy as np
import pandas as pd

from emotion_aware_loss.config import LossConfig, TrainingConfig
from emotion_aware_loss.cross_validation import TRAIN, VALIDATION, split_inputs
from emotion_aware_loss.fitting import fit
from emotion_aware_loss.losses import make_loss


def train_model(
    initial_model: keras.Model,
    model_input_table: pd.DataFrame,
    acoustic_features: np.ndarray,
    split: pd.DataFrame,
    feature_scaler: dict[str, list[float]],
    vocabulary: list[str],
    embedding_matrix: np.ndarray,
    loss_similarity: pd.DataFrame,
    input_spec: dict,
    training: TrainingConfig,
    loss: LossConfig,
    seed: int,
    text_features: np.ndarray | None = None,
) -> tuple[keras.Model, dict[str, list[float]]]:
    """Train one model of one fold with one loss variant.

    The fold's training part is fitted, each utterance's loss multiplied by its
    class's weight (``training.class_weight``); its validation part drives early
    stopping, and the best epoch's weights are restored. The test part is not
    touched here. A non-empty ``embedding_matrix`` (pre-trained vectors of the
    fold's vocabulary) replaces the text embeddings before training. Non-empty
    ``text_features`` (a frozen text encoder's embeddings) are the text input
    instead of token ids.

    Returns:
        The trained model (compiled with its loss) and the training history.
    """
    fold = int(split["fold"].iloc[0])
    data = (model_input_table, acoustic_features, split)
    transforms = (
        feature_scaler,
        vocabulary,
        int(input_spec["max_tokens"]),
        text_features,
    )
    x_train, y_train, _ = split_inputs(*data, TRAIN, *transforms)
    x_val, y_val, _ = split_inputs(*data, VALIDATION, *transforms)
    refit_on = None
    if training.refit:
        # the validation part joins the training part (the scaler and vocabulary
        # stay those fitted on the training part)
        joined = split.assign(split=split["split"].replace({VALIDATION: TRAIN}))
        x_all, y_all, _ = split_inputs(
            model_input_table, acoustic_features, joined, TRAIN, *transforms
        )
        refit_on = (x_all, y_all)
    loss_fn = make_loss(
        loss.loss, loss_similarity.to_numpy(), **loss.hyper_parameters()
    )
    # Same seed for every variant of a fold: same initial weights, same batches.
    model, history = fit(
        initial_model,
        loss_fn,
        (x_train, y_train),
        (x_val, y_val),
        training,
        seed + fold,
        dynamic_momentum=loss.dynamic_momentum if loss.dynamic else None,
        embedding_matrix=embedding_matrix if embedding_matrix.size else None,
        class_weights=training.class_weights(y_train, list(input_spec["classes"])),
        refit_on=refit_on,
    )
    history["fold"] = [fold]
    return model, history
