"""Temperature scaling: the fit finds the temperature that generated the data."""

import numpy as np
import pytest
from scipy.special import softmax

from emotion_aware_loss.config import EvaluationConfig
from emotion_aware_loss.losses.metrics import expected_calibration_error
from emotion_aware_loss.models.calibration import (
    BOUNDS,
    TemperatureFit,
    apply_temperature,
    fit_temperature,
)


def _calibrated_sample(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Logits and labels drawn from softmax(logits): calibrated by construction."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(scale=2.0, size=(n, 5))
    probabilities = softmax(logits, axis=1)
    labels = np.array([rng.choice(5, p=p) for p in probabilities])
    return logits, labels


@pytest.mark.parametrize("objective", ["log_likelihood", "confidence"])
@pytest.mark.parametrize("true_temperature", [0.5, 1.0, 3.0])
def test_the_fit_recovers_the_temperature_that_distorted_calibrated_probabilities(
    true_temperature, objective
):
    logits, labels = _calibrated_sample(4000, seed=0)
    # a model true_temperature times too confident (or too timid, below 1)
    given = softmax(logits * true_temperature, axis=1)
    fitted = fit_temperature(given, labels, objective)
    assert fitted == pytest.approx(true_temperature, rel=0.1)
    if objective == "confidence":  # its defining equation holds
        top = apply_temperature(given, fitted).max(axis=1).mean()
        assert top == pytest.approx((given.argmax(1) == labels).mean(), abs=1e-6)
    calibrated = apply_temperature(given, fitted)
    np.testing.assert_allclose(calibrated, softmax(logits, axis=1), atol=0.05)
    if true_temperature != 1.0:
        assert expected_calibration_error(labels, calibrated) < (
            expected_calibration_error(labels, given)
        )


def _penalised(given: np.ndarray, labels: np.ndarray, t: float, prior: float) -> float:
    """Summed negative log-likelihood at ``T = t`` plus the normal prior's
    penalty on ``log T``, written out independently of the module."""
    scaled = softmax(np.log(given) / t, axis=1)
    nll = -np.log(scaled[np.arange(len(labels)), labels]).sum()
    return nll + np.log(t) ** 2 / (2 * prior**2)


@pytest.mark.parametrize("true_temperature", [0.5, 3.0])
def test_the_prior_draws_a_temperature_fitted_on_few_rows_toward_one(
    true_temperature,
):
    logits, labels = _calibrated_sample(4000, seed=2)
    given = softmax(logits * true_temperature, axis=1)
    few = slice(0, 40)
    likelihood = fit_temperature(given[few], labels[few])
    posterior = fit_temperature(given[few], labels[few], prior=0.4)
    # between 1 and the likelihood's temperature, on the same side of 1
    assert min(1.0, likelihood) < posterior < max(1.0, likelihood)
    assert abs(np.log(posterior)) < abs(np.log(likelihood)) - 0.1
    # the maximum a posteriori: the penalised objective is higher either side
    at = _penalised(given[few], labels[few], posterior, 0.4)
    for step in (0.98, 1.02):
        assert at < _penalised(given[few], labels[few], posterior * step, 0.4)
    # on thousands of rows the likelihood decides
    assert fit_temperature(given, labels, prior=0.4) == pytest.approx(
        fit_temperature(given, labels), rel=0.01
    )
    # no prior: the maximum likelihood; confidence has no likelihood to weigh
    assert fit_temperature(given[few], labels[few], prior=None) == likelihood
    assert fit_temperature(given[few], labels[few], "confidence", 0.4) == (
        fit_temperature(given[few], labels[few], "confidence")
    )


def test_a_run_fits_its_temperatures_with_its_objective_and_prior():
    logits, labels = _calibrated_sample(60, seed=3)
    given = softmax(logits * 3.0, axis=1)
    assert EvaluationConfig().temperature_prior == 0.4
    for objective, prior in (("log_likelihood", 0.4), ("log_likelihood", None)):
        fit = TemperatureFit(objective, prior)
        assert fit(given, labels) == fit_temperature(given, labels, objective, prior)
    assert EvaluationConfig(temperature_prior=None).temperature_prior is None
    for bad in (0.0, -0.4):
        with pytest.raises(ValueError, match="temperature_prior"):
            EvaluationConfig(temperature_prior=bad)


def test_applying_a_temperature_keeps_the_argmax_and_rows_summing_to_one():
    logits, _ = _calibrated_sample(50, seed=1)
    given = softmax(logits, axis=1).astype(np.float32)
    given[0] = [1.0, 0.0, 0.0, 0.0, 0.0]  # a float32 softmax that underflowed
    for temperature in (0.2, 1.0, 4.0):
        scaled = apply_temperature(given, temperature)
        assert np.isfinite(scaled).all()
        np.testing.assert_allclose(scaled.sum(axis=1), 1.0, rtol=1e-6)
        np.testing.assert_array_equal(scaled.argmax(axis=1), given.argmax(axis=1))
    np.testing.assert_array_equal(apply_temperature(given, 1.0), given)
    # above 1 flattens: the top probability falls
    assert (apply_temperature(given, 4.0).max(1) <= given.max(1) + 1e-7).all()


def test_nothing_to_fit_on_leaves_the_probabilities_as_they_are():
    probabilities = np.full((4, 3), 1 / 3)
    assert fit_temperature(probabilities, np.zeros(4, int)) == 1.0  # one class
    assert fit_temperature(np.empty((0, 3)), np.empty(0, int)) == 1.0


def test_a_temperature_is_kept_within_its_bounds():
    # every prediction right and confident: sharpening without end would pay
    logits = np.eye(3)[np.tile([0, 1, 2], 10)] * 3.0
    fitted = fit_temperature(softmax(logits, axis=1), np.tile([0, 1, 2], 10))
    assert BOUNDS[0] <= fitted < 0.1


def test_bad_input_is_refused_with_the_shapes_or_labels_named():
    with pytest.raises(ValueError, match=r"\(4, 3\).*\(5,\)"):
        fit_temperature(np.full((4, 3), 1 / 3), np.zeros(5, int))
    with pytest.raises(ValueError, match="class ids 0..2, got 0..3"):
        fit_temperature(np.full((4, 3), 1 / 3), np.array([0, 1, 2, 3]))
    with pytest.raises(ValueError, match="unknown calibration objective 'ece'"):
        fit_temperature(np.full((4, 3), 1 / 3), np.array([0, 1, 2, 0]), "ece")
    for bad in (0.0, -1.0, np.inf):
        with pytest.raises(ValueError, match="prior must be positive"):
            fit_temperature(np.full((4, 3), 1 / 3), np.array([0, 1, 2, 0]), prior=bad)
    for bad in (0.0, -1.0, np.inf, np.nan):
        with pytest.raises(ValueError, match="temperature must be positive"):
            apply_temperature(np.full((2, 3), 1 / 3), bad)
