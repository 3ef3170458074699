"""Study: the cross-validation over several corpora and seeds, then tests over them."""

from .pipeline import create_pipeline, registered_pipeline

__all__ = ["create_pipeline", "registered_pipeline"]
