import numpy as np

from emotion_aware_loss.pipelines.model_building import create_pipeline

from ...conftest import run_pipeline


def _build(preprocessed, model_config, seed):
    return run_pipeline(
        create_pipeline(),
        {
            "input_spec": preprocessed["input_spec"],
            "params:model": model_config,
            "params:seed": seed,
        },
    )["initial_model"]


def test_model_matches_inputs_and_seed(preprocessed, model_config):
    model = _build(preprocessed, model_config, seed=3)
    # the token input is as long as the corpus's longest transcript (at most 12)
    tokens = preprocessed["input_spec"].max_tokens
    assert 1 <= tokens <= 12
    assert model.input_shape == [(None, 120, 16), (None, tokens)]
    assert model.output_shape == (None, 5)
    again = _build(preprocessed, model_config, seed=3)
    other = _build(preprocessed, model_config, seed=4)
    for a, b in zip(model.get_weights(), again.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert not all(
        np.array_equal(a, b)
        for a, b in zip(model.get_weights(), other.get_weights(), strict=True)
    )
