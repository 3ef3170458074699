"""NumPy ``.npy`` arrays in the catalog, on any fsspec file system, never unpickled."""

from __future__ import annotations

import copy
import logging
import os
import shutil
import tempfile
import weakref
from pathlib import Path, PurePosixPath
from typing import Any

import fsspec
import numpy as np
from kedro.io.core import (
    AbstractVersionedDataset,
    DatasetError,
    Version,
    get_filepath_str,
    get_protocol_and_path,
)

from emotion_aware_loss.features.store import npy_file

logger = logging.getLogger(__name__)

MMAP_MODES = (None, "r")


class NumpyDataset(AbstractVersionedDataset[np.ndarray, np.ndarray]):
    """A ``.npy`` file holding one numeric array, local or on any fsspec file system.

    Loading uses ``allow_pickle=False``, so an object array (which could run code
    when unpickled) is refused. Saving is atomic: a local file is written under a
    temporary name and renamed; on an object store the file is written locally
    first and uploaded with one ``put``, which the store makes visible all at once.

    With ``load_args: {mmap_mode: r}`` the array is memory-mapped read-only
    instead of read into memory (the acoustic features: see
    :mod:`emotion_aware_loss.features.store`); a remote file is first downloaded to
    a temporary local file, deleted when the array is garbage-collected. Saving an
    array that maps a whole ``.npy`` file copies that file, without reading it
    into memory.

    Example::

        acoustic_features:
          type: emotion_aware_loss.datasets.NumpyDataset
          filepath: s3://my-bucket/data/04_feature/acoustic_features.npy
          load_args:
            mmap_mode: r
          credentials: s3_creds     # optional: from credentials.yml

    Args:
        filepath: The ``.npy`` file (a local path or an fsspec URL such as
            ``s3://bucket/x.npy``).
        load_args: ``mmap_mode``: None (read into memory) or ``"r"``.
        version: Kedro version (``versioned: true`` in the catalog).
        credentials: Passed to the fsspec file system (e.g. ``key``, ``secret``,
            ``client_kwargs``).
        fs_args: Extra arguments of the fsspec file system.
        metadata: Free-form metadata for plugins (e.g. Kedro-Viz).
    """

    def __init__(  # noqa: PLR0913
        self,
        filepath: str,
        load_args: dict[str, Any] | None = None,
        version: Version | None = None,
        credentials: dict[str, Any] | None = None,
        fs_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self._load_args = dict(load_args or {})
        unknown = sorted(set(self._load_args) - {"mmap_mode"})
        if unknown:
            raise DatasetError(
                f"NumpyDataset {filepath}: unknown load_args {unknown} (only mmap_mode)"
            )
        if self._load_args.get("mmap_mode") not in MMAP_MODES:
            raise DatasetError(
                f"NumpyDataset {filepath}: mmap_mode must be null or 'r', got "
                f"{self._load_args['mmap_mode']!r}"
            )
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

    @property
    def _local(self) -> bool:
        return self._protocol == "file"

    def load(self) -> np.ndarray:
        load_path = get_filepath_str(self._get_load_path(), self._protocol)
        mmap_mode = self._load_args.get("mmap_mode")
        try:
            if self._local:
                return np.load(load_path, mmap_mode=mmap_mode, allow_pickle=False)
            if mmap_mode is None:
                with self._fs.open(load_path, mode="rb") as handle:
                    return np.load(handle, allow_pickle=False)
            return self._load_mapped_copy(load_path, mmap_mode)
        except FileNotFoundError as exc:
            raise DatasetError(f"no array at {self._display(load_path)}") from exc
        except ValueError as exc:
            raise DatasetError(
                f"{self._display(load_path)} is not a numeric .npy array: {exc}"
            ) from exc

    def _load_mapped_copy(self, load_path: str, mmap_mode: str) -> np.memmap:
        """Download a remote file to a temporary one and map that."""
        folder = tempfile.mkdtemp(prefix="emotion-aware-loss-")
        local = str(Path(folder) / "array.npy")
        try:
            self._fs.get(load_path, local)
            array = np.load(local, mmap_mode=mmap_mode, allow_pickle=False)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        weakref.finalize(array, shutil.rmtree, folder, True)
        logger.debug("Mapped %s from a local copy", self._display(load_path))
        return array

    def save(self, data: np.ndarray) -> None:
        source = npy_file(data)
        data = np.asarray(data)
        save_path = get_filepath_str(self._get_save_path(), self._protocol)
        if data.dtype == object:
            raise DatasetError(
                f"refusing to save an object array to {self._display(save_path)}"
            )
        if self._local:
            target = Path(save_path)
            target.parent.mkdir(parents=True, exist_ok=True)
            self._write_then_rename(data, source, target)
        else:
            with tempfile.TemporaryDirectory(prefix="emotion-aware-loss-") as folder:
                if source is None:
                    source = str(Path(folder) / "array.npy")
                    np.save(source, data, allow_pickle=False)
                self._fs.put(source, save_path)
        self._invalidate_cache()

    @staticmethod
    def _write_then_rename(data: np.ndarray, source: str | None, target: Path) -> None:
        fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".npy.tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                if source is None:
                    np.save(handle, data, allow_pickle=False)
                else:  # a mapped .npy file: copy it, do not read it into memory
                    with open(source, "rb") as original:
                        shutil.copyfileobj(original, handle, 1 << 20)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def _display(self, path: str) -> str:
        return path if self._local else f"{self._protocol}://{path}"

    def _exists(self) -> bool:
        try:
            load_path = get_filepath_str(self._get_load_path(), self._protocol)
        except DatasetError:
            return False
        return self._fs.exists(load_path)

    def _release(self) -> None:
        super()._release()
        self._invalidate_cache()

    def _invalidate_cache(self) -> None:
        self._fs.invalidate_cache(get_filepath_str(self._filepath, self._protocol))

    def _describe(self) -> dict[str, Any]:
        return {
            "filepath": str(self._filepath),
            "protocol": self._protocol,
            "load_args": self._load_args,
            "version": self._version,
        }
