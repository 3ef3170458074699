"""Speech + text corpora as Kedro datasets.

A corpus is one row per utterance (id, speaker, transcript, label, audio file). The
datasets here read the table and check it; the audio itself is read lazily, one file
at a time, through :class:`AudioCorpus`, so nodes never open files themselves and a
large corpus never sits in memory at once.
"""

from __future__ import annotations

import json
import logging
import posixpath
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path, PurePosixPath
from typing import IO, Any, Literal, TypeVar

import fsspec
import numpy as np
import pandas as pd
import soundfile as sf
from joblib import Parallel, delayed
from kedro.io import AbstractDataset, DatasetError

from emotion_aware_loss.datasets._fs import Location, location

logger = logging.getLogger(__name__)
T = TypeVar("T")

COLUMNS = ("utterance_id", "speaker", "transcript", "label", "audio_path")
SKIPPED = ["utterance_id", "label", "reason"]


class CorpusError(DatasetError):
    """A corpus manifest or one of its audio files is unusable."""


@dataclass(frozen=True)
class AudioCorpus:
    """A checked corpus table plus lazy access to its audio.

    Attributes:
        manifest: One row per utterance with the columns in ``COLUMNS``;
            ``audio_path`` is absolute, or empty in a text-only corpus.
        source: The manifest file the table came from (for error messages).
        skipped: ``utterance_id, label, reason`` of rows left out at load (bad
            audio, when the dataset is told to skip it).
        storage_options: Credentials and file-system arguments for audio paths
            that are fsspec URLs (``s3://...``).
    """

    manifest: pd.DataFrame
    source: str
    skipped: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=SKIPPED))
    storage_options: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.manifest)

    @property
    def has_audio(self) -> bool:
        """False for a text-only corpus (a manifest without an audio column)."""
        return bool((self.manifest["audio_path"] != "").all())

    def read_audio(
        self, index: int, sample_rate: int, trim_top_db: float | None = None
    ) -> np.ndarray:
        """Read utterance ``index`` as mono float32 at ``sample_rate``.

        Raises:
            CorpusError: If the file is unreadable or holds no samples.
        """
        row = self.manifest.iloc[index]
        return read_waveform(
            row["audio_path"],
            row["utterance_id"],
            self.source,
            sample_rate,
            trim_top_db,
            self.storage_options,
        )

    def select(self, utterance_ids: Sequence[str]) -> AudioCorpus:
        """The corpus restricted to ``utterance_ids``, in that order.

        Raises:
            CorpusError: If an id is not in the corpus.
        """
        position = pd.Series(
            range(len(self.manifest)), index=self.manifest["utterance_id"]
        )
        unknown = [u for u in utterance_ids if u not in position.index]
        if unknown:
            raise CorpusError(
                f"{self.source}: utterance {unknown[0]!r} is not in the corpus "
                f"({len(unknown)} unknown id(s))"
            )
        rows = position.loc[list(utterance_ids)].to_numpy()
        return AudioCorpus(
            self.manifest.iloc[rows].reset_index(drop=True),
            self.source,
            self.skipped,
            self.storage_options,
        )

    def map_audio(
        self,
        func: Callable[[np.ndarray], T],
        sample_rate: int,
        trim_top_db: float | None = None,
        n_jobs: int = 1,
        batch_size: int = 64,
        prefer: Literal["threads", "processes"] = "processes",
    ) -> Iterator[T]:
        """Yield ``func(waveform)`` for every utterance, in manifest order.

        Utterances are read and processed in batches of ``batch_size``, spread over
        ``n_jobs`` workers (joblib; ``-1`` = one per core; ``prefer``: threads or
        processes), so only a batch of raw audio per worker is in memory at a time.
        For processes ``func`` must be picklable (a module-level function or a
        ``functools.partial`` of one); for threads it must be thread-safe.
        """
        rows = list(zip(self.manifest["audio_path"], self.manifest["utterance_id"]))
        task = partial(
            _read_and_apply,
            func=func,
            source=self.source,
            sample_rate=sample_rate,
            trim_top_db=trim_top_db,
            storage_options=self.storage_options,
        )
        if n_jobs == 1:
            yield from (task(path, utt) for path, utt in rows)
            return
        batches = (rows[i : i + batch_size] for i in range(0, len(rows), batch_size))
        with Parallel(n_jobs=n_jobs, prefer=prefer, return_as="generator") as parallel:
            # one task per batch: a worker reads and processes a whole batch
            for results in parallel(delayed(_apply_to_batch)(task, b) for b in batches):
                yield from results


