"""A corpus: one row per utterance (id, speaker, transcript, label, audio file).

:class:`AudioCorpus` holds the checked table and reads the audio lazily, one file at
a time, so nodes never open files themselves and a large corpus never sits in memory
at once. How a table is read and checked is :mod:`.manifest`; the Kedro datasets
that give a corpus to the catalog are in :mod:`emotion_aware_loss.datasets`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal, TypeVar

import fsspec
import numpy as np
import pandas as pd
import soundfile as sf
from joblib import Parallel, delayed
from kedro.io import DatasetError

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
