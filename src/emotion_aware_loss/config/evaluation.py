"""The ``evaluation`` block (``parameters_evaluation.yml``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from emotion_aware_loss.config._base import _Strict


class BootstrapConfig(_Strict):
    """Utterance-level bootstrap of the pooled out-of-fold predictions."""

    n_resamples: int = Field(2000, ge=100)
    confidence: float = Field(0.95, gt=0.5, lt=1.0)


SCALAR_METRICS = (
    "accuracy",
    "uar",
    "macro_f1",
    "weighted_f1",
    "cross_entropy",
    "mistake_severity",
    "semantic_cost",
    "ece",
)


class EvaluationConfig(_Strict):
    """Report, significance tests and figures."""

    decimals: int = Field(4, ge=0, le=8)
    baseline: str = Field("cross_entropy", description="variant the others face")
    alpha: float = Field(0.05, gt=0.0, lt=1.0, description="significance level")
    significance_test: Literal[
        "wilcoxon", "t_test", "corrected_t_test", "bootstrap"
    ] = "corrected_t_test"
    adjust: Literal["holm", "none"] = "holm"
    report_metrics: list[str] = Field(
        default_factory=lambda: ["accuracy", "uar", "mistake_severity", "semantic_cost"]
    )
    bootstrap: BootstrapConfig = Field(default_factory=BootstrapConfig)
    ece_bins: int = Field(
        15,
        ge=2,
        description="confidence bins of the ECE: in the tables and the reliability "
        "figure alike",
    )
    ensembles: list[str] | Literal["all"] = Field(
        default_factory=list,
        description="loss variants whose network is also averaged with a linear "
        "model (its own loss's, convex_<variant>, when baselines.losses fits one; "
        "else the reference baseline) at the network's weight ensemble_weight: a "
        "row ensemble_<variant> each; all: every variant",
    )
    ensemble_weight: float | Literal["validation"] = Field(
        0.2,
        description="the network's weight in an ensemble (the linear model's is 1 "
        "minus it), or validation: chosen per fold on the validation part by "
        "log-likelihood",
    )
    calibration: Literal["temperature", "none"] = Field(
        "temperature",
        description="temperature: every model's probabilities divided (in log space) "
        "by a temperature fitted on held-out predictions before they are scored, "
        "decided on and averaged | none: scored as the model gives them",
    )
    calibration_objective: Literal["log_likelihood", "confidence"] = Field(
        "log_likelihood",
        description="how the temperature is fitted: log_likelihood (Guo et al.) | "
        "confidence (mean top-class probability = accuracy on the held-out rows)",
    )
    temperature_prior: float | None = Field(
        0.4,
        gt=0.0,
        description="standard deviation of log T under a normal prior centred on "
        "T = 1: a log-likelihood temperature is the maximum a posteriori, drawn "
        "toward 1 when fitted on a few dozen rows | null: the maximum likelihood",
    )
    pair_cost_confidence: float = Field(0.7, gt=0.2, lt=1.0)
    rule_shift_warning: float = Field(
        0.15,
        gt=0.0,
        le=1.0,
        description="the report flags a variant whose decision rules' predicted "
        "class distributions differ by at least this total-variation distance",
    )

    @field_validator("ensemble_weight")
    @classmethod
    def _a_weight(cls, value: float | str) -> float | str:
        if value != "validation" and not 0.0 <= float(value) <= 1.0:
            raise ValueError(
                f"evaluation.ensemble_weight must lie in [0, 1] or be 'validation', "
                f"got {value}"
            )
        return value

    @model_validator(mode="before")
    @classmethod
    def _renamed_keys(cls, data: Any) -> Any:
        if isinstance(data, dict) and "reliability_bins" in data:
            raise ValueError(
                "evaluation.reliability_bins is now evaluation.ece_bins (one bin "
                "count for the tables' ECE and the reliability figure)"
            )
        return data

    @field_validator("report_metrics")
    @classmethod
    def _known_metrics(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(SCALAR_METRICS))
        if unknown:
            raise ValueError(
                f"unknown metric(s) {unknown}; expected some of {list(SCALAR_METRICS)}"
            )
        return value