def read_waveform(  # noqa: PLR0913
    path: str,
    utterance_id: str,
    source: str,
    sample_rate: int,
    trim_top_db: float | None = None,
    storage_options: dict[str, Any] | None = None,
) -> np.ndarray:
    """Read one audio file as mono float32 at ``sample_rate``.

    Multi-channel audio is averaged to mono; another sample rate is resampled; with
    ``trim_top_db``, leading and trailing audio quieter than that many dB below the
    peak is cut. ``path`` may be an fsspec URL (``s3://...``), opened with
    ``storage_options``.

    Raises:
        CorpusError: If the file is unreadable or holds no samples (the message
            names the corpus, the utterance and the file).
    """
    import librosa  # noqa: PLC0415  (heavy; only needed when audio is read)

    try:
        if _is_url(path):
            with fsspec.open(path, "rb", **(storage_options or {})) as handle:
                audio, rate = sf.read(handle, dtype="float32", always_2d=True)
        else:
            audio, rate = sf.read(path, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError) as exc:
        raise CorpusError(
            f"{source}: cannot read audio of utterance {utterance_id!r} at {path}: {exc}"
        ) from exc
    if audio.shape[0] == 0:
        raise CorpusError(
            f"{source}: audio of utterance {utterance_id!r} at {path} is empty"
        )
    if not np.isfinite(audio).all():
        raise CorpusError(
            f"{source}: audio of utterance {utterance_id!r} at {path} holds NaN or "
            "inf samples"
        )
    mono = audio.mean(axis=1)
    if rate != sample_rate:
        mono = librosa.resample(mono, orig_sr=rate, target_sr=sample_rate)
    if trim_top_db is not None:
        trimmed, _ = librosa.effects.trim(mono, top_db=trim_top_db)
        mono = trimmed if len(trimmed) else mono
    return mono.astype(np.float32, copy=False)


def _apply_to_batch(
    task: Callable[[str, str], T], batch: list[tuple[str, str]]
) -> list[T]:
    return [task(path, utt) for path, utt in batch]


def _read_and_apply(
    path: str,
    utterance_id: str,
    *,
    func: Callable[[np.ndarray], T],
    source: str,
    sample_rate: int,
    trim_top_db: float | None,
    storage_options: dict[str, Any] | None = None,
) -> T:
    waveform = read_waveform(
        path, utterance_id, source, sample_rate, trim_top_db, storage_options
    )
    return func(waveform)


def _is_url(path: str) -> bool:
    return "://" in path and not path.startswith("file://")


def _read_table(path: Location) -> pd.DataFrame:
    suffix = PurePosixPath(path.path).suffix.lower()
    with path.open("rb") as handle:
        if suffix == ".parquet":
            return pd.read_parquet(handle)
        sep = "\t" if suffix in {".tsv", ".tab"} else ","
        return pd.read_csv(handle, sep=sep, dtype=str, keep_default_na=False)


def _check_table(
    table: pd.DataFrame, source: str, labelled: bool = True
) -> tuple[pd.DataFrame, bool]:
    """Columns, empty values and duplicate ids; whether the corpus is text-only.

    Without ``labelled`` (new utterances to classify), ``label``, ``speaker`` and
    ``transcript`` may be missing or empty. A corpus with audio may lack the
    ``transcript`` column (speech only; its transcripts are empty).
    """
    if "audio_path" not in table.columns:  # a text-only corpus
        table = table.assign(audio_path="")
        text_only = True
    else:
        text_only = False
    if not labelled:
        table = table.assign(
            **{c: "" for c in ("label", "speaker", "transcript") if c not in table}
        )
    elif not text_only and "transcript" not in table.columns:
        table = table.assign(transcript="")  # a speech-only corpus (e.g. EmoDB)
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise CorpusError(
            f"{source}: missing column(s) {missing}; found {list(table.columns)}"
        )
    table = table.loc[:, list(COLUMNS)].astype(str)
    table = table.apply(lambda col: col.str.strip())
    required = ("utterance_id",) + (("label",) if labelled else ())
    for column in required + (() if text_only else ("audio_path",)):
        empty = table.index[table[column] == ""]
        if len(empty):
            raise CorpusError(
                f"{source}: row {int(empty[0]) + 2} has an empty {column!r}"
            )
    dupes = table["utterance_id"][table["utterance_id"].duplicated()]
    if len(dupes):
        raise CorpusError(
            f"{source}: duplicate utterance id {dupes.iloc[0]!r} "
            f"({len(dupes)} duplicate row(s))"
        )
    return table, text_only


# What the error for a bad audio file suggests, for a corpus in the catalog.
BAD_AUDIO_REMEDY = (
    "set on_bad_audio: skip on the corpus dataset to leave such utterances out"
)


