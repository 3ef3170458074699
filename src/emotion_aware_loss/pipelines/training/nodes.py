"""Nodes of the training pipeline: networks trained as one stack."""

from __future__ import annotations

from typing import Any

from emotion_aware_loss.training.plan import TrainingNode


def train_models(plan: TrainingNode, **inputs: Any) -> dict[str, Any]:
    """Train every (loss variant, fold) of the node's runs at once.

    Each fold's training part is fitted, each utterance's loss multiplied by its
    class's weight (``training.class_weight``); its validation part drives early
    stopping, and the best epoch's weights are restored (with ``training.refit``,
    each network is then trained again on the training and validation parts for
    the epochs early stopping chose). The test part is not touched here. Every
    variant of a fold starts from the same initial weights and sees the same
    batches and dropout masks, so differences between variants are paired.

    Args:
        plan: Which dataset is which input of which run (bound when the pipeline
            is built).
        **inputs: The datasets, by the names ``plan.inputs()`` gives them.

    Returns:
        Each (variant, fold)'s trained model (compiled with its loss) and its
        training history, by the names ``plan.outputs()`` gives them.
    """
    return plan.train(inputs)


def train_model(plan: TrainingNode, **inputs: Any) -> dict[str, Any]:
    """:func:`train_models` for one (variant, fold): ``training.stacked: false``."""
    return plan.train(inputs)
