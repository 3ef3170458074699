"""How many fold pipelines exist, and which models: loss variants, linear baselines.

``find_pipelines`` passes no arguments to ``create_pipeline``, yet the number of
folds and the list of loss variants decide the pipelines' structure. This module is
the one place that reads both. During ``kedro run`` the project hook
(:mod:`emotion_aware_loss.run.hooks`) hands it the run's own parameters (so ``--env`` and
``--params`` are honoured) before any pipeline is built; elsewhere (``kedro registry
list``, ``kedro viz``) it reads ``conf/base`` overridden by ``conf/local`` or by the
environment named in ``KEDRO_ENV``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from kedro.config import OmegaConfigLoader
from kedro.pipeline import Pipeline
from kedro.utils import find_kedro_project

from emotion_aware_loss.config import (
    BaselinesConfig,
    CrossValidationConfig,
    EvaluationConfig,
    FinalModelConfig,
    TrainingConfig,
    validate_variants,
)
from emotion_aware_loss.losses.similarity import SIMILARITY_SOURCES
from emotion_aware_loss.losses.sweeps import expand_sweeps

# The scikit-learn baselines of a run (``baselines`` pipeline).
SPEECH, TEXT, FUSION = "linear_speech", "linear_text", "linear_fusion"


def baseline_names(modalities: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """The linear references of a model with ``modalities``.

    Returns:
        ``linear_speech`` and/or ``linear_text``, plus ``linear_fusion`` when both
        modalities are used, in that order.
    """
    names = []
    if "speech" in modalities:
        names.append(SPEECH)
    if "text" in modalities:
        names.append(TEXT)
    if len(names) == 2:
        names.append(FUSION)
    return tuple(names)


def reference_baseline(modalities: list[str] | tuple[str, ...]) -> str:
    """The linear reference the network is compared with (same modalities)."""
    return baseline_names(modalities)[-1]


CONVEX_PREFIX = "convex_"
"""The rows of the linear models fitted with a variant's loss (not scikit-learn's:
``linear_*`` names only the scikit-learn baselines)."""


LINEAR_MODEL_PREFIXES = ("linear_", CONVEX_PREFIX)
"""The rows of linear models, scikit-learn's baselines and the convex fits (not
networks or ensembles)."""


def convex_name(variant: str) -> str:
    """The linear model fitted with loss variant ``variant``'s loss by the convex
    fit (``baselines.losses``): ``convex_<variant>``."""
    return f"{CONVEX_PREFIX}{variant}"


# Views of similarity.SIMILARITY_SOURCES: each source's per-fold dataset, the
# sources derived from the first round's models, and each source's one matrix (the
# final model trains on all utterances, so it takes the summary over folds).
SIMILARITY_DATASETS = {k: s.fold_dataset for k, s in SIMILARITY_SOURCES.items()}
DERIVED_FROM_MODELS = {k for k, s in SIMILARITY_SOURCES.items() if s.from_models}
FINAL_SIMILARITY_DATASETS = {
    k: s.summary_dataset for k, s in SIMILARITY_SOURCES.items()
}


@dataclass(frozen=True)
class Layout:
    """The pipelines' structure: folds, variants and where each gets its matrix."""

    n_folds: int
    variants: tuple[str, ...]
    similarity_sources: tuple[str, ...] = ()  # one per variant; hand_set if empty
    derived_from: str = "cross_entropy"
    n_repeats: int = 1
    final_variant: str = "emotion_aware"  # final_model.variant (checked at run start)
    baselines: tuple[str, ...] = ()  # linear references scored on the same folds
    stacked: bool = True  # training.stacked: one node per round, or per (variant, fold)
    linear_losses: tuple[str, ...] = ()  # variants whose loss fits a linear model too
    ensembles: tuple[str, ...] = ()  # variants averaged with a linear model

    @property
    def linear_family(self) -> tuple[str, ...]:
        """The linear models of :attr:`linear_losses`: ``convex_<variant>``."""
        return tuple(convex_name(v) for v in self.linear_losses)

    @property
    def ensemble_names(self) -> tuple[str, ...]:
        """The rows of :attr:`ensembles`: ``ensemble_<variant>``."""
        return tuple(ensemble_name(v) for v in self.ensembles)

    def ensemble_linear(self, variant: str) -> str:
        """The linear model averaged with ``variant``'s network: the one fitted with
        its loss (``baselines.losses``), else the reference baseline."""
        if variant in self.linear_losses:
            return convex_name(variant)
        return self.baselines[-1]

    @property
    def scored(self) -> tuple[str, ...]:
        """Everything evaluated per fold: the loss variants, the baselines, the
        linear models fitted with a variant's loss, then the ensembles."""
        return self.variants + self.baselines + self.linear_family + self.ensemble_names

    @property
    def folds(self) -> tuple[str, ...]:
        """All folds of all repeats: ``fold_<r * n_folds + k>``."""
        return tuple(f"fold_{k}" for k in range(self.n_folds * self.n_repeats))

    def similarity_dataset(self, variant: str, fold: str) -> str:
        """The dataset holding the matrix ``variant`` trains with in ``fold``."""
        sources = dict(zip(self.variants, self.similarity_sources, strict=False))
        return SIMILARITY_DATASETS[sources.get(variant, "hand_set")].format(
            source=self.derived_from, fold=fold
        )

    def final_similarity_dataset(self) -> str:
        """The dataset holding the matrix the final model's variant trains with."""
        sources = dict(zip(self.variants, self.similarity_sources, strict=False))
        return FINAL_SIMILARITY_DATASETS[sources.get(self.final_variant, "hand_set")]


