"""Nodes of the model-building pipeline."""

from __future__ import annotations

import logging

import keras

from emotion_aware_loss.config import ModelConfig
from emotion_aware_loss.models.inputs import InputSpec
from emotion_aware_loss.models.network import build_fusion_model

logger = logging.getLogger(__name__)


def build_model(input_spec: InputSpec, model: ModelConfig, seed: int) -> keras.Model:
    """Build the untrained fusion network every fold and variant starts from.

    Args:
        input_spec: Input shapes and classes from preprocessing.
        model: Architecture parameters.
        seed: The run seed (fixes the initial weights).

    Returns:
        The uncompiled model with its initial weights.

    Raises:
        ValueError: If the model needs speech and the corpus has no audio.
    """
    if "speech" in model.modalities and not input_spec.speech:
        raise ValueError(
            "model.modalities includes 'speech' but the corpus has no audio "
            "(a manifest without an audio_path column); set model.modalities: [text]"
        )
    keras.utils.set_random_seed(seed)
    network = build_fusion_model(
        model,
        n_frames=input_spec.n_frames,
        n_features=input_spec.n_features,
        max_tokens=input_spec.max_tokens,
        vocab_size=input_spec.vocab_size,
        n_classes=len(input_spec.classes),
        text_features=input_spec.text_features,
        text_frames=input_spec.text_frames,
    )
    logger.info("Built %s with %d parameters", network.name, network.count_params())
    return network
