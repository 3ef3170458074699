import pytest
from pydantic import ValidationError

from emotion_aware_loss.config import (
    CrossValidationConfig,
    TrainingConfig,
    validate_variants,
)
from emotion_aware_loss.layout import layout_from_parameters


def test_layout_from_parameters():
    layout = layout_from_parameters(
        {
            "cross_validation": {"n_folds": 3},
            "loss_variants": {
                "ce": {"loss": "cross_entropy"},
                "ea_2": {"loss": "emotion_aware", "alpha": 2},
            },
        }
    )
    assert layout.folds == ("fold_0", "fold_1", "fold_2")
    assert layout.variants == ("ce", "ea_2")


@pytest.mark.parametrize(
    ("variants", "message"),
    [
        ({}, "at least one variant"),
        ({"Bad-Name": {"loss": "cross_entropy"}}, "lower-case identifiers"),
        ({"x": {"loss": "focal"}}, "loss_variants.x"),
        ({"x": {"loss": "emotion_aware", "alpha": -1}}, "loss_variants.x"),
        ({"x": {"loss": "emotion_aware", "beta": 1}}, "loss_variants.x"),
    ],
    ids=["empty", "name", "unknown-loss", "negative-alpha", "unknown-key"],
)
def test_bad_variants_are_rejected(variants, message):
    with pytest.raises(ValueError, match=message):
        validate_variants(variants)


def test_typed_blocks_reject_bad_values():
    with pytest.raises(ValidationError, match="n_folds"):
        CrossValidationConfig(n_folds=1)
    with pytest.raises(ValidationError, match="epoch"):
        TrainingConfig.model_validate({"epoch": 3})
