import gc
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from emotion_aware_loss.features import store as feature_store
from emotion_aware_loss.features.store import NpyWriter, RowReader, npy_file, read_rows
from emotion_aware_loss.folds.cross_validation import ScaledFeatures, apply_scaler
from emotion_aware_loss.training.fitting import _dataset


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


@pytest.fixture
def counted_headers(monkeypatch) -> list[int]:
    """The thread of every ``.npy`` header the feature store parses."""
    calls = []
    counting = {}
    for version, read_header in feature_store._HEADER_READERS.items():

        def counted(handle, _read=read_header):
            calls.append(threading.get_ident())
            return _read(handle)

        counting[version] = counted
    monkeypatch.setattr(feature_store, "_HEADER_READERS", counting)
    return calls


def test_a_reader_parses_the_header_once_and_reads_from_many_threads(
    mapped, counted_headers
):
    # Header parsing (ast.literal_eval) is not thread-safe on CPython 3.11
    # (python/cpython#106905): it must happen when the reader is made, not per batch.
    array, memmap = mapped
    reader = RowReader(memmap)
    assert len(counted_headers) == 1
    batches = [np.random.default_rng(k).integers(-40, 40, 7) for k in range(400)]
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(reader, batches))
    for rows, got in zip(batches, results, strict=True):
        np.testing.assert_array_equal(got, array[rows])
    assert len(counted_headers) == 1


def test_the_prediction_input_pipeline_parses_no_header_in_its_threads(
    tmp_path, counted_headers
):
    features = np.random.default_rng(1).normal(size=(300, 4, 3)).astype(np.float32)
    np.save(tmp_path / "features.npy", features)
    memmap = np.load(tmp_path / "features.npy", mmap_mode="r")
    rows = np.random.default_rng(2).permutation(300)[:250]
    n_frames = np.random.default_rng(3).integers(1, 5, 250)
    scaler = {"mean": [0.5, -0.1, 0.2], "std": [2.0, 1.0, 0.5]}
    speech = ScaledFeatures(memmap, rows, n_frames, scaler)
    assert counted_headers == [threading.get_ident()]  # made here, once
    expected = apply_scaler(features[rows], n_frames, scaler)
    # Batches of 4 through tf.data's parallel map, several passes.
    batches = _dataset({"speech": speech}, 4)
    for _ in range(4):
        got = np.concatenate([x["speech"].numpy() for x in batches])
        np.testing.assert_array_equal(got, expected)
    assert len(counted_headers) == 1
