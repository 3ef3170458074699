"""The ShEMO corpus in its release layout.

ShEMO (Sharif Emotional Speech Database; Mohammad Nezami et al., 2019) ships one
``.wav`` file per utterance, named like ``F21N37``: speaker gender (``F``/``M``),
speaker code (``21``), emotion letter and index (``37``), plus one JSON file keyed by
utterance id with ``speaker_id``, ``gender``, ``emotion``, ``transcript`` (Persian) and
``ipa``. This dataset turns that layout into the project's corpus table; the data
itself is not part of this project.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from kedro.io import AbstractDataset, DatasetError

from emotion_aware_loss.corpora.corpus import AudioCorpus, CorpusError
from emotion_aware_loss.corpora.layouts import corpus_layout
from emotion_aware_loss.corpora.manifest import check_manifest

logger = logging.getLogger(__name__)

# The emotion words of the JSON file -> classes (the file names' letters are the
# registered ``shemo`` layout's, emotion_aware_loss.corpora.layouts).
WORDS = {
    "angry": "anger",
    "happy": "happiness",
    "neutral": "neutral",
    "sad": "sadness",
    "surprised": "surprise",
    "fearful": "fear",
}


class ShemoDataset(AbstractDataset[Any, AudioCorpus]):
    """ShEMO's release layout: a folder of ``.wav`` files and its JSON file.

    Example (``conf/local/catalog.yml``)::

        corpus:
          type: emotion_aware_loss.datasets.ShemoDataset
          path: data/01_raw/shemo            # searched recursively for *.wav
          json_path: data/01_raw/shemo/shemo.json
          labels_from: filename              # or json

    Labels become ``anger, happiness, neutral, sadness, surprise, fear``; the
    seed's setup drops ``fear`` (``preprocessing.labels.drop``, the default).

    Args:
        path: Folder holding the ``.wav`` files (sub-folders such as ``female/``
            and ``male/`` are searched too).
        json_path: The JSON file; it supplies transcripts (and speaker ids). Without
            it, transcripts are empty (a speech-only run).
        labels_from: Take each label from the file name's emotion letter or from
            the JSON file's ``emotion``.
        metadata: Free-form metadata for plugins (e.g. Kedro-Viz).
    """

    def __init__(
        self,
        path: str,
        json_path: str | None = None,
        labels_from: Literal["filename", "json"] = "filename",
        metadata: dict[str, Any] | None = None,
    ) -> None:
        if labels_from not in {"filename", "json"}:
            raise DatasetError(
                f"labels_from must be 'filename' or 'json', got {labels_from!r}"
            )
        if labels_from == "json" and json_path is None:
            raise DatasetError(
                "labels_from: json needs the ShEMO JSON file (json_path)"
            )
        self._path = Path(path)
        self._json = Path(json_path) if json_path else None
        self._labels_from = labels_from
        self.metadata = metadata

    def _read_json(self) -> dict[str, dict[str, Any]]:
        if self._json is None:
            return {}
        try:
            records = json.loads(self._json.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CorpusError(
                f"cannot read ShEMO metadata {self._json}: {exc}"
            ) from exc
        if not isinstance(records, dict):
            raise CorpusError(
                f"ShEMO metadata {self._json} must map utterance ids to records"
            )
        return records

    def load(self) -> AudioCorpus:
        if not self._path.is_dir():
            raise CorpusError(f"ShEMO folder {self._path} does not exist")
        files = sorted(self._path.rglob("*.wav"), key=lambda p: p.stem)
        if not files:
            raise CorpusError(f"ShEMO folder {self._path} holds no .wav files")
        records = self._read_json()
        source = str(self._json or self._path)
        rows = []
        for file in files:
            row = corpus_layout("shemo").utterance(file.stem, str(file))
            record = records.get(row["utterance_id"])
            if records and record is None:
                raise CorpusError(
                    f"{source}: no record for utterance {row['utterance_id']!r} "
                    f"({file})"
                )
            record = record or {}
            if self._labels_from == "json":
                word = str(record.get("emotion", "")).strip().lower()
                if word not in WORDS:
                    raise CorpusError(
                        f"{source}: utterance {row['utterance_id']!r} has emotion "
                        f"{word!r}, expected one of {sorted(WORDS)}"
                    )
                row["label"] = WORDS[word]
            row["speaker"] = str(record.get("speaker_id") or row["speaker"])
            row["transcript"] = str(record.get("transcript") or "")
            row["audio_path"] = str(file.relative_to(self._path))
            rows.append(row)
        table = pd.DataFrame(rows)
        manifest, _ = check_manifest(table, source, self._path)
        logger.info(
            "Loaded %d ShEMO utterances from %s (labels from the %s)",
            len(manifest),
            self._path,
            self._labels_from,
        )
        return AudioCorpus(manifest, source)

    def save(self, data: Any) -> None:
        raise DatasetError(f"{type(self).__name__} is read-only")

    def _exists(self) -> bool:
        return self._path.is_dir()

    def _describe(self) -> dict[str, Any]:
        return {
            "path": str(self._path),
            "json_path": str(self._json),
            "labels_from": self._labels_from,
        }
