"""Speech + text corpora as Kedro datasets.

:class:`AudioManifestDataset` reads a manifest table and checks it
(:mod:`emotion_aware_loss.corpora.manifest`); :class:`DemoCorpusDataset` writes the
synthetic demo corpus first. Both give an
:class:`~emotion_aware_loss.corpora.corpus.AudioCorpus`, whose audio is read lazily.
"""

from __future__ import annotations

import json
import logging
import posixpath
import shutil
import tempfile
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import soundfile as sf
from kedro.io import AbstractDataset, DatasetError

from emotion_aware_loss.corpora.corpus import AudioCorpus, CorpusError
from emotion_aware_loss.corpora.location import location
from emotion_aware_loss.corpora.manifest import check_manifest, read_table

logger = logging.getLogger(__name__)


class AudioManifestDataset(AbstractDataset[Any, AudioCorpus]):
    """A corpus described by a manifest table (CSV, TSV or Parquet).

    Example (``conf/local/catalog.yml``)::

        corpus:
          type: emotion_aware_loss.datasets.AudioManifestDataset
          filepath: data/01_raw/my_corpus/manifest.csv
          audio_root: data/01_raw/my_corpus/wav
          columns:            # your column name -> ours
            file: audio_path
            text: transcript
            emotion: label
            id: utterance_id
            spk: speaker

    Args:
        filepath: The manifest file.
        audio_root: Folder the ``audio_path`` column is relative to; defaults to the
            manifest's folder. Paths may not escape it.
        columns: Renames your column names to ``utterance_id``, ``speaker``,
            ``transcript``, ``label`` and ``audio_path``.
        on_bad_audio: ``error`` (default) stops at the first missing, unreadable
            or empty audio file, naming it; ``skip`` leaves such utterances out,
            logs their count and lists them in ``skipped_utterances``.
        require_sample_rate: Treat files at another sample rate as bad audio
            (by default they are resampled).
        require_mono: Treat multi-channel files as bad audio (by default they
            are averaged to mono).
        allow_outside_root: Let ``audio_path`` point outside ``audio_root``
            (refused by default).
        labelled: ``false`` for new utterances to classify (the ``inference``
            pipeline): ``label``, ``speaker`` and ``transcript`` become optional.
        credentials: Passed to the fsspec file system of ``filepath`` and
            ``audio_root``, which may be URLs (``s3://bucket/corpus/manifest.csv``):
            the audio is then read from there, one file at a time.
        fs_args: Extra arguments of that file system.
        metadata: Free-form metadata for plugins (e.g. Kedro-Viz).
    """

    def __init__(  # noqa: PLR0913
        self,
        filepath: str,
        audio_root: str | None = None,
        columns: dict[str, str] | None = None,
        on_bad_audio: Literal["error", "skip"] = "error",
        require_sample_rate: int | None = None,
        require_mono: bool = False,
        allow_outside_root: bool = False,
        labelled: bool = True,
        credentials: dict[str, Any] | None = None,
        fs_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        if on_bad_audio not in {"error", "skip"}:
            raise DatasetError(
                f"on_bad_audio must be 'error' or 'skip', got {on_bad_audio!r}"
            )
        self._filepath = location(filepath, credentials, fs_args)
        # by default the manifest's folder
        audio_root = audio_root or posixpath.dirname(str(filepath)) or "."
        self._audio_root = location(audio_root, credentials, fs_args)
        self._columns = dict(columns or {})
        self._on_bad_audio = on_bad_audio
        self._requirements = {
            "require_sample_rate": require_sample_rate,
            "require_mono": require_mono,
            "allow_outside_root": allow_outside_root,
            "labelled": labelled,
        }
        self.metadata = metadata

    def load(self) -> AudioCorpus:
        if not self._filepath.is_file():
            raise CorpusError(f"corpus manifest {self._filepath} does not exist")
        try:
            table = read_table(self._filepath)
        except (ValueError, OSError, pd.errors.ParserError) as exc:
            raise CorpusError(
                f"cannot read corpus manifest {self._filepath}: {exc}"
            ) from exc
        table = table.rename(columns=self._columns)
        manifest, skipped = check_manifest(
            table,
            str(self._filepath),
            self._audio_root,
            self._on_bad_audio,
            **self._requirements,
        )
        logger.info("Loaded %d utterances from %s", len(manifest), self._filepath)
        return AudioCorpus(
            manifest, str(self._filepath), skipped, self._filepath.storage_options
        )

    def save(self, data: Any) -> None:
        raise DatasetError(f"{type(self).__name__} is read-only")

    def _exists(self) -> bool:
        return self._filepath.is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "audio_root": str(self._audio_root)}


