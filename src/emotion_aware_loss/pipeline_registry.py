"""Project pipelines."""

from __future__ import annotations

from kedro.pipeline import Pipeline

from emotion_aware_loss.pipelines import (
    evaluation,
    fold_generation,
    from_features,
    model_building,
    preprocessing,
    similarity,
    training,
)


def register_pipelines() -> dict[str, Pipeline]:
    """Register the project's pipelines.

    The stages are listed explicitly rather than found with ``find_pipelines``:
    ``from_features`` is composed from the other stages, and Kedro's selective
    discovery (``--pipelines``) would leave those out.

    Returns:
        A mapping from pipeline names to ``Pipeline`` objects. ``__default__`` runs
        every stage from audio; ``from_features`` replaces ``preprocessing`` by the
        precomputed-features steps and runs the later stages.
    """
    later = {
        "fold_generation": fold_generation.create_pipeline(),
        "model_building": model_building.create_pipeline(),
        "training": training.create_pipeline(),
        "similarity": similarity.create_pipeline(),
        "evaluation": evaluation.create_pipeline(),
    }
    stages = {"preprocessing": preprocessing.create_pipeline(), **later}
    return {
        **stages,
        "__default__": sum(stages.values(), Pipeline([])),
        "from_features": sum(later.values(), from_features.create_pipeline()),
    }
