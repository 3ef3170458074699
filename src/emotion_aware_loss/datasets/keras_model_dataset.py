"""Keras models in the catalog, reloadable with this project's custom losses."""

from __future__ import annotations

import tempfile
from pathlib import PurePath

import keras
from kedro.io.core import get_filepath_str
from kedro_datasets.tensorflow import TensorFlowModelDataset


class KerasModelDataset(TensorFlowModelDataset):
    """``tensorflow.TensorFlowModelDataset`` that knows this project's custom objects.

    A ``.keras`` file stores its loss and metrics by registered name; Keras can
    rebuild them only once the classes are registered, i.e. once
    :mod:`emotion_aware_loss.losses.family` and :mod:`emotion_aware_loss.losses.metrics` are
    imported (and :mod:`emotion_aware_loss.models.layers` for the layers). Loading through this dataset guarantees that, so
    ``catalog.load("emotion_aware.fold_0.model")`` works in any session, even one
    that ran only the evaluation pipeline. Keras' ``safe_mode`` stays on.

    A compiled model's optimiser is built before saving (a model trained by a
    stack never ran it), so that its fresh state loads back without a warning.
    Saving is atomic: a local file is written next to its target as ``*.partial``
    and renamed, so a run killed mid-save never leaves a truncated model that a
    later load (or ``--only-missing-outputs``) would take for a finished one; on an
    object store (``s3://``, ...) the single upload is atomic already.
    """

    def load(self) -> keras.Model:
        import emotion_aware_loss.losses.family  # noqa: F401, PLC0415  (registers the losses)
        import emotion_aware_loss.losses.metrics  # noqa: F401, PLC0415  (and the metrics)
        import emotion_aware_loss.models.layers  # noqa: F401, PLC0415  (and the layers)

        return super().load()

    def save(self, data: keras.Model) -> None:
        optimizer = getattr(data, "optimizer", None)
        if optimizer is not None and not optimizer.built:
            # so that the saved (fresh) optimiser state loads back whole; built here,
            # not when the model is made, a stack's models wait to be saved together
            optimizer.build(data.trainable_variables)
        if self._is_h5:
            super().save(data)
            return
        save_path = get_filepath_str(self._get_save_path(), self._protocol)
        # On an object store one upload is atomic, and a rename would be a copy.
        target = f"{save_path}.partial" if self._protocol == "file" else save_path
        with tempfile.TemporaryDirectory(prefix=self._tmp_prefix) as tempdir:
            path = str(PurePath(tempdir) / "model.keras")
            keras.models.save_model(data, path, **self._save_args)
            self._fs.put(path, target)
        if target != save_path:
            self._fs.mv(target, save_path)
