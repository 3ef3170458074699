"""Keras models in the catalog, reloadable with this project's custom losses."""

from __future__ import annotations

import keras
from kedro_datasets.tensorflow import TensorFlowModelDataset


class KerasModelDataset(TensorFlowModelDataset):
    """``tensorflow.TensorFlowModelDataset`` that knows this project's custom objects.

    A ``.keras`` file stores its loss by registered name; Keras can rebuild it only
    once the class is registered, i.e. once :mod:`emotion_aware_loss.losses` is
    imported. Loading through this dataset guarantees that, so
    ``catalog.load("emotion_aware.fold_0.model")`` works in any session, even one
    that ran only the evaluation pipeline. Keras' ``safe_mode`` stays on.
    """

    def load(self) -> keras.Model:
        import emotion_aware_loss.losses  # noqa: F401, PLC0415  (registers the losses)

        return super().load()
