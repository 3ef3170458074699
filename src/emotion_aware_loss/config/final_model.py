"""The ``final_model`` and ``tracking`` blocks (``parameters_final_model.yml``, ``parameters.yml``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from emotion_aware_loss.config._base import _Strict


class TrackingConfig(_Strict):
    """MLflow tracking through kedro-mlflow (the ``tracking`` extra)."""

    enabled: bool = False
    log_models: bool = True


class FinalModelConfig(_Strict):
    """The model trained on all utterances for use on new ones.

    ``variant`` names one of ``loss_variants``; ``epochs`` is a fixed count or
    ``median_best``, the median over folds of that variant's early-stopping epoch.
    """

    variant: str = Field(
        "emotion_aware", description="the loss variant to train on all data"
    )
    epochs: Literal["median_best"] | int = Field(
        "median_best",
        description="median_best (median best epoch over the folds) or a count",
    )

    @field_validator("epochs")
    @classmethod
    def _positive(cls, value: str | int) -> str | int:
        if isinstance(value, int) and value <= 0:
            raise ValueError(f"epochs must be positive or 'median_best', got {value}")
        return value

    def check_variant(self, variants: dict | tuple | list) -> None:
        """Raise a ``ValueError`` naming the key if ``variant`` is not configured."""
        if self.variant not in variants:
            raise ValueError(
                f"final_model.variant {self.variant!r} is not one of the "
                f"loss_variants {sorted(variants)}; set final_model.variant "
                "(conf/base/parameters_final_model.yml) to a configured variant"
            )
