"""The pipeline with its data layers on object storage: a real S3 server, locally.

The server is moto's S3 implementation started on 127.0.0.1 (``moto[server]``, in
the dev extra); the project talks to it over HTTP through s3fs and botocore exactly
as to AWS, configured only by ``data_root`` (``conf/base/globals.yml``) and the
usual AWS environment variables.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path

import numpy as np
import pytest
from kedro.io import Version

from emotion_aware_loss.datasets import NumpyDataset

from .tiny_project import TINY_GLOBALS, TINY_PARAMETERS, copy_project, kedro

moto_server = pytest.importorskip(
    "moto.server", reason="the S3 server of moto[server] is not installed"
)
s3fs = pytest.importorskip("s3fs", reason="s3fs (the fsspec S3 back-end) is missing")

BUCKET = "emotion-aware-loss-test"
VERSION = re.compile(r"/\d{4}-\d{2}-\d{2}T[\d.]+Z/")


@pytest.fixture(scope="module")
def s3_endpoint():
    """A moto S3 server on a free port of 127.0.0.1, with one empty bucket."""
    server = moto_server.ThreadedMotoServer(
        ip_address="127.0.0.1", port=0, verbose=False
    )
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    fs = s3fs.S3FileSystem(
        key="testing", secret="testing", client_kwargs={"endpoint_url": endpoint}
    )
    fs.mkdir(BUCKET)
    try:
        yield endpoint
    finally:
        server.stop()


@pytest.fixture
def aws_environment(s3_endpoint, monkeypatch) -> s3fs.S3FileSystem:
    """AWS variables naming the local server, for this process and ``kedro run``."""
    variables = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": s3_endpoint,  # read by botocore: an S3-compatible server
    }
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    return s3fs.S3FileSystem(skip_instance_cache=True)


def test_numpy_arrays_are_versioned_and_memory_mapped_on_s3(aws_environment):
    array = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    url = f"s3://{BUCKET}/unit/features.npy"
    for _ in range(2):
        NumpyDataset(url, version=Version(None, None)).save(array)
    versions = aws_environment.ls(f"{BUCKET}/unit/features.npy")
    assert len(versions) == 2  # the second save did not overwrite the first
    mapped = NumpyDataset(
        url, load_args={"mmap_mode": "r"}, version=Version(None, None)
    ).load()
    assert isinstance(mapped, np.memmap)  # a local copy, mapped
    np.testing.assert_array_equal(mapped, array)
    plain = NumpyDataset(url, version=Version(None, None)).load()
    np.testing.assert_array_equal(plain, array)


def _files(root: Path) -> dict[str, Path]:
    return {
        VERSION.sub("/", p.relative_to(root).as_posix()): p
        for p in root.rglob("*")
        if p.is_file()
    }


@pytest.mark.slow
def test_the_pipeline_runs_with_its_data_layers_on_s3(aws_environment, tmp_path):
    # Op determinism, so that the two runs train the same models.
    parameters = TINY_PARAMETERS.replace(
        "  patience: 1\n", "  patience: 1\n  deterministic: true\n"
    )
    root = f"s3://{BUCKET}/run/data"
    on_s3 = copy_project(
        tmp_path / "s3", parameters, globals_=TINY_GLOBALS + f"data_root: {root}\n"
    )
    kedro(on_s3, "run")
    local = copy_project(tmp_path / "local", parameters)
    kedro(local, "run")

    # layers 02..08 went to the bucket only; the corpus stays in 01_raw
    assert sorted(p.name for p in (on_s3 / "data").iterdir()) == ["01_raw"]
    downloaded = tmp_path / "downloaded"
    aws_environment.get(f"{BUCKET}/run/data/", str(downloaded), recursive=True)
    remote = _files(downloaded)
    expected = {
        name: path
        for name, path in _files(local / "data").items()
        if not name.startswith("01_raw/")
    }
    assert set(remote) == set(expected)
    assert "08_reporting/report.md/report.md" in remote
    assert "04_feature/acoustic_features.npy" in remote
    assert "06_models/emotion_aware/fold_1/model.keras/model.keras" in remote
    assert not [name for name in remote if name.endswith(".partial")]
    # the same data, metrics and predictions as a run on the local disk
    tables = [
        name
        for name in expected
        if name.endswith((".csv", ".json", ".npy", ".parquet"))
    ]
    assert len(tables) > 30
    differing = sorted(
        name
        for name in tables
        if remote[name].read_bytes() != expected[name].read_bytes()
    )
    assert not differing, _first_lines_that_differ(differing, remote, expected)


def _first_lines_that_differ(
    names: list[str], remote: dict[str, Path], local: dict[str, Path]
) -> str:
    """The differing files' names and, for text files, their first lines that
    differ: what a failure on CI has to say, where the files are gone."""
    out = [str(names)]
    for name in names:
        if name.endswith((".csv", ".json")):
            diff = difflib.unified_diff(
                local[name].read_text().splitlines(),
                remote[name].read_text().splitlines(),
                f"local/{name}",
                f"s3/{name}",
                n=0,
                lineterm="",
            )
            out.extend(list(diff)[:12])
    return "\n".join(out)
