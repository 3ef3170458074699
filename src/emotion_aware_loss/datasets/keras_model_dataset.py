"""Keras models in the catalog, reloadable with this project's custom losses."""

from __future__ import annotations

import keras
from kedro_datasets.tensorflow import TensorFlowModelDataset


class KerasModelDataset(TensorFlowModelDataset):
    """``tensorflow.TensorFlowModelDataset`` that knows this project's custom objects.

    A ``.keras`` file stores its loss and metrics by registered name; Keras can
    rebuild them only once the classes are registered, i.e. once
    :mod:`emotion_aware_loss.losses` and :mod:`emotion_aware_loss.metrics` are
    imported. Loading through this dataset guarantees that, so
    ``catalog.load("emotion_aware.fold_0.model")`` works in any session, even one
    that ran only the evaluation pipeline. Keras' ``safe_mode`` stays on.
    """

    def load(self) -> keras.Model:
        import emotion_aware_loss.losses  # noqa: F401, PLC0415  (registers the losses)
        import emotion_aware_loss.metrics  # noqa: F401, PLC0415  (and the metrics)

        return super().load()
