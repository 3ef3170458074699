"""Property-based fuzzing of the input readers: load correctly or fail with our error.

Any input either loads or raises this project's own error type with a message that
names what is wrong; never an unhandled exception from deep inside a library.
"""

from __future__ import annotations

import os
import string

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emotion_aware_loss.config import LabelConfig, TextConfig
from emotion_aware_loss.datasets import AudioCorpus, AudioManifestDataset, CorpusError
from emotion_aware_loss.folds.model_inputs import prepare_utterances
from emotion_aware_loss.losses.similarity import (
    SimilarityMatrixError,
    validate_similarity,
)

CLASSES = ["anger", "surprise", "happiness", "sadness", "neutral"]
FUZZ = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

cells = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-3, 3),
    st.text(max_size=4),
    st.none(),
    st.booleans(),
)
labels = st.sampled_from([*CLASSES, "fear", "", " anger", "Anger", "x"])


@FUZZ
@given(
    rows=st.lists(labels, min_size=0, max_size=7),
    cols=st.lists(labels, min_size=0, max_size=7),
    data=st.data(),
)
def test_similarity_validator_accepts_or_explains(rows, cols, data):
    values = [[data.draw(cells) for _ in cols] for _ in rows]
    frame = pd.DataFrame(values, index=rows, columns=cols)
    try:
        out = validate_similarity(frame, CLASSES)
    except SimilarityMatrixError as exc:
        assert str(exc)
    else:
        matrix = out.to_numpy()
        assert list(out.index) == CLASSES and list(out.columns) == CLASSES
        assert np.isfinite(matrix).all() and (matrix >= 0).all() and (matrix <= 1).all()
        np.testing.assert_allclose(np.diag(matrix), 1.0, atol=1e-6)


@FUZZ
@given(
    st.lists(
        st.fixed_dictionaries(
            {
                "utterance_id": st.text(string.ascii_letters + " ,\"'\n", max_size=4),
                "speaker": st.text(max_size=3),
                "transcript": st.text(max_size=8),
                "label": labels,
                "audio_path": st.sampled_from(
                    ["a.wav", "missing.wav", "../a.wav", "", "bad.wav", "sub/../a.wav"]
                ),
            }
        ),
        max_size=6,
    ),
    st.sampled_from([".csv", ".tsv", ".parquet"]),
    st.lists(st.sampled_from(["speaker", "transcript", "audio_path"]), max_size=2),
)
def test_manifest_reader_loads_or_names_the_problem(tmp_path, rows, suffix, dropped):
    root = tmp_path / "corpus"
    root.mkdir(exist_ok=True)
    sf.write(root / "a.wav", np.full(800, 0.1, dtype=np.float32), 16000)
    (root / "bad.wav").write_bytes(b"RIFF????")
    table = pd.DataFrame(
        rows, columns=["utterance_id", "speaker", "transcript", "label", "audio_path"]
    ).drop(columns=dropped)
    path = root / f"m{suffix}"
    if suffix == ".parquet":
        table.to_parquet(path)
    else:
        table.to_csv(path, sep="\t" if suffix == ".tsv" else ",", index=False)
    try:
        corpus = AudioManifestDataset(str(path)).load()
    except CorpusError as exc:
        assert str(exc)
    else:
        assert isinstance(corpus, AudioCorpus)
        assert corpus.manifest["utterance_id"].is_unique
        assert (corpus.manifest["utterance_id"] != "").all()


@FUZZ
@given(
    corpus_labels=st.lists(
        st.text(string.ascii_lowercase + " _-", min_size=0, max_size=6)
        | st.sampled_from(CLASSES),
        min_size=1,
        max_size=12,
    ),
    mapping=st.dictionaries(
        st.text(string.ascii_lowercase, max_size=5),
        labels | st.text(max_size=5),
        max_size=4,
    ),
    drop=st.lists(st.text(string.ascii_lowercase, max_size=5) | labels, max_size=3),
)
def test_label_mapper_maps_or_names_the_label(corpus_labels, mapping, drop):
    manifest = pd.DataFrame(
        {
            "utterance_id": [f"u{i}" for i in range(len(corpus_labels))],
            "speaker": "s",
            "transcript": "a b",
            "label": corpus_labels,
            "audio_path": "",
        }
    )
    config = LabelConfig(mapping=mapping, drop=drop)
    try:
        table, skipped = prepare_utterances(
            AudioCorpus(manifest, "m.csv"), CLASSES, TextConfig(), config
        )
    except CorpusError as exc:
        assert str(exc)
    else:
        assert set(table["label"]) <= set(CLASSES)
        assert len(table) + len(skipped) == len(manifest)
        assert set(skipped["label"]) <= set(drop)


def test_fuzzers_can_fail():
    """The properties above are not vacuous: a bad matrix does raise."""
    with pytest.raises(SimilarityMatrixError):
        validate_similarity(pd.DataFrame([[1.0]], index=["x"], columns=["x"]), CLASSES)
