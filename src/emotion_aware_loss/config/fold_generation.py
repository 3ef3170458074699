"""The ``cross_validation`` block (``parameters_fold_generation.yml``)."""

from __future__ import annotations

from pydantic import Field

from emotion_aware_loss.config._base import _Strict


class CrossValidationConfig(_Strict):
    """Fold assignment. ``n_folds × n_repeats`` fixes how many fold pipelines exist.

    With ``n_repeats > 1`` the k-fold split is repeated with a different shuffle
    each time (repeated cross-validation); fold ``r * n_folds + k`` is fold ``k`` of
    repeat ``r``.
    """

    n_folds: int = Field(5, ge=2)
    n_repeats: int = Field(1, ge=1)
    speaker_independent: bool = False
    validation_fraction: float = Field(0.15, gt=0.0, lt=0.5)
