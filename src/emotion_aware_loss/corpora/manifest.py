"""A corpus's manifest table read and checked before any long work starts.

Columns, empty values, duplicate ids, and every audio file's header (missing,
unreadable, empty, another sample rate or channel count): each error names the
manifest and the row or file at fault, or with ``on_bad_audio="skip"`` the bad rows
are left out and listed.
"""

from __future__ import annotations

import logging
import posixpath
from collections import Counter
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import IO, Any, Literal

import pandas as pd
import soundfile as sf

from emotion_aware_loss.corpora.corpus import COLUMNS, SKIPPED, CorpusError
from emotion_aware_loss.corpora.location import Location

logger = logging.getLogger(__name__)


def read_table(path: Location) -> pd.DataFrame:
    """A manifest table as strings (CSV, TSV by suffix, or Parquet)."""
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
