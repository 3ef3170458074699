"""The final model and its preprocessing state as one versioned catalog entry."""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path, PurePosixPath
from typing import Any

import fsspec
from kedro.io.core import (
    AbstractVersionedDataset,
    DatasetError,
    Version,
    get_filepath_str,
    get_protocol_and_path,
)

from emotion_aware_loss.inference.recognizer import STATE_FILE, EmotionRecognizer


class EmotionRecognizerDataset(
    AbstractVersionedDataset[EmotionRecognizer, EmotionRecognizer]
):
    """An :class:`~emotion_aware_loss.inference.recognizer.EmotionRecognizer` saved as a folder.

    The folder holds ``model.keras`` and ``recognizer.json``. Saving is atomic: a
    local folder is written as ``<name>.partial`` and renamed into place, so a run
    killed mid-save never leaves a half-written bundle that a later load would
    accept; on an object store (``s3://``, ...), which has no folders to rename,
    ``recognizer.json`` is uploaded last and the bundle exists only once it is
    there.

    Example (``conf/base/catalog.yml``)::

        final_model:
          type: emotion_aware_loss.datasets.EmotionRecognizerDataset
          filepath: data/06_models/final_model
          versioned: true

    Args:
        filepath: The bundle folder (any fsspec URL; local by default).
        version: Kedro version (``versioned: true`` in the catalog).
        credentials: Passed to the fsspec file system.
        fs_args: Extra arguments of the fsspec file system.
        metadata: Free-form metadata for plugins (e.g. Kedro-Viz).
    """

    def __init__(
        self,
        *,
        filepath: str,
        version: Version | None = None,
        credentials: dict[str, Any] | None = None,
        fs_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        _fs_args = copy.deepcopy(fs_args) or {}
        protocol, path = get_protocol_and_path(filepath, version)
        if protocol == "file":
            _fs_args.setdefault("auto_mkdir", True)
        self._protocol = protocol
        self._fs = fsspec.filesystem(protocol, **(credentials or {}), **_fs_args)
        self.metadata = metadata
        super().__init__(
            filepath=PurePosixPath(path),
            version=version,
            exists_function=self._fs.exists,
            glob_function=self._fs.glob,
        )

    def load(self) -> EmotionRecognizer:
        load_path = get_filepath_str(self._get_load_path(), self._protocol)
        if self._protocol == "file":
            return EmotionRecognizer.load(load_path)
        with tempfile.TemporaryDirectory(prefix="recognizer-") as tempdir:
            local = Path(tempdir) / "bundle"
            self._fs.get(load_path, str(local), recursive=True)
            return EmotionRecognizer.load(local)

    def save(self, data: EmotionRecognizer) -> None:
        if not isinstance(data, EmotionRecognizer):
            raise DatasetError(
                f"{type(self).__name__} saves an EmotionRecognizer, got "
                f"{type(data).__name__}"
            )
        save_path = get_filepath_str(self._get_save_path(), self._protocol)
        with tempfile.TemporaryDirectory(prefix="recognizer-") as tempdir:
            local = Path(tempdir) / "bundle"
            data.save(local)
            if self._protocol == "file":
                partial = f"{save_path}.partial"
                if self._fs.exists(partial):  # left by an earlier, interrupted save
                    self._fs.rm(partial, recursive=True)
                self._fs.put(str(local), partial, recursive=True)
                self._fs.mv(partial, save_path, recursive=True)
            else:
                # An object store has no folders to rename: each file is one
                # atomic upload, and the marker file goes last, so a bundle without
                # it is an interrupted save (see _exists).
                files = sorted(p for p in local.rglob("*") if p.is_file())
                files.sort(key=lambda p: p.name == STATE_FILE)
                for path in files:
                    relative = path.relative_to(local).as_posix()
                    self._fs.put(str(path), f"{save_path}/{relative}")
        self._fs.invalidate_cache(get_filepath_str(self._filepath, self._protocol))

    def _exists(self) -> bool:
        try:
            load_path = get_filepath_str(self._get_load_path(), self._protocol)
        except DatasetError:
            return False
        return self._fs.exists(f"{load_path}/{STATE_FILE}")

    def _describe(self) -> dict[str, Any]:
        return {
            "filepath": str(self._filepath),
            "protocol": self._protocol,
            "version": self._version,
        }
