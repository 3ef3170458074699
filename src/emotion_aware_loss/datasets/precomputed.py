"""Corpora whose features were computed elsewhere (the seed's NumPy layout, or a table).

A run from precomputed features skips audio reading and acoustic extraction:
``kedro run --pipelines=from_features`` (docs/corpora.md). Token-id arrays stand for
transcripts: token id ``k`` becomes the word ``id<k>`` (0 is padding), so the
per-fold vocabulary and the pre-trained embedding matrix
(:class:`EmbeddingMatrixDataset`) work as with raw transcripts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

import numpy as np
import pandas as pd
from kedro.io import AbstractDataset, DatasetError

from emotion_aware_loss.corpora.corpus import CorpusError
from emotion_aware_loss.corpora.location import Location, load_npy, location
from emotion_aware_loss.datasets.word_vectors import WordVectors

logger = logging.getLogger(__name__)

TOKEN_PREFIX = "id"


@dataclass(frozen=True)
class PrecomputedCorpus:
    """Utterance table plus acoustic features, already computed.

    Attributes:
        manifest: ``utterance_id, speaker, transcript, label`` (as a corpus has).
        features: ``(n, frames, features)`` float32; utterance-level vectors are
            stored as one frame each.
        n_frames: Valid frames per utterance (1 for vectors, 0 without speech).
        vector: Whether the features are utterance-level vectors.
        source: The files the data came from (for error messages).
    """

    manifest: pd.DataFrame
    features: np.ndarray
    n_frames: np.ndarray
    vector: bool
    source: str

    def select(self, utterance_ids: list[str]) -> PrecomputedCorpus:
        """The corpus restricted to ``utterance_ids``, in that order."""
        position = pd.Series(
            range(len(self.manifest)), index=self.manifest["utterance_id"]
        )
        rows = position.loc[utterance_ids].to_numpy()
        return PrecomputedCorpus(
            self.manifest.iloc[rows].reset_index(drop=True),
            self.features[rows],
            self.n_frames[rows],
            self.vector,
            self.source,
        )


def _load_array(path: Location) -> np.ndarray:
    try:
        return load_npy(path)
    except (OSError, ValueError) as exc:
        raise CorpusError(f"cannot read array {path}: {exc}") from exc


def _load_table(path: Location) -> pd.DataFrame:
    suffix = PurePosixPath(path.path).suffix.lower()
    try:
        with path.open("rb") as handle:
            if suffix == ".parquet":
                return pd.read_parquet(handle)
            sep = "\t" if suffix in {".tsv", ".tab"} else ","
            return pd.read_csv(handle, sep=sep, keep_default_na=False)
    except (OSError, ValueError) as exc:
        raise CorpusError(f"cannot read table {path}: {exc}") from exc


class PrecomputedCorpusDataset(AbstractDataset[Any, PrecomputedCorpus]):
    """Precomputed acoustic features with labels and transcripts or token ids.

    The seed's NumPy layout::

        corpus_features:
          type: emotion_aware_loss.datasets.PrecomputedCorpusDataset
          features: data/01_raw/seed/selected_features_data.npy   # N x F (or N x T x F)
          labels: data/01_raw/seed/labels.npy                      # N label ids
          label_names: [anger, surprise, happiness, sadness, neutral]
          token_ids: data/01_raw/seed/padded_docs.npy              # N x L, 0 = padding

    Its tabular equivalent, one row per utterance::

        corpus_features:
          type: emotion_aware_loss.datasets.PrecomputedCorpusDataset
          table: data/01_raw/my_features.parquet   # utterance_id, label, speaker,
          feature_prefix: "f_"                     # transcript, f_0 ... f_{F-1}

    Args:
        features: ``.npy`` with ``(N, F)`` utterance vectors or ``(N, T, F)``
            frame sequences (zero-padded; ``lengths`` gives the valid frames).
        labels: ``.npy`` of integer label ids, named by ``label_names``.
        label_names: Names of label ids 0, 1, ...
        token_ids: Optional ``.npy`` ``(N, L)`` token ids standing for transcripts.
        lengths: Optional ``.npy`` of valid frames per sequence.
        table: A CSV/TSV/Parquet table with ``utterance_id``, ``label`` and
            optionally ``speaker`` and ``transcript``; with ``feature_prefix`` its
            columns starting with the prefix are the utterance-level features.
            Next to ``.npy`` files it supplies ids, speakers and transcripts.
        feature_prefix: Prefix of the table's feature columns.
        credentials: Passed to the fsspec file system of the files (any of them
            may be a URL such as ``s3://bucket/features.npy``).
        fs_args: Extra arguments of that file system.
        metadata: Free-form metadata for plugins.
    """

    def __init__(  # noqa: PLR0913  (one argument per file of the layouts)
        self,
        features: str | None = None,
        labels: str | None = None,
        label_names: list[str] | None = None,
        token_ids: str | None = None,
        lengths: str | None = None,
        table: str | None = None,
        feature_prefix: str | None = None,
        credentials: dict[str, Any] | None = None,
        fs_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        if features is None and not (table and feature_prefix):
            raise DatasetError(
                "PrecomputedCorpusDataset needs `features` (.npy) or a `table` with "
                "`feature_prefix`"
            )
        if labels is not None and not label_names:
            raise DatasetError("`labels` (.npy ids) needs `label_names`")
        self._paths = {
            "features": features,
            "labels": labels,
            "token_ids": token_ids,
            "lengths": lengths,
            "table": table,
        }
        self._label_names = list(label_names or [])
        self._prefix = feature_prefix
        self._storage = {"credentials": credentials, "fs_args": fs_args}
        self.metadata = metadata

    def _path(self, key: str) -> Location | None:
        value = self._paths[key]
        if value is None:
            return None
        path = location(value, **self._storage)
        if not path.is_file():
            raise CorpusError(f"precomputed corpus: {key} file {path} does not exist")
        return path

    def load(self) -> PrecomputedCorpus:
        table_path = self._path("table")
        table = _load_table(table_path) if table_path else None
        features, source = self._features(table, table_path)
        vector = features.ndim == 2
        if vector:
            features = features[:, None, :]
        manifest = self._manifest(len(features), table, table_path, source)
        if vector:
            n_frames = np.ones(len(features), dtype=np.int32)
        elif (lengths := self._path("lengths")) is not None:
            n_frames = _load_array(lengths).astype(np.int32).reshape(-1)
        else:
            n_frames = np.full(len(features), features.shape[1], dtype=np.int32)
        logger.info(
            "Loaded %d precomputed utterances from %s (%s features)",
            len(features),
            source,
            "utterance-level" if vector else "frame-level",
        )
        return PrecomputedCorpus(manifest, features, n_frames, vector, source)

    def _features(
        self, table: pd.DataFrame | None, table_path: Location | None
    ) -> tuple[np.ndarray, str]:
        """The feature array (checked numeric and finite) and where it came from."""
        features_path = self._path("features")
        if features_path is not None:
            features, source = _load_array(features_path), str(features_path)
        else:
            source = str(table_path)
            columns = [c for c in table.columns if str(c).startswith(self._prefix)]
            if not columns:
                raise CorpusError(
                    f"{source}: no column starts with feature_prefix {self._prefix!r}"
                )
            try:
                features = table[columns].to_numpy(dtype=np.float32)
            except ValueError as exc:
                raise CorpusError(f"{source}: non-numeric feature: {exc}") from exc
        if features.ndim not in (2, 3) or not np.issubdtype(features.dtype, np.number):
            raise CorpusError(
                f"{source}: features must be a numeric N x F or N x T x F array, "
                f"got shape {features.shape} ({features.dtype})"
            )
        bad = np.argwhere(~np.isfinite(features))
        if bad.size:
            raise CorpusError(
                f"{source}: feature {int(bad[0][-1])} of utterance row "
                f"{int(bad[0][0])} is NaN or inf ({len(bad)} such value(s))"
            )
        return features.astype(np.float32, copy=False), source

    def _named_labels(self, n: int, source: str) -> list[str] | None:
        """Names of the ``labels`` array's ids, or None without that array."""
        labels_path = self._path("labels")
        if labels_path is None:
            return None
        ids = _load_array(labels_path).reshape(-1)
        if len(ids) != n:
            raise CorpusError(
                f"{labels_path} has {len(ids)} labels but {source} has {n} utterances"
            )
        if ids.min() < 0 or ids.max() >= len(self._label_names):
            raise CorpusError(
                f"{labels_path}: label ids must be in 0..{len(self._label_names) - 1}"
                f" (label_names {self._label_names}), found {int(ids.min())}.."
                f"{int(ids.max())}"
            )
        return [self._label_names[int(i)] for i in ids]

    def _manifest(
        self,
        n: int,
        table: pd.DataFrame | None,
        table_path: Location | None,
        source: str,
    ) -> pd.DataFrame:
        """``utterance_id, speaker, transcript, label`` from the table and arrays."""
        manifest = pd.DataFrame(index=range(n))
        if table is not None:
            if len(table) != n:
                raise CorpusError(
                    f"{table_path} has {len(table)} rows but {source} has {n} utterances"
                )
            for column in ("utterance_id", "speaker", "transcript", "label"):
                if column in table.columns:
                    manifest[column] = table[column].astype(str).to_numpy()
        if (labels := self._named_labels(n, source)) is not None:
            manifest["label"] = labels
        if "label" not in manifest:
            raise CorpusError(f"{source}: no labels (give `labels` or a table `label`)")
        defaults = {
            "utterance_id": [f"utt{i:06d}" for i in range(n)],
            "speaker": "unknown",
            "transcript": "",
        }
        for column, value in defaults.items():
            if column not in manifest:
                manifest[column] = value
        if (token_path := self._path("token_ids")) is not None:
            ids = _load_array(token_path)
            if ids.ndim != 2 or len(ids) != n:
                raise CorpusError(
                    f"{token_path}: token ids must be N x L with N = {n}, got {ids.shape}"
                )
            manifest["transcript"] = [
                " ".join(f"{TOKEN_PREFIX}{int(t)}" for t in row if t > 0) for row in ids
            ]
        dupes = manifest["utterance_id"][manifest["utterance_id"].duplicated()]
        if len(dupes):
            raise CorpusError(f"{source}: duplicate utterance id {dupes.iloc[0]!r}")
        return manifest[["utterance_id", "speaker", "transcript", "label"]]

    def save(self, data: Any) -> None:
        raise DatasetError(f"{type(self).__name__} is read-only")

    def _exists(self) -> bool:
        return all(
            location(p, **self._storage).is_file() for p in self._paths.values() if p
        )

    def _describe(self) -> dict[str, Any]:
        return {k: v for k, v in self._paths.items() if v}


class EmbeddingMatrixDataset(AbstractDataset[Any, WordVectors]):
    """A ``.npy`` embedding matrix indexed by token id (the seed's layout).

    Row ``k`` is the vector of token id ``k``, i.e. of the word ``id<k>`` that
    :class:`PrecomputedCorpusDataset` writes for token-id transcripts. Use it as the
    ``word_vectors`` catalog entry.

    Args:
        filepath: The ``.npy`` matrix (a local path or an fsspec URL).
        credentials: Passed to its fsspec file system.
        fs_args: Extra arguments of that file system.
        metadata: Free-form metadata for plugins.
    """

    def __init__(
        self,
        filepath: str,
        credentials: dict[str, Any] | None = None,
        fs_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self._filepath = location(filepath, credentials, fs_args)
        self.metadata = metadata

    def load(self) -> WordVectors:
        if not self._filepath.is_file():
            raise CorpusError(f"embedding matrix {self._filepath} does not exist")
        matrix = _load_array(self._filepath)
        if matrix.ndim != 2:
            raise CorpusError(
                f"embedding matrix {self._filepath} must be 2-D, got {matrix.shape}"
            )
        return MatrixVectors(self._filepath.url, matrix=matrix)

    def save(self, data: Any) -> None:
        raise DatasetError(f"{type(self).__name__} is read-only")

    def _exists(self) -> bool:
        return self._filepath.is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}


@dataclass(frozen=True)
class MatrixVectors(WordVectors):
    """Word vectors of ``id<k>`` words from rows of a matrix."""

    matrix: np.ndarray | None = None

    def lookup(self, words):
        found = {}
        for word in words:
            if word.startswith(TOKEN_PREFIX) and word[len(TOKEN_PREFIX) :].isdigit():
                k = int(word[len(TOKEN_PREFIX) :])
                if 0 < k < len(self.matrix):
                    found[word] = self.matrix[k].astype(np.float32)
        return self.matrix.shape[1], found
