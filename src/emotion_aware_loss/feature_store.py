"""Feature arrays kept on disk and read a batch of rows at a time.

The acoustic feature array grows with the corpus (utterances x frames x features,
float32: 48 MB per 1000 utterances with the default log-mels), so no step holds it
whole. Extraction writes it row by row into a ``.npy`` file (:class:`NpyWriter`);
the catalog maps the file into memory (``load_args: {mmap_mode: r}`` on a
:class:`~emotion_aware_loss.datasets.NumpyDataset`); and the nodes read only the
rows of the current batch (:func:`read_rows`). Those rows are read with ordinary
file reads, not through the mapping: pages touched through a mapping count towards
the process's resident memory for as long as the mapping exists, so reading a whole
epoch through it would make resident memory grow with the file again.
"""

from __future__ import annotations

import mmap
import shutil
import tempfile
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

_HEADER_READERS = {
    (1, 0): np.lib.format.read_array_header_1_0,
    (2, 0): np.lib.format.read_array_header_2_0,
}


def npy_file(array: Any) -> str | None:
    """The ``.npy`` file that ``array`` maps whole, or None.

    None for an in-memory array, a view of a mapping (a slice), or a mapping that
    is not exactly one C-ordered ``.npy`` array.
    """
    if not (
        isinstance(array, np.memmap)
        and isinstance(array.base, mmap.mmap)
        and array.filename
        and array.flags.c_contiguous
    ):
        return None
    try:
        with open(array.filename, "rb") as handle:
            read_header = _HEADER_READERS.get(np.lib.format.read_magic(handle))
            if read_header is None:
                return None
            shape, fortran_order, dtype = read_header(handle)
            data_start = handle.tell()
    except (OSError, ValueError):
        return None
    whole = (
        tuple(shape) == array.shape
        and dtype == array.dtype
        and not fortran_order
        and data_start == array.offset
    )
    return array.filename if whole else None


def read_rows(array: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``array[rows]`` as an in-memory array.

    From a whole-file memory map (:func:`npy_file`) the rows are read with file
    reads, one per run of consecutive rows, so the process's resident memory holds
    only the result; any other array is indexed as usual.

    Raises:
        IndexError: If a row is out of range.
    """
    rows = np.asarray(rows, dtype=np.int64).reshape(-1)
    path = npy_file(array)
    if path is None:
        return np.asarray(array[rows])
    n = array.shape[0]
    if not len(rows):
        return np.empty((0, *array.shape[1:]), dtype=array.dtype)
    if rows.min() < -n or rows.max() >= n:
        raise IndexError(f"row index out of range for {n} rows of {path}")
    rows = np.where(rows < 0, rows + n, rows)
    order = np.argsort(rows, kind="stable")
    ordered = rows[order]
    block = np.empty((len(rows), *array.shape[1:]), dtype=array.dtype)
    row_bytes = block[:1].nbytes
    starts = np.flatnonzero(np.diff(ordered, prepend=-2) != 1)
    ends = np.append(starts[1:], len(ordered))
    with open(path, "rb", buffering=0) as handle:
        for start, end in zip(starts, ends, strict=True):
            handle.seek(array.offset + int(ordered[start]) * row_bytes)
            target = memoryview(block[start:end].reshape(-1).view(np.uint8))
            while target:
                count = handle.readinto(target)
                if not count:
                    raise OSError(f"{path} ended early (truncated .npy file?)")
                target = target[count:]
    if np.array_equal(order, np.arange(len(rows))):  # already in file order
        return block
    out = np.empty_like(block)
    out[order] = block
    return out


def iter_row_chunks(
    array: np.ndarray, rows: np.ndarray, chunk_rows: int = 64
) -> Iterator[np.ndarray]:
    """``array[rows]`` in order, ``chunk_rows`` rows at a time (see :func:`read_rows`)."""
    rows = np.asarray(rows, dtype=np.int64).reshape(-1)
    for start in range(0, len(rows), chunk_rows):
        yield read_rows(array, rows[start : start + chunk_rows])


class NpyWriter:
    """Write an array to a temporary ``.npy`` file, rows appended in order.

    :meth:`finish` returns the file mapped read-only; the file is deleted once that
    array (and every view of it) is garbage-collected. Saving the returned array
    with :class:`~emotion_aware_loss.datasets.NumpyDataset` copies the file, so the
    array is never held in memory. The file is created in Python's temporary
    folder (``TMPDIR``), which should be on disk rather than in memory (tmpfs) for
    large corpora.

    Used as a context manager, an exception discards the file.

    Args:
        shape: Shape of the whole array; rows are along the first axis.
        dtype: Its data type.
    """

    def __init__(self, shape: tuple[int, ...], dtype: Any = np.float32) -> None:
        self.shape = tuple(int(s) for s in shape)
        self.dtype = np.dtype(dtype)
        self._folder = tempfile.mkdtemp(prefix="emotion-aware-loss-")
        self.path = str(Path(self._folder) / "array.npy")
        self._handle = open(self.path, "wb")  # noqa: SIM115  (closed in finish/abort)
        header = {
            "descr": np.lib.format.dtype_to_descr(self.dtype),
            "fortran_order": False,
            "shape": self.shape,
        }
        np.lib.format.write_array_header_1_0(self._handle, header)
        self.count = 0

    def append(self, rows: np.ndarray) -> None:
        """Write ``rows`` (shape ``(k, *shape[1:])``) after those written so far.

        Raises:
            ValueError: If the rows have another shape, or there would be more
                rows than ``shape[0]``.
        """
        rows = np.ascontiguousarray(rows, dtype=self.dtype)
        if rows.shape[1:] != self.shape[1:]:
            raise ValueError(
                f"rows of shape {rows.shape[1:]}, expected {self.shape[1:]}"
            )
        if self.count + len(rows) > self.shape[0]:
            raise ValueError(f"more than the expected {self.shape[0]} rows")
        self._handle.write(rows.tobytes())
        self.count += len(rows)

    def finish(self) -> np.memmap:
        """The written array, mapped read-only.

        Raises:
            ValueError: If fewer rows than ``shape[0]`` were written.
        """
        self._handle.close()
        if self.count != self.shape[0]:
            self.abort()
            raise ValueError(f"expected {self.shape[0]} rows, got {self.count}")
        array = np.load(self.path, mmap_mode="r", allow_pickle=False)
        weakref.finalize(array, shutil.rmtree, self._folder, True)
        return array

    def abort(self) -> None:
        """Close and delete the file."""
        self._handle.close()
        shutil.rmtree(self._folder, ignore_errors=True)

    def __enter__(self) -> NpyWriter:
        return self

    def __exit__(self, kind: Any, value: Any, traceback: Any) -> None:
        if kind is not None:
            self.abort()