def _linear_losses(
    config: BaselinesConfig, variants: dict[str, Any], names: tuple[str, ...]
) -> tuple[str, ...]:
    """``baselines.losses``, checked against the variants and the names in use."""
    for variant in config.losses:
        if variant not in variants:
            raise ValueError(
                f"baselines.losses names {variant!r}, which is not one of the "
                f"loss_variants {list(variants)}"
            )
        if variants[variant].similarity in DERIVED_FROM_MODELS:
            raise ValueError(
                f"baselines.losses: {variant!r} uses a similarity learned from the "
                "networks; the linear models are fitted before them (use a variant "
                "with a hand_set or valence_arousal similarity)"
            )
        clash = convex_name(variant)
        if clash in variants or clash in names:
            raise ValueError(
                f"baselines.losses: {variant!r}'s linear model would be named "
                f"{clash!r}, which is already taken"
            )
    return tuple(dict.fromkeys(config.losses))


def ensemble_name(variant: str) -> str:
    """The row of ``variant``'s network averaged with a linear model."""
    return f"ensemble_{variant}"


def _ensembles(
    names: list[str] | str, variants: dict[str, Any], taken: tuple[str, ...]
) -> tuple[str, ...]:
    """``evaluation.ensembles`` (``all``: every variant, none when the baselines are
    off), checked against the variants and the names in use."""
    if names == "all":
        names = list(variants) if taken else []
    if names and not taken:
        raise ValueError(
            "evaluation.ensembles averages networks with the linear baselines: set "
            "baselines.enabled: true or leave evaluation.ensembles empty"
        )
    for variant in names:
        if variant not in variants:
            raise ValueError(
                f"evaluation.ensembles names {variant!r}, which is not one of the "
                f"loss_variants {list(variants)}"
            )
        if ensemble_name(variant) in variants or ensemble_name(variant) in taken:
            raise ValueError(
                f"evaluation.ensembles: {variant!r}'s ensemble would be named "
                f"{ensemble_name(variant)!r}, which is already taken"
            )
    return tuple(dict.fromkeys(names))


def _project_root() -> Path:
    root = find_kedro_project(Path.cwd())
    if root is None:  # e.g. an editable install used from another folder
        root = find_kedro_project(Path(__file__).resolve().parent)
    if root is None:
        raise RuntimeError(
            "cannot find the Kedro project (a pyproject.toml with [tool.kedro]) "
            f"from {Path.cwd()}"
        )
    return root


_run_layout: Layout | None = None
_run_parameters: dict[str, Any] | None = None


