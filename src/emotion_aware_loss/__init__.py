"""Multimodal emotion recognition trained with an Emotion-Aware Loss."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # ``predict`` pulls in TensorFlow; import it only when asked for.
    if name == "predict":
        from emotion_aware_loss.inference.prediction import predict  # noqa: PLC0415

        return predict
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
