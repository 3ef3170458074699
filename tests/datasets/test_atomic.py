import json
import time

import matplotlib
import pandas as pd
import pytest
from kedro.io import Version

from emotion_aware_loss.datasets import atomic

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def _figure():
    figure, axis = plt.subplots()
    axis.plot([0, 1], [1, 0])
    return figure


CASES = [
    (atomic.CSVDataset, lambda: pd.DataFrame({"a": [1, 2]}), "t.csv"),
    (atomic.ParquetDataset, lambda: pd.DataFrame({"a": [1, 2]}), "t.parquet"),
    (atomic.JSONDataset, lambda: {"a": [1, 2]}, "t.json"),
    (atomic.TextDataset, lambda: "# report\n", "t.md"),
    (atomic.MatplotlibDataset, _figure, "t.png"),
]


@pytest.mark.parametrize(
    ("cls", "make", "name"), CASES, ids=lambda c: getattr(c, "__name__", "")
)
def test_saves_are_versioned_and_leave_no_partial_file(tmp_path, cls, make, name):
    first = cls(filepath=str(tmp_path / name), version=Version(None, None))
    first.save(make())
    time.sleep(0.002)  # versions are millisecond timestamps
    second = cls(filepath=str(tmp_path / name), version=Version(None, None))
    second.save(make())
    assert len(list((tmp_path / name).iterdir())) == 2  # nothing overwritten
    assert not list(tmp_path.rglob("*.partial"))
    if cls is not atomic.MatplotlibDataset:
        loaded = second.load()
        expected = make()
        if isinstance(expected, pd.DataFrame):
            pd.testing.assert_frame_equal(loaded, expected)
        else:
            assert loaded == expected


@pytest.mark.parametrize(
    ("cls", "make", "name"), CASES, ids=lambda c: getattr(c, "__name__", "")
)
def test_a_crash_before_the_rename_leaves_nothing_loadable(
    tmp_path, monkeypatch, cls, make, name
):
    dataset = cls(filepath=str(tmp_path / name), version=Version(None, None))

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(dataset._fs, "mv", crash)
    with pytest.raises(KeyboardInterrupt):
        dataset.save(make())
    assert not dataset.exists()


def test_unversioned_saves_replace_the_file_whole(tmp_path):
    dataset = atomic.JSONDataset(filepath=str(tmp_path / "spec.json"))
    dataset.save({"n": 1})
    dataset.save({"n": 2})
    assert json.loads((tmp_path / "spec.json").read_text()) == {"n": 2}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spec.json"]


def test_untrusted_code_is_not_loaded(tmp_path):
    """Keras' safe_mode stays on; .npy object arrays (pickles) are refused."""
    import keras
    import numpy as np

    from emotion_aware_loss.datasets import CorpusError, PrecomputedCorpusDataset
    from emotion_aware_loss.datasets.keras_model_dataset import KerasModelDataset

    inputs = keras.Input((2,))
    model = keras.Model(inputs, keras.layers.Lambda(lambda x: x * 2)(inputs))
    dataset = KerasModelDataset(filepath=str(tmp_path / "lambda.keras"))
    dataset.save(model)
    with pytest.raises(Exception, match="(?i)unsafe|safe_mode|lambda"):
        dataset.load()
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}] * 3, dtype=object))
    with pytest.raises(CorpusError, match="objects.npy"):
        PrecomputedCorpusDataset(
            features=str(tmp_path / "objects.npy"),
            labels=str(tmp_path / "objects.npy"),
            label_names=["a"],
        ).load()


def test_report_links_point_at_the_same_runs_figures(tmp_path):
    text = "![Pair costs]({figure:pair_costs.png})\n"
    versioned = atomic.ReportDataset(
        filepath=str(tmp_path / "report.md"),
        version=Version(None, "2026-01-01T00.00.00.000Z"),
    )
    versioned.save(text)
    saved = tmp_path / "report.md" / "2026-01-01T00.00.00.000Z" / "report.md"
    assert saved.read_text() == (
        "![Pair costs](../../pair_costs.png/2026-01-01T00.00.00.000Z/pair_costs.png)\n"
    )
    plain = atomic.ReportDataset(filepath=str(tmp_path / "plain.md"))
    plain.save(text)
    assert plain.load() == "![Pair costs](pair_costs.png)\n"
    assert plain.preview() == "<pre>![Pair costs](pair_costs.png)\n</pre>"  # Kedro-Viz
