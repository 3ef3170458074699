"""fsspec access for the project's read-only datasets (a path or a URL per file)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import IO, Any

import fsspec
import numpy as np
from kedro.io.core import get_protocol_and_path


@dataclass(frozen=True)
class Location:
    """A file or folder on any fsspec file system: a local path or a URL.

    Picklable (the file system is made on use), so it can travel to worker
    processes.

    Attributes:
        url: As configured (``data/01_raw/x.npy``, ``s3://bucket/x.npy``).
        storage_options: Credentials and file-system arguments.
    """

    url: str
    storage_options: dict[str, Any] = field(default_factory=dict)

    @property
    def protocol(self) -> str:
        return get_protocol_and_path(self.url)[0]

    @property
    def path(self) -> str:
        """The path within its file system (the URL without its protocol)."""
        return get_protocol_and_path(self.url)[1]

    @property
    def local(self) -> bool:
        return self.protocol == "file"

    @property
    def fs(self) -> fsspec.AbstractFileSystem:
        return fsspec.filesystem(self.protocol, **self.storage_options)

    def is_file(self) -> bool:
        return self.fs.isfile(self.path)

    def is_dir(self) -> bool:
        return self.fs.isdir(self.path)

    def open(self, mode: str = "rb", **kwargs: Any) -> IO:
        return self.fs.open(self.path, mode, **kwargs)

    def join(self, relative: str) -> Location:
        """The location ``relative`` (a POSIX path) below this folder."""
        return Location(
            f"{self.url.rstrip('/')}/{relative.lstrip('/')}", self.storage_options
        )

    def __str__(self) -> str:
        return self.url


def location(
    url: str,
    credentials: dict[str, Any] | None = None,
    fs_args: dict[str, Any] | None = None,
) -> Location:
    """A :class:`Location` with the dataset's ``credentials`` and ``fs_args``."""
    return Location(str(url), {**(credentials or {}), **(fs_args or {})})


def load_npy(where: Location) -> np.ndarray:
    """A ``.npy`` array, never unpickled."""
    if where.local:
        return np.load(where.path, allow_pickle=False)
    with where.open("rb") as handle:
        return np.load(handle, allow_pickle=False)
