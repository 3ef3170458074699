"""The ``study`` block (``parameters_study.yml``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from emotion_aware_loss.config._base import _IDENTIFIER, _Strict


class StudyCorpusConfig(_Strict):
    """One corpus of a study: its catalog entry and what its runs change.

    ``parameters`` override the project's parameters (and ``study.parameters``)
    for this corpus only: mappings merge key by key, lists and values replace, and
    a dotted key (``model.modalities``) sets one nested value.
    """

    dataset: str = Field(min_length=1, description="catalog entry of the corpus")
    precomputed: bool = Field(
        False,
        description="true: the entry holds precomputed features "
        "(PrecomputedCorpusDataset), read as the from_features pipeline reads them",
    )
    parameters: dict[str, Any] = Field(default_factory=dict)


class StudyTestsConfig(_Strict):
    """How the study compares the variants over its corpus × seed blocks."""

    reference: str = Field(
        "cross_entropy", description="the loss variant every other is tested against"
    )
    decision: Literal["argmax", "min_expected_cost"] = Field(
        "argmax", description="the decision rule whose scores are ranked"
    )
    metrics: list[Literal["uar", "accuracy", "macro_f1", "mistake_severity"]] = Field(
        default_factory=lambda: ["uar", "accuracy", "mistake_severity"], min_length=1
    )
    alpha: float = Field(0.05, gt=0.0, lt=1.0)


class StudyConfig(_Strict):
    """The ``study`` block: corpora × seeds, each a whole cross-validation run.

    Every run's parameters are the project's parameters, then ``parameters``
    (all runs), then the corpus's own ``parameters``, then ``seed``; ``variants``
    keeps only the named ``loss_variants`` (null: all of them).
    """

    corpora: dict[str, StudyCorpusConfig] = Field(min_length=1)
    seeds: list[int] = Field(min_length=1)
    variants: list[str] | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    tests: StudyTestsConfig = Field(default_factory=StudyTestsConfig)

    @field_validator("corpora")
    @classmethod
    def _names(cls, value: dict) -> dict:
        bad = [n for n in value if not _IDENTIFIER.match(n) or n in cls.model_fields]
        if bad:
            raise ValueError(
                f"corpus names become namespaces: lower-case identifiers other "
                f"than {sorted(cls.model_fields)}, got {bad}"
            )
        return value

    @field_validator("seeds")
    @classmethod
    def _distinct(cls, value: list[int]) -> list[int]:
        if len(set(value)) != len(value) or any(s < 0 for s in value):
            raise ValueError(f"seeds must be distinct and non-negative, got {value}")
        return value
