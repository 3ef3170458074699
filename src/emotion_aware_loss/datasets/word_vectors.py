"""Pre-trained word vectors from a fastText ``.vec`` or GloVe text file.

Both formats are one word per line followed by its vector, separated by spaces;
``.vec`` files start with a ``<count> <dimension>`` header line. Files of millions
of words are streamed: only the words asked for are kept.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import fsspec
import numpy as np
from kedro.io import AbstractDataset, DatasetError

from emotion_aware_loss.corpora.location import location
from emotion_aware_loss.features.text import RESERVED, normalise_text
from emotion_aware_loss.models.inputs import InputSpec

logger = logging.getLogger(__name__)


class WordVectorsError(DatasetError):
    """A word-vector file is unreadable or malformed."""


@dataclass(frozen=True)
class WordVectors:
    """Lazy access to a word-vector file (``path`` None: no pre-trained vectors).

    Attributes:
        path: The ``.vec`` / GloVe text file (a local path or an fsspec URL).
        lowercase: Normalise the file's words like the transcripts (see
            :func:`emotion_aware_loss.features.text.normalise_text`) before matching.
        storage_options: Credentials and arguments of the file's file system.
    """

    path: str | None
    lowercase: bool = True
    storage_options: dict[str, Any] = field(default_factory=dict)

    @property
    def available(self) -> bool:
        return self.path is not None

    def lookup(self, words: Sequence[str]) -> tuple[int, dict[str, np.ndarray]]:
        """Vectors of ``words`` (the first occurrence of each in the file).

        Returns:
            The file's dimension and a map from each found word to its vector.

        Raises:
            WordVectorsError: If the file is missing, empty, or a line has another
                dimension than the first (the message names the line).
        """
        if self.path is None:
            raise WordVectorsError("no word-vector file configured")
        wanted = set(words)
        found: dict[str, np.ndarray] = {}
        dim = None
        try:
            with fsspec.open(
                self.path,
                "rt",
                encoding="utf-8",
                errors="replace",
                **self.storage_options,
            ) as lines:
                for number, line in enumerate(lines, start=1):
                    parts = line.rstrip().split(" ")
                    if number == 1 and len(parts) == 2 and parts[1].isdigit():
                        continue  # the .vec header
                    if len(parts) < 2:
                        continue
                    if dim is None:
                        dim = len(parts) - 1
                    elif len(parts) - 1 != dim:
                        raise WordVectorsError(
                            f"{self.path}, line {number}: {len(parts) - 1} values, "
                            f"expected {dim}"
                        )
                    word = normalise_text(parts[0], self.lowercase)
                    if word in wanted and word not in found:
                        try:
                            found[word] = np.asarray(parts[1:], dtype=np.float32)
                        except ValueError as exc:
                            raise WordVectorsError(
                                f"{self.path}, line {number}: non-numeric value"
                            ) from exc
        except OSError as exc:
            raise WordVectorsError(
                f"cannot read word vectors {self.path}: {exc}"
            ) from exc
        if dim is None:
            raise WordVectorsError(f"word-vector file {self.path} holds no vectors")
        return dim, found


class WordVectorsDataset(AbstractDataset[Any, WordVectors]):
    """A ``.vec`` / GloVe text file of pre-trained word vectors (read-only).

    Example (``conf/local/catalog.yml``)::

        word_vectors:
          type: emotion_aware_loss.datasets.WordVectorsDataset
          filepath: data/01_raw/cc.fa.300.vec

    With ``filepath: null`` (the default entry) the text branch's embeddings start
    random and are trained. Nothing is downloaded: the file must be on disk.

    Args:
        filepath: The vector file (a local path or an fsspec URL such as
            ``s3://bucket/cc.fa.300.vec``), or None for no pre-trained vectors.
        lowercase: Case-fold the file's words before matching the vocabulary.
        credentials: Passed to the file's fsspec file system.
        fs_args: Extra arguments of that file system.
        metadata: Free-form metadata for plugins.
    """

    def __init__(  # noqa: PLR0913
        self,
        filepath: str | None = None,
        lowercase: bool = True,
        credentials: dict[str, Any] | None = None,
        fs_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self._filepath = location(filepath, credentials, fs_args) if filepath else None
        self._lowercase = lowercase
        self.metadata = metadata

    def load(self) -> WordVectors:
        if self._filepath is None:
            return WordVectors(None, self._lowercase)
        if not self._filepath.is_file():
            raise WordVectorsError(f"word-vector file {self._filepath} does not exist")
        return WordVectors(
            self._filepath.url, self._lowercase, self._filepath.storage_options
        )

    def save(self, data: Any) -> None:
        raise DatasetError(f"{type(self).__name__} is read-only")

    def _exists(self) -> bool:
        return True

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "lowercase": self._lowercase}


def embedding_matrix(
    word_vectors: WordVectors,
    vocabulary: list[str],
    input_spec: InputSpec,
    embedding_dim: int,
    seed: int,
) -> np.ndarray:
    """Initial text embeddings of the fold's vocabulary from pre-trained vectors.

    Row ``i`` belongs to token id ``i`` (0 padding and 1 out-of-vocabulary stay
    zero); a vocabulary word missing from the file gets a random vector with the
    found vectors' scale. Without a vector file the result is empty and the model
    keeps its random, trainable embeddings.

    Raises:
        WordVectorsError: If the file's dimension differs from ``embedding_dim``
            (``model.text.embedding_dim``), or the text input is an encoder's
            embeddings.
    """
    if not word_vectors.available:
        return np.zeros((0, 0), dtype=np.float32)
    if input_spec.embedded_text:
        raise WordVectorsError(
            f"word_vectors ({word_vectors.path}) initialise trainable token "
            "embeddings, but the text input is a text encoder's embeddings "
            "(preprocessing.text.encoder.path); set one of the two to null"
        )
    dim, found = word_vectors.lookup(vocabulary)
    if dim != embedding_dim:
        raise WordVectorsError(
            f"{word_vectors.path} has {dim}-dimensional vectors but "
            f"model.text.embedding_dim is {embedding_dim}; set it to {dim}"
        )
    matrix = np.zeros((input_spec.vocab_size, dim), dtype=np.float32)
    scale = float(np.std(list(found.values()))) if found else 0.1
    rng = np.random.default_rng(seed)
    for i, word in enumerate(vocabulary):
        vector = found.get(word)
        matrix[i + RESERVED] = (
            vector if vector is not None else rng.normal(0.0, scale, dim)
        )
    logger.info(
        "Pre-trained vectors cover %d of %d vocabulary words (%.1f%%)",
        len(found),
        len(vocabulary),
        100.0 * len(found) / max(len(vocabulary), 1),
    )
    return matrix