class DemoCorpusDataset(AudioManifestDataset):
    """The built-in synthetic corpus, written to ``path`` on first load.

    Loading generates ``path/wav/*.wav`` and ``path/manifest.csv`` with
    :func:`emotion_aware_loss.corpora.demo.iter_demo_corpus` when they are
    missing or were made with other settings (recorded in ``path/demo_corpus.json``),
    then reads them like any :class:`AudioManifestDataset`. The same settings
    always give the same files. Generation writes to a temporary folder first, so an
    interrupted run never leaves a half-written corpus that looks complete; on an
    object store (``path`` an fsspec URL) that folder is uploaded with
    ``demo_corpus.json`` last.

    Args:
        path: Folder of the corpus (a local path or an fsspec URL).
        n_utterances: Corpus size.
        n_speakers: Number of synthetic speakers.
        seed: Generator seed (the data's identity, separate from the run seed).
        sample_rate: Audio sample rate in Hz.
        label_noise: Fraction of labels that differ from the expressed emotion.
        credentials: Passed to the fsspec file system of ``path``.
        fs_args: Extra arguments of that file system.
        metadata: Free-form metadata for plugins.
    """

    def __init__(  # noqa: PLR0913
        self,
        path: str,
        n_utterances: int = 1000,
        n_speakers: int = 10,
        seed: int = 2026,
        sample_rate: int = 16000,
        label_noise: float = 0.1,
        credentials: dict[str, Any] | None = None,
        fs_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self._root = location(str(path).rstrip("/"), credentials, fs_args)
        super().__init__(
            self._root.join("manifest.csv").url,
            credentials=credentials,
            fs_args=fs_args,
            metadata=metadata,
        )
        self._settings = {
            "n_utterances": int(n_utterances),
            "n_speakers": int(n_speakers),
            "seed": int(seed),
            "sample_rate": int(sample_rate),
            "label_noise": float(label_noise),
        }

    def _is_current(self) -> bool:
        stamp = self._root.join("demo_corpus.json")
        if not (stamp.is_file() and self._filepath.is_file()):
            return False
        with stamp.open("rb") as handle:
            return json.loads(handle.read().decode("utf-8")) == self._settings

    def _write(self, folder: Path) -> None:
        """Generate the corpus into ``folder`` (which exists)."""
        from emotion_aware_loss.corpora.demo import iter_demo_corpus  # noqa: PLC0415

        (folder / "wav").mkdir()
        rows = []
        # one utterance at a time: the audio of a large corpus is never in memory
        for row, wave in iter_demo_corpus(**self._settings):
            rel = f"wav/{row['utterance_id']}.wav"
            sf.write(
                folder / rel, wave, self._settings["sample_rate"], subtype="PCM_16"
            )
            rows.append({**row, "audio_path": rel})
        pd.DataFrame(rows).to_csv(folder / "manifest.csv", index=False)
        (folder / "demo_corpus.json").write_text(
            json.dumps(self._settings, indent=2), encoding="utf-8"
        )

    def _generate(self) -> None:
        logger.info(
            "Generating the demo corpus in %s with %s", self._root, self._settings
        )
        if not self._root.local:
            self._upload()
            return
        root = Path(self._root.path)
        root.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=root.parent, prefix=".demo-"))
        try:
            self._write(staging)
            if root.exists():
                shutil.rmtree(root)
            staging.rename(root)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise

    def _upload(self) -> None:
        """Generate locally, then upload; the stamp last marks a complete corpus."""
        fs, root = self._root.fs, self._root.path
        with tempfile.TemporaryDirectory(prefix="demo-") as tmp:
            staging = Path(tmp)
            self._write(staging)
            if fs.exists(root):
                fs.rm(root, recursive=True)
            fs.put(str(staging / "wav"), f"{root}/wav", recursive=True)
            fs.put(str(staging / "manifest.csv"), f"{root}/manifest.csv")
            fs.put(str(staging / "demo_corpus.json"), f"{root}/demo_corpus.json")
        fs.invalidate_cache(root)

    def load(self) -> AudioCorpus:
        if not self._is_current():
            self._generate()
        return super().load()

    def _exists(self) -> bool:
        return True

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._root), **self._settings}
