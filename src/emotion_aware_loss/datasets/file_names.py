"""A corpus read from its audio files' names (EmoDB, RAVDESS, nEMO, ... as released)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from kedro.io import AbstractDataset, DatasetError

from emotion_aware_loss.corpora.corpus import AudioCorpus, CorpusError
from emotion_aware_loss.corpora.layouts import FileNameLayout, corpus_layout
from emotion_aware_loss.corpora.manifest import check_manifest

logger = logging.getLogger(__name__)


class FileNameCorpusDataset(AbstractDataset[Any, AudioCorpus]):
    """A folder of audio files whose names say each utterance's emotion and speaker.

    Example (``conf/local/catalog.yml``), a registered layout::

        corpus:
          type: emotion_aware_loss.datasets.FileNameCorpusDataset
          path: data/01_raw/emodb/wav
          layout: emodb          # emotion_aware_loss.corpora.layouts.LAYOUTS

    or a layout of your own::

        corpus:
          type: emotion_aware_loss.datasets.FileNameCorpusDataset
          path: data/01_raw/my_corpus
          pattern: '^(?P<speaker>spk\\d+)_(?P<label>[a-z]+)_\\d+$'
          labels: {ang: anger, hap: happiness, sad: sadness, neu: neutral}

    Every file with one of ``extensions`` under ``path`` (sub-folders too) is an
    utterance; a name the layout cannot read stops the load, naming the file.
    Transcripts are empty (a speech-only corpus). Audio headers are checked as for
    :class:`~emotion_aware_loss.datasets.AudioManifestDataset`.

    Args:
        path: The folder of audio files (a local path).
        layout: A registered layout's name; or give ``pattern`` and ``labels``.
        pattern: A regular expression for the file names without extension, with
            a named group ``label`` (and those ``speaker`` names).
        labels: The ``label`` group's values -> labels.
        speaker: The speaker id as a format over the pattern's groups.
        extensions: The audio files' extensions.
        on_bad_audio: ``error`` or ``skip`` unreadable or empty audio files.
        metadata: Free-form metadata for plugins (e.g. Kedro-Viz).
    """

    def __init__(  # noqa: PLR0913
        self,
        path: str,
        layout: str | None = None,
        pattern: str | None = None,
        labels: dict[str, str] | None = None,
        speaker: str = "{speaker}",
        extensions: tuple[str, ...] | list[str] = (".wav", ".flac"),
        on_bad_audio: Literal["error", "skip"] = "error",
        metadata: dict[str, Any] | None = None,
    ) -> None:
        if (layout is None) == (pattern is None):
            raise DatasetError(
                "FileNameCorpusDataset needs either layout (a registered layout) or "
                "pattern and labels (a layout of its own)"
            )
        try:
            if layout is not None:
                self._layout = corpus_layout(layout)
            else:
                self._layout = FileNameLayout(
                    "catalog", pattern, dict(labels or {}), speaker=speaker
                )
        except ValueError as exc:
            raise DatasetError(str(exc)) from exc
        if on_bad_audio not in {"error", "skip"}:
            raise DatasetError(
                f"on_bad_audio must be 'error' or 'skip', got {on_bad_audio!r}"
            )
        self._path = Path(path)
        self._extensions = {
            e.lower() if e.startswith(".") else f".{e.lower()}" for e in extensions
        }
        self._on_bad_audio = on_bad_audio
        self.metadata = metadata

    def load(self) -> AudioCorpus:
        if not self._path.is_dir():
            raise CorpusError(f"corpus folder {self._path} does not exist")
        files = sorted(
            p
            for p in self._path.rglob("*")
            if p.suffix.lower() in self._extensions and p.is_file()
        )
        if not files:
            raise CorpusError(
                f"corpus folder {self._path} holds no {sorted(self._extensions)} files"
            )
        rows = [
            self._layout.utterance(file.stem, str(file))
            | {"transcript": "", "audio_path": str(file.relative_to(self._path))}
            for file in files
        ]
        source = f"{self._path} ({self._layout.name} layout)"
        manifest, skipped = check_manifest(
            pd.DataFrame(rows), source, self._path, self._on_bad_audio
        )
        logger.info("Loaded %d utterances from %s", len(manifest), source)
        return AudioCorpus(manifest, source, skipped)

    def save(self, data: Any) -> None:
        raise DatasetError(f"{type(self).__name__} is read-only")

    def _exists(self) -> bool:
        return self._path.is_dir()

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._path), "layout": self._layout.name}
