import gc
from pathlib import Path

import numpy as np
import pytest

from emotion_aware_loss.feature_store import NpyWriter, npy_file, read_rows


@pytest.fixture
def mapped(tmp_path) -> tuple[np.ndarray, np.memmap]:
    array = np.random.default_rng(0).normal(size=(40, 5, 3)).astype(np.float32)
    np.save(tmp_path / "a.npy", array)
    return array, np.load(tmp_path / "a.npy", mmap_mode="r")


def test_rows_of_a_mapped_file_are_read_as_by_indexing(mapped):
    array, memmap = mapped
    assert npy_file(memmap) is not None
    for rows in ([3, 1, 2, 39, 0, 3], [], [7], list(range(40)), [-1, 5, -40]):
        got = read_rows(memmap, np.array(rows, dtype=int))
        assert not isinstance(got, np.memmap)
        np.testing.assert_array_equal(got, array[rows])
        assert got.shape == (len(rows), 5, 3)


def test_out_of_range_rows_are_refused(mapped):
    _, memmap = mapped
    with pytest.raises(IndexError, match="out of range"):
        read_rows(memmap, np.array([0, 40]))


def test_views_and_in_memory_arrays_are_indexed_as_usual(mapped, tmp_path):
    array, memmap = mapped
    view = memmap[10:20]
    assert npy_file(view) is None  # a slice's offset is not the file's
    np.testing.assert_array_equal(read_rows(view, [0, 9]), array[[10, 19]])
    assert npy_file(array) is None
    np.testing.assert_array_equal(read_rows(array, [2, 1]), array[[2, 1]])
    fortran = np.asfortranarray(array)
    np.save(tmp_path / "f.npy", fortran)
    assert npy_file(np.load(tmp_path / "f.npy", mmap_mode="r")) is None


def test_the_writer_streams_rows_to_a_file_deleted_with_the_array():
    rows = np.arange(24, dtype=np.float32).reshape(4, 2, 3)
    with NpyWriter((4, 2, 3)) as writer:
        writer.append(rows[:1])
        writer.append(rows[1:])
        result = writer.finish()
    path = Path(npy_file(result))
    np.testing.assert_array_equal(result, rows)
    np.testing.assert_array_equal(np.load(path), rows)
    del result
    gc.collect()
    assert not path.exists()


def test_the_writer_refuses_a_wrong_row_count_and_cleans_up():
    writer = NpyWriter((3, 2))
    folder = Path(writer.path).parent
    writer.append(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="expected 3 rows, got 2"):
        writer.finish()
    assert not folder.exists()
    with pytest.raises(ValueError, match="more than the expected 1 rows"):
        with NpyWriter((1, 2)) as other:
            folder = Path(other.path).parent
            other.append(np.zeros((2, 2)))
    assert not folder.exists()
    with pytest.raises(ValueError, match="rows of shape"), NpyWriter((2, 2)) as bad:
        bad.append(np.zeros((1, 3)))
