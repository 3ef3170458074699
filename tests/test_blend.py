"""A network averaged with a linear model: the weight chosen on held-out rows."""

import numpy as np
import pytest
from scipy.special import softmax

from emotion_aware_loss.config.layout import layout_from_parameters
from emotion_aware_loss.models.blend import WEIGHTS, blend, choose_weight


def _held_out(seed=0, n=600):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, n)
    truth = np.eye(4)[labels]
    good = softmax(rng.normal(size=(n, 4)) + 2.0 * truth, axis=1)
    noise = softmax(rng.normal(size=(n, 4)), axis=1)  # knows nothing
    return good, noise, labels


def test_the_weight_follows_the_member_that_knows():
    good, noise, labels = _held_out()
    assert choose_weight(good, noise, labels) == 1.0
    assert choose_weight(noise, good, labels) == 0.0
    # two members as good as each other, with independent errors: a mix wins
    rng = np.random.default_rng(2)
    truth = 2.0 * np.eye(4)[labels]
    first = softmax(rng.normal(size=good.shape) + truth, axis=1)
    second = softmax(rng.normal(size=good.shape) + truth, axis=1)
    assert 0.2 <= choose_weight(first, second, labels) <= 0.8
    # identical members: every weight ties, the even mix stays
    assert choose_weight(good, good.copy(), labels) == 0.5


def test_blend_is_the_weighted_mean_and_the_grid_spans_both_members():
    good, noise, labels = _held_out()
    np.testing.assert_allclose(blend(good, noise, 0.3), 0.3 * good + 0.7 * noise)
    assert WEIGHTS[0] == 0.0 and WEIGHTS[-1] == 1.0 and len(WEIGHTS) == 11
    assert choose_weight(good[:0], noise[:0], labels[:0]) == 0.5
    with pytest.raises(ValueError, match="do not match"):
        choose_weight(good, noise[:5], labels)


PARAMS = {
    "loss_variants": {
        "cross_entropy": {"loss": "cross_entropy"},
        "soft": {"loss": "soft_target"},
    },
    "model": {"modalities": ["speech"]},
}


def test_ensembles_are_rows_named_after_their_variant_and_bad_entries_are_named():
    chosen = layout_from_parameters(PARAMS | {"evaluation": {"ensembles": ["soft"]}})
    assert chosen.scored[-1] == "ensemble_soft"
    assert chosen.ensemble_linear("soft") == "linear_speech"
    every = layout_from_parameters(PARAMS | {"evaluation": {"ensembles": "all"}})
    assert every.ensemble_names == ("ensemble_cross_entropy", "ensemble_soft")
    alone = {"evaluation": {"ensembles": "all"}, "baselines": {"enabled": False}}
    assert layout_from_parameters(PARAMS | alone).ensembles == ()  # nothing to mix
    own = layout_from_parameters(
        PARAMS
        | {"evaluation": {"ensembles": ["soft"]}, "baselines": {"losses": ["soft"]}}
    )
    assert own.ensemble_linear("soft") == "convex_soft"  # the variant's own loss
    for params, message in (
        ({"evaluation": {"ensembles": ["nope"]}}, "names 'nope', which is not one"),
        (
            {"evaluation": {"ensembles": ["soft"]}, "baselines": {"enabled": False}},
            "set baselines.enabled: true",
        ),
    ):
        with pytest.raises(ValueError, match=message):
            layout_from_parameters(PARAMS | params)
    clash = PARAMS | {"evaluation": {"ensembles": ["cross_entropy"]}}
    clash["loss_variants"] = clash["loss_variants"] | {
        "ensemble_cross_entropy": {"loss": "cross_entropy"}
    }
    with pytest.raises(ValueError, match="'ensemble_cross_entropy', which is already"):
        layout_from_parameters(clash)


def test_an_ensemble_weight_is_a_share_or_chosen_on_validation():
    from emotion_aware_loss.config import EvaluationConfig

    assert EvaluationConfig().ensemble_weight == 0.2
    assert (
        EvaluationConfig(ensemble_weight="validation").ensemble_weight == "validation"
    )
    for bad in (1.5, -0.1, "best"):
        with pytest.raises(ValueError, match="ensemble_weight"):
            EvaluationConfig(ensemble_weight=bad)
