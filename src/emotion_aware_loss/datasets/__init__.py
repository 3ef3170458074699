"""Kedro dataset classes of this project."""

from emotion_aware_loss.datasets.audio_corpus import (
    AudioCorpus,
    AudioManifestDataset,
    CorpusError,
    DemoCorpusDataset,
)
from emotion_aware_loss.datasets.numpy_dataset import NumpyDataset
from emotion_aware_loss.datasets.shemo import ShemoDataset

__all__ = [
    "AudioCorpus",
    "AudioManifestDataset",
    "CorpusError",
    "DemoCorpusDataset",
    "NumpyDataset",
    "ShemoDataset",
]