def check_manifest(
    table: pd.DataFrame,
    source: str,
    audio_root: Path | Location,
    on_bad_audio: Literal["error", "skip"] = "error",
    require_sample_rate: int | None = None,
    require_mono: bool = False,
    allow_outside_root: bool = False,
    labelled: bool = True,
    remedy: str = BAD_AUDIO_REMEDY,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Validate a manifest table, resolve its audio paths and check each file's header.

    Missing, unreadable (per its header) and empty audio files, and with
    ``require_sample_rate`` / ``require_mono`` files at another rate or with more
    than one channel, raise, or with ``on_bad_audio="skip"`` are left out and
    returned as skipped rows. Without those requirements, files that will be
    resampled or down-mixed are counted in the log. Audio paths may not leave
    ``audio_root`` unless ``allow_outside_root``. An ``audio_root`` on another
    file system (an fsspec URL) gives audio paths that are URLs.

    Returns:
        The checked table and the skipped rows (``utterance_id, label, reason``).

    A manifest without an ``audio_path`` column is a text-only corpus. With
    ``labelled=False`` (utterances to classify) the ``label``, ``speaker`` and
    ``transcript`` columns are optional. ``remedy`` is what the error for a bad
    audio file tells the caller to do.

    Raises:
        CorpusError: On missing columns, empty or duplicate ids, empty labels,
            audio paths that escape ``audio_root``, or bad audio files (unless
            skipped).
            The message names the manifest and the row or utterance at fault.
    """
    table, text_only = _check_table(table, source, labelled)
    skipped = pd.DataFrame(columns=SKIPPED)
    if text_only:
        return table.reset_index(drop=True), skipped
    root, resolve, probe = _audio_access(audio_root)
    resolved, problems, rates, channels = [], {}, Counter(), Counter()
    for utt, rel in zip(table["utterance_id"], table["audio_path"], strict=True):
        path, inside = resolve(rel)
        if not allow_outside_root and not inside:
            raise CorpusError(
                f"{source}: audio path {rel!r} of utterance {utt!r} escapes the "
                f"corpus root {root} (allow_outside_root: true permits it)"
            )
        resolved.append(path)
        problem, info = probe(path)
        if info is not None:
            rates[info.samplerate] += 1
            channels[info.channels] += 1
            if require_sample_rate and info.samplerate != require_sample_rate:
                problem = (
                    f"has sample rate {info.samplerate} Hz, not the required "
                    f"{require_sample_rate} Hz"
                )
            elif require_mono and info.channels != 1:
                problem = f"has {info.channels} channels, not the required mono"
        if problem is None:
            continue
        if on_bad_audio == "error":
            raise CorpusError(
                f"{source}: audio file {path} of utterance {utt!r} {problem} ({remedy})"
            )
        problems[utt] = problem
    table["audio_path"] = resolved
    if len(rates) > 1 or len(channels) > 1 or set(channels) - {1}:
        logger.info(
            "%s: sample rates %s and channel counts %s (files are resampled to the "
            "configured rate and averaged to mono when read)",
            source,
            dict(rates),
            dict(channels),
        )
    if problems:
        bad = table["utterance_id"].isin(problems)
        skipped = pd.DataFrame(
            {
                "utterance_id": table.loc[bad, "utterance_id"],
                "label": table.loc[bad, "label"],
                "reason": [
                    f"audio {problems[u]}" for u in table.loc[bad, "utterance_id"]
                ],
            }
        ).reset_index(drop=True)
        logger.warning(
            "%s: left out %d utterance(s) with bad audio (listed in "
            "skipped_utterances)",
            source,
            len(skipped),
        )
        table = table.loc[~bad]
    return table.reset_index(drop=True), skipped


def _audio_access(
    audio_root: Path | Location,
) -> tuple[str, Callable[[str], tuple[str, bool]], Callable[[str], tuple]]:
    """The root as text, how to resolve an audio path, and how to check a file.

    The resolver returns the absolute path (or URL) and whether it stays inside
    the root; the check returns :func:`_audio_problem`'s answer.
    """
    if isinstance(audio_root, Location) and not audio_root.local:
        fs, base = audio_root.fs, posixpath.normpath(audio_root.path)
        protocol = audio_root.protocol

        def resolve_remote(rel: str) -> tuple[str, bool]:
            full = posixpath.normpath(f"{base}/{rel}")
            return f"{protocol}://{full}", full.startswith(f"{base}/")

        def probe_remote(url: str) -> tuple:
            path = url.split("://", 1)[1]
            if not fs.isfile(path):
                return "does not exist", None
            with fs.open(path, "rb") as handle:
                return _audio_problem(handle)

        return audio_root.url, resolve_remote, probe_remote
    local = Path(audio_root.path if isinstance(audio_root, Location) else audio_root)
    root = local.resolve()

    def resolve_local(rel: str) -> tuple[str, bool]:
        path = (root / rel).resolve()
        return str(path), path.is_relative_to(root)

    def probe_local(path: str) -> tuple:
        if not Path(path).is_file():
            return "does not exist", None
        return _audio_problem(path)

    return str(root), resolve_local, probe_local


def _audio_problem(file: str | IO[bytes]) -> tuple[str | None, Any]:
    """Why an existing audio file cannot be used (from its header), and the header."""
    try:
        info = sf.info(file)
    except (sf.LibsndfileError, RuntimeError, OSError):
        return "is not readable audio", None
    if info.frames == 0:
        return "is empty", info
    return None, info


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
            table = _read_table(self._filepath)
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
    :func:`emotion_aware_loss.demo_corpus.iter_demo_corpus` when they are
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
        from emotion_aware_loss.demo_corpus import iter_demo_corpus  # noqa: PLC0415

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
