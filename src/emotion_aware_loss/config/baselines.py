"""The ``baselines`` block (``parameters_baselines.yml``): the linear references."""

from __future__ import annotations

import os
from typing import Any, Literal

from pydantic import Field, field_validator

from emotion_aware_loss.config._base import _Strict


class TfidfConfig(_Strict):
    """One block of TF-IDF features of the transcripts (word or character n-grams)."""

    analyzer: Literal["char_wb", "char", "word"] = Field(
        "char_wb", description="character n-grams inside word boundaries, or words"
    )
    ngram_range: tuple[int, int] = (2, 5)
    min_df: int = Field(
        2, ge=1, description="n-grams in fewer training texts are dropped"
    )
    max_features: int | None = Field(100_000, gt=0)
    sublinear_tf: bool = True

    @field_validator("ngram_range")
    @classmethod
    def _ordered(cls, value: tuple[int, int]) -> tuple[int, int]:
        if not 1 <= value[0] <= value[1]:
            raise ValueError(
                f"ngram_range must be [low, high] with 1 <= low <= high, got {value}"
            )
        return value

    def describe(self) -> str:
        """``word 1–2-grams``, ``char_wb 2–5-grams``."""
        return f"{self.analyzer} {self.ngram_range[0]}–{self.ngram_range[1]}-grams"


def _default_tfidf_blocks() -> list[TfidfConfig]:
    return [
        TfidfConfig(analyzer="word", ngram_range=(1, 2)),
        TfidfConfig(analyzer="char_wb", ngram_range=(2, 5)),
    ]


class BaselinesConfig(_Strict):
    """Class-balanced logistic regressions scored on the same folds as the network.

    ``linear_speech`` (acoustic statistics), ``linear_text`` (TF-IDF: the blocks of
    ``text`` side by side, word and character n-grams by default) and their late
    fusion ``linear_fusion``, for the modalities the model uses. ``C`` is chosen
    from ``c_grid`` by UAR: over ``inner_folds`` folds of each outer fold's
    training and validation parts (``cross_validation``, the default: one
    validation speaker is too few to choose by), or on its validation part alone.
    """

    enabled: bool = True
    c_grid: list[float] = Field(
        default_factory=lambda: [0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0],
        min_length=1,
    )
    selection: Literal["cross_validation", "validation"] = Field(
        "cross_validation",
        description="how C is chosen: by UAR over inner folds of the training and "
        "validation parts (grouped by speaker when the folds are), then refitted on "
        "both; or by UAR on the validation part alone",
    )
    inner_folds: int = Field(3, ge=2, description="folds of the cross_validation")
    max_iter: int = Field(2000, gt=0)
    losses: list[str] = Field(
        default_factory=list,
        description="loss variants whose loss, similarity matrix and hyper-parameters "
        "also fit the linear models (a softmax regression fitted like scikit-learn's "
        "logistic regression, C chosen the same way): one more row, "
        "convex_<variant>, per variant named",
    )
    solver: Literal["compiled", "scipy"] = Field(
        "compiled",
        description="the convex fits' L-BFGS: compiled (Numba, several times "
        "faster, free of Python's lock) or scipy (SciPy's L-BFGS-B, which the "
        "figures of RESULTS sections 23-25 were measured with)",
    )
    threads: int | None = Field(
        None,
        ge=1,
        description="threads the convex fits of `losses` run on (the inner "
        "folds' grids and the modalities side by side); null: the cores this "
        "process may use where the fits run compiled (dense or sparse inputs), "
        "else one: SciPy's path (solver scipy, or a loss registered without a "
        "declared term) holds Python's lock and is no faster on two",
    )
    text: list[TfidfConfig] = Field(default_factory=_default_tfidf_blocks, min_length=1)

    @field_validator("text", mode="before")
    @classmethod
    def _one_block(cls, value: Any) -> Any:
        # A single block (the format before word and character n-grams were
        # combined) is a list of one.
        return [value] if isinstance(value, dict) else value

    def fitting_threads(self, compiled: bool = True) -> int:
        """``threads``; where it is null, the cores this process may use for fits
        that run ``compiled`` (``SoftmaxRegression.runs_compiled``), else one."""
        if self.threads is not None:
            return self.threads
        if self.solver == "scipy" or not compiled:
            return 1
        if hasattr(os, "sched_getaffinity"):
            return len(os.sched_getaffinity(0))
        return os.cpu_count() or 1

    @field_validator("c_grid")
    @classmethod
    def _positive(cls, value: list[float]) -> list[float]:
        if any(c <= 0 for c in value):
            raise ValueError(f"c_grid values must be positive, got {value}")
        return value
