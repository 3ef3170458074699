"""NumPy ``.npy`` arrays in the catalog, written atomically, never unpickled."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
from kedro.io import AbstractDataset, DatasetError


class NumpyDataset(AbstractDataset[np.ndarray, np.ndarray]):
    """A local ``.npy`` file holding one numeric array.

    Loading uses ``allow_pickle=False``, so an object array (which could run code
    when unpickled) is refused. Saving writes a temporary file and renames it, so a
    crash never leaves a half-written array behind.

    Example::

        acoustic_features:
          type: emotion_aware_loss.datasets.NumpyDataset
          filepath: data/04_feature/acoustic_features.npy
    """

    def __init__(self, filepath: str, metadata: dict[str, Any] | None = None) -> None:
        self._filepath = PurePosixPath(filepath)
        self.metadata = metadata

    def load(self) -> np.ndarray:
        try:
            return np.load(self._filepath, allow_pickle=False)
        except FileNotFoundError as exc:
            raise DatasetError(f"no array at {self._filepath}") from exc
        except ValueError as exc:
            raise DatasetError(
                f"{self._filepath} is not a numeric .npy array: {exc}"
            ) from exc

    def save(self, data: np.ndarray) -> None:
        data = np.asarray(data)
        if data.dtype == object:
            raise DatasetError(f"refusing to save an object array to {self._filepath}")
        target = Path(self._filepath)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".npy.tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                np.save(handle, data, allow_pickle=False)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def _exists(self) -> bool:
        return Path(self._filepath).is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}
