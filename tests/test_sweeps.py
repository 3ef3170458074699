"""Sweeps: a variant listing values of its hyper-parameter becomes one per value."""

import pytest
import yaml

from emotion_aware_loss.config.layout import layout_from_parameters
from emotion_aware_loss.losses.sweeps import expand_sweeps
from emotion_aware_loss.study.design import StudyConfigLoader

BASE = {
    "loss_variants": {
        "cross_entropy": {"loss": "cross_entropy"},
        "soft": {"loss": "soft_target", "beta": [2, 5.0, 0.5]},
    },
    "model": {"modalities": ["speech"]},
    "evaluation": {"baseline": "cross_entropy", "ensembles": ["soft"]},
    "baselines": {"losses": ["soft"]},
}


def test_a_list_of_values_becomes_one_variant_per_value_everywhere_it_is_named():
    params = expand_sweeps(BASE)
    assert params["loss_variants"] == {
        "cross_entropy": {"loss": "cross_entropy"},
        "soft_beta_2": {"loss": "soft_target", "beta": 2.0},
        "soft_beta_5": {"loss": "soft_target", "beta": 5.0},
        "soft_beta_0p5": {"loss": "soft_target", "beta": 0.5},
    }
    names = ["soft_beta_2", "soft_beta_5", "soft_beta_0p5"]
    assert params["evaluation"]["ensembles"] == names
    assert params["baselines"]["losses"] == names
    assert BASE["loss_variants"]["soft"]["beta"] == [2, 5.0, 0.5]  # not modified
    layout = layout_from_parameters(params)
    assert layout.variants == ("cross_entropy", *names)
    assert layout.scored[-3:] == tuple(f"ensemble_{n}" for n in names)
    # nothing swept: the parameters come back as they are
    plain = {"loss_variants": {"cross_entropy": {"loss": "cross_entropy"}}}
    assert expand_sweeps(plain) is plain


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"soft": {"loss": "soft_target", "beta": []}}, r"soft\.beta: a sweep needs"),
        (
            {"soft": {"loss": "soft_target", "alpha": [1, 2]}},
            r"soft\.alpha: lists values, but a sweep varies the loss's own "
            r"hyper-parameter \('soft_target' has only 'beta'\)",
        ),
        (
            {"soft": {"loss": "seed_weighted", "lam": [1, 2]}},
            r"soft\.lam: .*\('seed_weighted' has none\)",
        ),
        (
            {"sim": {"loss": "sim_loss", "lower_bound": [0.5, 1.0]}},
            r"sim\.lower_bound: must be < 1, got 1",
        ),
        (
            {"soft": {"loss": "soft_target", "beta": [2, -1]}},
            r"soft\.beta: must be >= 0",
        ),
        ({"soft": {"loss": "soft_target", "beta": ["a"]}}, r"soft\.beta: sweep values"),
        ({"soft": {"loss": "soft_target", "beta": [1, 1.0]}}, r"soft\.beta: a value"),
        (
            {"soft_beta_2": {"loss": "soft_target"}},
            r"loss_variants\.soft: the sweep's variant 'soft_beta_2' is already",
        ),
    ],
)
def test_bad_sweeps_are_refused_naming_the_key(change, message):
    params = BASE | {"loss_variants": BASE["loss_variants"] | change}
    with pytest.raises(ValueError, match=message):
        expand_sweeps(params)


def test_a_swept_variant_cannot_be_the_one_variant_a_key_names():
    for block, key in (("evaluation", "baseline"), ("final_model", "variant")):
        params = BASE | {block: {key: "soft"}}
        with pytest.raises(ValueError, match=rf"{block}\.{key} names 'soft', which is"):
            expand_sweeps(params)


def test_the_project_config_loader_expands_sweeps(tmp_path):
    base = tmp_path / "conf" / "base"
    base.mkdir(parents=True)
    (tmp_path / "conf" / "local").mkdir()
    (base / "parameters.yml").write_text(yaml.safe_dump(BASE))
    loader = StudyConfigLoader(str(tmp_path / "conf"), base_env="base")
    assert "soft_beta_0p5" in loader["parameters"]["loss_variants"]
