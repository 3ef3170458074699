"""Small models and data for the fitting tests."""

from __future__ import annotations

import keras
import numpy as np


def softmax_regression(n_features: int, n_classes: int) -> keras.Model:
    """One softmax layer over a ``speech`` vector input (as the fusion model names it)."""
    inputs = keras.Input(shape=(n_features,), name="speech")
    outputs = keras.layers.Dense(n_classes, activation="softmax", name="emotion")(
        inputs
    )
    return keras.Model(inputs, outputs)


def separable_data(
    n_utterances: int, n_features: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Standard-normal features and labels given by the sign of the first one."""
    x = np.random.default_rng(seed).normal(size=(n_utterances, n_features))
    x = x.astype("float32")
    return x, (x[:, 0] > 0).astype(int)
