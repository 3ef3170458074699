"""Project pipelines."""

from __future__ import annotations

from kedro.pipeline import Pipeline

from emotion_aware_loss.pipelines import (
    baselines,
    evaluation,
    final_model,
    fold_generation,
    from_features,
    inference,
    model_building,
    preprocessing,
    similarity,
    study,
    training,
)


def register_pipelines() -> dict[str, Pipeline]:
    """Register the project's pipelines.

    The stages are listed explicitly rather than found with ``find_pipelines``:
    ``from_features`` is composed from the other stages, and Kedro's selective
    discovery (``--pipelines``) would leave those out.

    Returns:
        A mapping from pipeline names to ``Pipeline`` objects. ``__default__`` runs
        every stage from audio, then trains the ``final_model``; ``from_features``
        replaces ``preprocessing`` by the precomputed-features steps and runs the
        later stages (not ``final_model``: new audio cannot be turned into
        precomputed features). ``inference`` applies the saved final model to new
        utterances and is run on its own. ``study`` runs the cross-validation for
        every corpus and seed of the ``study`` parameters, then tests over them.
    """
    later = {
        "fold_generation": fold_generation.create_pipeline(),
        "model_building": model_building.create_pipeline(),
        "training": training.create_pipeline(),
        "baselines": baselines.create_pipeline(),
        "similarity": similarity.create_pipeline(),
        "evaluation": evaluation.create_pipeline(),
    }
    stages = {"preprocessing": preprocessing.create_pipeline(), **later}
    final = final_model.create_pipeline()
    return {
        **stages,
        "final_model": final,
        "inference": inference.create_pipeline(),
        "__default__": sum(stages.values(), Pipeline([])) + final,
        "from_features": sum(later.values(), from_features.create_pipeline()),
        "study": study.registered_pipeline(),
    }
