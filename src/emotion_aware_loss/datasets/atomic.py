"""Atomic-save versions of the kedro-datasets classes the catalog uses.

On a local file system each class writes its file as ``<name>.partial`` next to the
target and renames it into place, so a run killed mid-save never leaves a truncated
report, table or figure that a later ``catalog.load`` (or ``kedro run
--only-missing-outputs``) would accept as finished. On an object store (``s3://``,
``gs://``, ``abfs://``, ...) an upload already becomes visible only once complete,
and a "rename" would be a second copy, so the parent class writes the target
directly. Loading, versioning and arguments are those of the parent class.
"""

from __future__ import annotations

import html
import re
from pathlib import PurePosixPath
from typing import Any

from kedro.io.core import get_filepath_str
from kedro_datasets._typing import HTMLPreview
from kedro_datasets.json import JSONDataset as _JSONDataset
from kedro_datasets.matplotlib import MatplotlibDataset as _MatplotlibDataset
from kedro_datasets.pandas import CSVDataset as _CSVDataset
from kedro_datasets.pandas import ParquetDataset as _ParquetDataset
from kedro_datasets.text import TextDataset as _TextDataset


class _AtomicSave:
    """Mixin: run the parent's save against a ``.partial`` path, then rename."""

    _parent: type

    def save(self, data: Any) -> None:
        if self._protocol != "file":  # an object store: one upload is atomic
            parent_save = getattr(self._parent.save, "__wrapped__", self._parent.save)
            parent_save(self, data)
            return
        target = self._get_save_path()
        partial = PurePosixPath(f"{target}.partial")
        parent_save = getattr(self._parent.save, "__wrapped__", self._parent.save)
        self._get_save_path = lambda: partial  # the parent writes here
        try:
            parent_save(self, data)
        finally:
            del self._get_save_path
        self._fs.mv(
            get_filepath_str(partial, self._protocol),
            get_filepath_str(target, self._protocol),
        )
        self._invalidate_cache()


class CSVDataset(_AtomicSave, _CSVDataset):
    """``pandas.CSVDataset`` with atomic saves."""

    _parent = _CSVDataset


class ParquetDataset(_AtomicSave, _ParquetDataset):
    """``pandas.ParquetDataset`` with atomic saves."""

    _parent = _ParquetDataset


class JSONDataset(_AtomicSave, _JSONDataset):
    """``json.JSONDataset`` with atomic saves."""

    _parent = _JSONDataset


class TextDataset(_AtomicSave, _TextDataset):
    """``text.TextDataset`` with atomic saves."""

    _parent = _TextDataset


class MatplotlibDataset(_AtomicSave, _MatplotlibDataset):
    """``matplotlib.MatplotlibDataset`` with atomic saves (single figures)."""

    _parent = _MatplotlibDataset


class ReportDataset(TextDataset):
    """A Markdown report whose ``{figure:<name>}`` links point at the run's figures.

    The report's nodes cannot know the save version Kedro gives a run, so they
    write each figure link as ``{figure:<file name>}``. On save, a versioned
    report (``data/08_reporting/report.md/<version>/report.md``) links to
    ``../../<name>/<version>/<name>`` — the figure saved by the same run, when the
    figure datasets are versioned in the same folder — and an unversioned one to
    ``<name>`` beside it.
    """

    _PLACEHOLDER = re.compile(r"\{figure:([^{}]+)\}")

    def save(self, data: str) -> None:
        target = PurePosixPath(self._get_save_path())
        if self._version is not None:
            version = target.parent.name

            def link(name: str) -> str:
                return f"../../{name}/{version}/{name}"

        else:

            def link(name: str) -> str:
                return name

        resolved = self._PLACEHOLDER.sub(lambda m: link(m.group(1)), data)
        # The unwrapped atomic save: the version resolved above must not change.
        TextDataset.save.__wrapped__(self, resolved)

    def preview(self) -> HTMLPreview:
        """The report as preformatted text, for Kedro-Viz."""
        text = self.load.__wrapped__(self)
        return HTMLPreview(f"<pre>{html.escape(text)}</pre>")
