import time
import uuid

import numpy as np
import pytest
from kedro.io import DatasetError, Version

from emotion_aware_loss.datasets import NumpyDataset
from emotion_aware_loss.features.store import NpyWriter, npy_file

ARRAY = np.arange(60, dtype=np.float32).reshape(5, 4, 3)


def test_memory_mapped_load_and_versioned_saves(tmp_path):
    path = str(tmp_path / "features.npy")
    for _ in range(2):
        NumpyDataset(path, version=Version(None, None)).save(ARRAY)
        time.sleep(0.002)  # versions are millisecond timestamps
    assert len(list((tmp_path / "features.npy").iterdir())) == 2
    dataset = NumpyDataset(
        path, load_args={"mmap_mode": "r"}, version=Version(None, None)
    )
    loaded = dataset.load()
    assert isinstance(loaded, np.memmap) and npy_file(loaded)
    np.testing.assert_array_equal(loaded, ARRAY)
    assert type(NumpyDataset(path, version=Version(None, None)).load()) is np.ndarray
    assert not list(tmp_path.rglob("*.tmp"))


def test_saving_a_mapped_array_copies_its_file(tmp_path):
    with NpyWriter(ARRAY.shape) as writer:
        writer.append(ARRAY)
        mapped = writer.finish()
    NumpyDataset(str(tmp_path / "copy.npy")).save(mapped)
    assert (tmp_path / "copy.npy").read_bytes() == open(npy_file(mapped), "rb").read()
    np.testing.assert_array_equal(np.load(tmp_path / "copy.npy"), ARRAY)


def test_a_crash_mid_save_leaves_no_file(tmp_path, monkeypatch):
    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        NumpyDataset(str(tmp_path / "x.npy")).save(ARRAY)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("mmap_mode", [None, "r"])
def test_arrays_on_another_file_system(mmap_mode):
    # fsspec's in-memory file system stands for an object store: no local path.
    url = f"memory:///bucket-{uuid.uuid4().hex}/features.npy"
    NumpyDataset(url, version=Version(None, None)).save(ARRAY)
    dataset = NumpyDataset(
        url, load_args={"mmap_mode": mmap_mode}, version=Version(None, None)
    )
    assert dataset.exists()
    loaded = dataset.load()
    np.testing.assert_array_equal(loaded, ARRAY)
    assert isinstance(loaded, np.memmap) == (mmap_mode == "r")


def test_bad_arguments_and_files_are_refused(tmp_path):
    with pytest.raises(DatasetError, match="unknown load_args \\['allow_pickle'\\]"):
        NumpyDataset("x.npy", load_args={"allow_pickle": True})
    with pytest.raises(DatasetError, match="mmap_mode must be null or 'r'"):
        NumpyDataset("x.npy", load_args={"mmap_mode": "w+"})
    with pytest.raises(DatasetError, match="no array at"):
        NumpyDataset(str(tmp_path / "missing.npy")).load()
    with pytest.raises(DatasetError, match="no array at memory://"):
        NumpyDataset(f"memory:///{uuid.uuid4().hex}/missing.npy").load()
