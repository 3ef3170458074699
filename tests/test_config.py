import pytest
from pydantic import ValidationError

from emotion_aware_loss.config import (
    AcousticConfig,
    BaselinesConfig,
    CrossValidationConfig,
    LossConfig,
    ModelConfig,
    TrainingConfig,
    validate_variants,
)
from emotion_aware_loss.config.layout import layout_from_parameters


def test_layout_from_parameters():
    layout = layout_from_parameters(
        {
            "cross_validation": {"n_folds": 3},
            "evaluation": {"baseline": "ce"},
            "loss_variants": {
                "ce": {"loss": "cross_entropy"},
                "ea_2": {"loss": "emotion_aware", "alpha": 2},
            },
        }
    )
    assert layout.folds == ("fold_0", "fold_1", "fold_2")
    assert layout.variants == ("ce", "ea_2")
    repeated = layout_from_parameters(
        {
            "cross_validation": {"n_folds": 2, "n_repeats": 2},
            "evaluation": {"baseline": "ce"},
            "loss_variants": {"ce": {"loss": "cross_entropy"}},
        }
    )
    assert repeated.folds == ("fold_0", "fold_1", "fold_2", "fold_3")
    with pytest.raises(ValueError, match="evaluation.baseline='cross_entropy'"):
        layout_from_parameters({"loss_variants": {"ce": {"loss": "cross_entropy"}}})


@pytest.mark.parametrize(
    ("variants", "message"),
    [
        ({}, "at least one variant"),
        ({"Bad-Name": {"loss": "cross_entropy"}}, "lower-case identifiers"),
        ({"x": {"loss": "focal"}}, "loss_variants.x"),
        ({"x": {"loss": "emotion_aware", "alpha": -1}}, "loss_variants.x"),
        ({"x": {"loss": "emotion_aware", "gamma": 1}}, "loss_variants.x"),
        (
            {"x": {"loss": "sim_loss", "lower_bound": 1}},
            r"loss_variants\.x[\s\S]*lower_bound: must be < 1, got 1",
        ),
    ],
    ids=["empty", "name", "unknown-loss", "negative-alpha", "unknown-key", "bound-1"],
)
def test_bad_variants_are_rejected(variants, message):
    with pytest.raises(ValueError, match=message):
        validate_variants(variants)


def test_typed_blocks_reject_bad_values():
    with pytest.raises(ValidationError, match="n_folds"):
        CrossValidationConfig(n_folds=1)
    with pytest.raises(ValidationError, match="epoch"):
        TrainingConfig.model_validate({"epoch": 3})
    with pytest.raises(ValidationError, match="dropout"):
        ModelConfig.model_validate({"fusion": {"dropout": 1.0}})
    with pytest.raises(ValidationError, match="dropout"):
        ModelConfig.model_validate({"text": {"dropout": -0.1}})
    with pytest.raises(ValidationError, match="beta"):
        LossConfig(loss="soft_target", beta=-1)
    with pytest.raises(ValidationError, match="lam"):
        LossConfig(loss="expected_cost", lam=-0.5)
    with pytest.raises(ValidationError, match="n_jobs"):
        AcousticConfig(n_jobs=0)
    with pytest.raises(ValidationError, match="workers"):
        AcousticConfig(workers="fibres")
    with pytest.raises(ValidationError, match="epochs"):
        TrainingConfig(epochs="many")


def test_the_convex_fits_threads_follow_the_solver():
    """Null: every core where the fits run compiled (they release Python's
    lock), one with SciPy's; a number is taken as given; a bad value is refused."""
    assert BaselinesConfig().fitting_threads() >= 1
    assert BaselinesConfig().fitting_threads(compiled=False) == 1
    assert BaselinesConfig(threads=2).fitting_threads(compiled=False) == 2
    assert BaselinesConfig(solver="scipy").fitting_threads() == 1
    assert BaselinesConfig(threads=3, solver="scipy").fitting_threads() == 3
    with pytest.raises(ValidationError, match="threads"):
        BaselinesConfig(threads=0)
    with pytest.raises(ValidationError, match="solver"):
        BaselinesConfig(solver="newton")


def test_second_round_needs_a_first_round_variant():
    base = {"cross_validation": {"n_folds": 2}}
    learned = {"loss": "emotion_aware", "similarity": "learned"}
    layout = layout_from_parameters(
        base
        | {"loss_variants": {"cross_entropy": {"loss": "cross_entropy"}, "ea": learned}}
    )
    # Fold k's second round learns from fold k's first-round model only.
    assert (
        layout.similarity_dataset("ea", "fold_1")
        == "cross_entropy.fold_1.class_similarity"
    )
    assert layout.similarity_dataset("cross_entropy", "fold_1") == "similarity_matrix"
    with pytest.raises(ValueError, match="which is not a variant"):
        layout_from_parameters(base | {"loss_variants": {"ea": learned}})
    with pytest.raises(ValueError, match="must train with a hand-set"):
        layout_from_parameters(
            base
            | {"loss_variants": {"ea": learned}, "similarity": {"derived_from": "ea"}}
        )


def test_dynamic_similarity_needs_a_similarity_loss():
    from emotion_aware_loss.config import LossConfig

    with pytest.raises(ValidationError, match="similarity-aware loss"):
        LossConfig(loss="cross_entropy", dynamic=True)
    text = LossConfig(loss="soft_target", beta=2, dynamic=True).describe()
    assert text == "soft_target, beta=2, S=hand_set, dynamic (momentum 0.9)"
