"""Feature arrays kept on disk and read a batch of rows at a time.

The acoustic feature array grows with the corpus (utterances x frames x features,
float32: 48 MB per 1000 utterances with the default log-mels), so no step holds it
whole. Extraction writes it row by row into a ``.npy`` file (:class:`NpyWriter`);
the catalog maps the file into memory (``load_args: {mmap_mode: r}`` on a
:class:`~emotion_aware_loss.datasets.NumpyDataset`); and the nodes read only the
rows of the current batch (:func:`read_rows`). Those rows are read with ordinary
file reads, not through the mapping: pages touched through a mapping count towards
the process's resident memory for as long as the mapping exists, so reading a whole
epoch through it would make resident memory grow with the file again. The file's
header is parsed once per array (:class:`RowReader`), never in the input pipeline's
worker threads.
"""

from __future__ import annotations

import math
import mmap
import os
import shutil
import tempfile
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

_HEADER_READERS = {
    (1, 0): np.lib.format.read_array_header_1_0,
    (2, 0): np.lib.format.read_array_header_2_0,
}


@dataclass(frozen=True)
class NpyLayout:
    """Where a whole-file ``.npy`` memory map keeps its rows.

    Read from the file's header once (:func:`npy_layout`); reading rows then needs
    only the file name and the data offset. Parsing a header calls
    ``ast.literal_eval``, which CPython 3.11 does not make safe to run in several
    threads at once (python/cpython#106905), so nothing that runs inside tf.data's
    parallel ``map`` parses one.

    Attributes:
        path: The ``.npy`` file.
        offset: Byte position of the first row.
        shape: Shape of the whole array.
        dtype: Its data type.
    """

    path: str
    offset: int
    shape: tuple[int, ...]
    dtype: np.dtype


def npy_layout(array: Any) -> NpyLayout | None:
    """The layout of the ``.npy`` file that ``array`` maps whole, or None.

    None for an in-memory array, a view of a mapping (a slice), or a mapping that
    is not exactly one C-ordered ``.npy`` array. Opens the file and parses its
    header: call it once per array, not per batch.
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
    if not whole:
        return None
    return NpyLayout(str(array.filename), int(data_start), tuple(shape), dtype)


def npy_file(array: Any) -> str | None:
    """The ``.npy`` file that ``array`` maps whole, or None (see :func:`npy_layout`)."""
    layout = npy_layout(array)
    return None if layout is None else layout.path


class RowReader:
    """``array[rows]`` as in-memory arrays, for one array and many batches.

    From a whole-file memory map the rows are read with file reads, one per run of
    consecutive rows, so the process's resident memory holds only the result; the
    file's header is parsed once, here, and each read only opens, seeks and reads
    (safe to call from several threads at once). Any other array is indexed as
    usual.

    Args:
        array: The array to read rows of.
    """

    def __init__(self, array: Any) -> None:
        self.array = array
        self.layout = npy_layout(array)
        self._row_bytes = (
            math.prod(self.layout.shape[1:]) * self.layout.dtype.itemsize
            if self.layout
            else 0
        )

    def __call__(self, rows: np.ndarray) -> np.ndarray:
        """``array[rows]``.

        Raises:
            IndexError: If a row is out of range.
        """
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        layout = self.layout
        if layout is None:
            return np.asarray(self.array[rows])
        n = layout.shape[0]
        if not len(rows):
            return np.empty((0, *layout.shape[1:]), dtype=layout.dtype)
        if rows.min() < -n or rows.max() >= n:
            raise IndexError(f"row index out of range for {n} rows of {layout.path}")
        rows = np.where(rows < 0, rows + n, rows)
        order = np.argsort(rows, kind="stable")
        ordered = rows[order]
        block = np.empty((len(rows), *layout.shape[1:]), dtype=layout.dtype)
        starts = np.flatnonzero(np.diff(ordered, prepend=-2) != 1)
        ends = np.append(starts[1:], len(ordered))
        flat = memoryview(block.reshape(-1).view(np.uint8))
        row_bytes = self._row_bytes
        with open(layout.path, "rb", buffering=0) as handle:
            for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
                position = layout.offset + int(ordered[start]) * row_bytes
                target = flat[start * row_bytes : end * row_bytes]
                while target:
                    count = _read_at(handle, target, position)
                    if not count:
                        raise OSError(
                            f"{layout.path} ended early (truncated .npy file?)"
                        )
                    target = target[count:]
                    position += count
        if np.array_equal(order, np.arange(len(rows))):  # already in file order
            return block
        out = np.empty_like(block)
        out[order] = block
        return out


def _read_at(handle: Any, target: memoryview, position: int) -> int:
    """Read into ``target`` from byte ``position``; the number of bytes read."""
    if hasattr(os, "preadv"):  # one system call, no shared file position
        return os.preadv(handle.fileno(), [target], position)
    handle.seek(position)
    return handle.readinto(target)


def read_rows(array: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``array[rows]`` as an in-memory array, once (see :class:`RowReader`).

    Parses a mapped file's header on every call: for batch after batch of the
    same array, make one :class:`RowReader`.

    Raises:
        IndexError: If a row is out of range.
    """
    return RowReader(array)(rows)


def iter_row_chunks(
    array: np.ndarray, rows: np.ndarray, chunk_rows: int = 64
) -> Iterator[np.ndarray]:
    """``array[rows]`` in order, ``chunk_rows`` rows at a time (see :class:`RowReader`)."""
    rows = np.asarray(rows, dtype=np.int64).reshape(-1)
    reader = RowReader(array)
    for start in range(0, len(rows), chunk_rows):
        yield reader(rows[start : start + chunk_rows])


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
