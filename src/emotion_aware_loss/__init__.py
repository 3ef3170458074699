"""Multimodal emotion recognition trained with an Emotion-Aware Loss."""

__version__ = "0.1.0"
