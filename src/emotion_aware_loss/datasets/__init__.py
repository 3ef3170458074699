"""Kedro dataset classes of this project."""

from emotion_aware_loss.corpora.corpus import AudioCorpus, CorpusError
from emotion_aware_loss.datasets.audio_corpus import (
    AudioManifestDataset,
    DemoCorpusDataset,
)
from emotion_aware_loss.datasets.file_names import FileNameCorpusDataset
from emotion_aware_loss.datasets.input_spec import InputSpecDataset
from emotion_aware_loss.datasets.numpy_dataset import NumpyDataset
from emotion_aware_loss.datasets.precomputed import (
    EmbeddingMatrixDataset,
    PrecomputedCorpus,
    PrecomputedCorpusDataset,
)
from emotion_aware_loss.datasets.shemo import ShemoDataset
from emotion_aware_loss.datasets.word_vectors import (
    WordVectors,
    WordVectorsDataset,
    WordVectorsError,
)

__all__ = [
    "AudioCorpus",
    "AudioManifestDataset",
    "CorpusError",
    "DemoCorpusDataset",
    "EmbeddingMatrixDataset",
    "FileNameCorpusDataset",
    "InputSpecDataset",
    "NumpyDataset",
    "PrecomputedCorpus",
    "PrecomputedCorpusDataset",
    "ShemoDataset",
    "WordVectors",
    "WordVectorsDataset",
    "WordVectorsError",
]
