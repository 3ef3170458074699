"""From features: precomputed acoustic features instead of audio."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]

__version__ = "0.1"