def layout_from_parameters(params: dict[str, Any]) -> Layout:
    """The layout a parameters dictionary describes (validated).

    Raises:
        ValueError: If a variant trains with a similarity derived from models while
            ``similarity.derived_from`` names no variant or a variant that itself
            needs a derived similarity (the second round needs a first).
    """
    cv = CrossValidationConfig.model_validate(params.get("cross_validation", {}))
    variants = validate_variants(params.get("loss_variants", {}))
    derived_from = (params.get("similarity") or {}).get("derived_from", "cross_entropy")
    needs_models = [
        n for n, v in variants.items() if v.similarity in DERIVED_FROM_MODELS
    ]
    if needs_models:
        if derived_from not in variants:
            raise ValueError(
                f"loss_variants {needs_models} use a similarity learned from the models "
                f"of similarity.derived_from={derived_from!r}, which is not a variant"
            )
        if variants[derived_from].similarity in DERIVED_FROM_MODELS:
            raise ValueError(
                f"similarity.derived_from={derived_from!r} must train with a hand-set "
                f"or valence_arousal similarity, not "
                f"{variants[derived_from].similarity!r}"
            )
    baseline = (params.get("evaluation") or {}).get("baseline", "cross_entropy")
    if baseline not in variants:
        raise ValueError(
            f"evaluation.baseline={baseline!r} is not one of the loss_variants "
            f"{list(variants)}"
        )
    final = FinalModelConfig.model_validate(params.get("final_model") or {})
    training = TrainingConfig.model_validate(params.get("training") or {})
    if "classes" in params:
        training.check_classes(list(params["classes"]))
    baselines, linear_losses = (), ()
    baselines_config = BaselinesConfig.model_validate(params.get("baselines") or {})
    if baselines_config.enabled:
        modalities = (params.get("model") or {}).get("modalities", ["speech", "text"])
        baselines = baseline_names(modalities)
        clash = sorted(set(baselines) & set(variants))
        if clash:
            raise ValueError(
                f"loss_variants {clash} are named like the linear baselines; rename "
                "them or set baselines.enabled: false"
            )
        linear_losses = _linear_losses(baselines_config, variants, baselines)
    evaluation = EvaluationConfig.model_validate(params.get("evaluation") or {})
    ensembles = _ensembles(
        evaluation.ensembles,
        variants,
        baselines + tuple(convex_name(v) for v in linear_losses),
    )
    return Layout(
        cv.n_folds,
        tuple(variants),
        tuple(v.similarity for v in variants.values()),
        derived_from,
        cv.n_repeats,
        final.variant,
        baselines,
        training.stacked,
        linear_losses,
        ensembles,
    )


def use_run_parameters(params: dict[str, Any]) -> Layout:
    """Make the layout of the current run's parameters the one pipelines use."""
    global _run_layout, _run_parameters  # noqa: PLW0603  (one run per process)
    _run_layout = layout_from_parameters(params)
    _run_parameters = params
    return _run_layout


def load_layout() -> Layout:
    """The current run's layout, or the one in the project's ``conf/`` files."""
    return _run_layout or _layout_from_files(_project_root())


def load_parameters() -> dict[str, Any]:
    """The current run's parameters, or those in the project's ``conf/`` files."""
    return _run_parameters or _parameters_from_files(_project_root())


@cache
def _parameters_from_files(root: Path) -> dict[str, Any]:
    loader = OmegaConfigLoader(
        conf_source=str(root / "conf"),
        base_env="base",
        default_run_env=os.environ.get("KEDRO_ENV", "local"),
    )
    return expand_sweeps(loader["parameters"])


@cache
def _layout_from_files(root: Path) -> Layout:
    return layout_from_parameters(_parameters_from_files(root))


def per_variant_and_fold(
    template: Pipeline,
    layout: Layout,
    shared_inputs: set[str],
    parameters: dict[str, str] | None = None,
    similarity_input: str | None = None,
) -> Pipeline:
    """Instantiate ``template`` once per loss variant and fold.

    Each copy lives in the namespace ``<variant>.fold_<k>``. ``shared_inputs`` keep
    their names; the per-fold inputs ``split``, ``feature_scaler``, ``vocabulary``
    and ``embedding_matrix`` come from the fold's own namespace ``fold_<k>``.

    Args:
        template: The steps of one variant and fold.
        layout: Which variants and folds exist.
        shared_inputs: Datasets every copy reads unchanged.
        parameters: Parameter mapping; ``{variant}`` in a target is replaced by the
            variant's name (e.g. ``"params:loss_variants.{variant}"``).
        similarity_input: A template input to map to the similarity dataset the
            variant trains with (see ``Layout.similarity_dataset``).

    Returns:
        The sum of all copies.
    """
    fold_inputs = {
        "split",
        "feature_scaler",
        "vocabulary",
        "embedding_matrix",
    } & template.inputs()
    copies = [
        Pipeline(
            template,
            namespace=f"{variant}.{fold}",
            inputs={name: name for name in shared_inputs}
            | {name: f"{fold}.{name}" for name in fold_inputs}
            | (
                {similarity_input: layout.similarity_dataset(variant, fold)}
                if similarity_input
                else {}
            ),
            parameters={
                key: value.format(variant=variant)
                for key, value in (parameters or {}).items()
            },
        )
        for variant in layout.variants
        for fold in layout.folds
    ]
    return sum(copies, Pipeline([]))
