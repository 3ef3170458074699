"""The ``similarity`` block (``parameters_similarity.yml``)."""

from __future__ import annotations

from pydantic import Field

from emotion_aware_loss.config._base import _Strict


class ValenceArousalConfig(_Strict):
    """Per-class (valence, arousal) coordinates and the Gaussian kernel width."""

    bandwidth: float = Field(0.5, gt=0.0)
    coordinates: dict[str, tuple[float, float]]


class SimilarityConfig(_Strict):
    """Derived similarity matrices."""

    derived_from: str = Field(
        "cross_entropy",
        description="variant whose models give the learned and confusion matrices",
    )
    valence_arousal: ValenceArousalConfig
