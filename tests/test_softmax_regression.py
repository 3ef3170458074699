"""The softmax regression fitted like scikit-learn's logistic regression, per loss."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from sklearn.base import clone
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

from emotion_aware_loss.losses.family import LOSS_REGISTRY
from emotion_aware_loss.models.softmax_regression import (
    SoftmaxRegression,
    _mass_term,
    _Problem,
    _target_term,
    _tensorflow_term,
)

SIMILARITY = np.array(
    [
        [1.0, 0.7, 0.2, 0.6, 0.5],
        [0.7, 1.0, 0.6, 0.1, 0.4],
        [0.2, 0.6, 1.0, 0.1, 0.4],
        [0.6, 0.1, 0.1, 1.0, 0.6],
        [0.5, 0.4, 0.4, 0.6, 1.0],
    ]
)
HYPER = {"emotion_aware": {"alpha": 1.0}, "soft_target": {"beta": 5.0}}
HYPER["expected_cost"] = {"lam": 1.0}
HYPER["sim_loss"] = {"lower_bound": 0.3}


@pytest.fixture(scope="module")
def data():
    x, y = make_classification(
        240,
        12,
        n_informative=6,
        n_classes=5,
        n_clusters_per_class=1,
        weights=[0.4, 0.2, 0.2, 0.1, 0.1],
        random_state=0,
    )
    return x, y


@pytest.mark.parametrize("c", [0.01, 1.0, 30.0])
def test_cross_entropy_reproduces_scikit_learns_logistic_regression(data, c):
    """Without preconditioning it follows scikit-learn's very path (its settings,
    its iterates); with it, it reaches the same minimum."""
    x, y = data
    reference = LogisticRegression(C=c, class_weight="balanced", max_iter=2000)
    reference.fit(x, y)
    ours = SoftmaxRegression(C=c, max_iter=2000, precondition=False, solver="scipy")
    ours.fit(x, y)
    np.testing.assert_allclose(ours.coef_, reference.coef_, atol=1e-6)
    np.testing.assert_allclose(ours.intercept_, reference.intercept_, atol=1e-6)
    np.testing.assert_allclose(
        ours.predict_proba(x), reference.predict_proba(x), atol=1e-7
    )
    np.testing.assert_array_equal(ours.predict(x), reference.predict(x))
    assert ours.n_iter_[0] == reference.n_iter_[0]

    exact = LogisticRegression(C=c, class_weight="balanced", tol=1e-10)
    exact.set_params(max_iter=5000).fit(x, y)
    preconditioned = SoftmaxRegression(C=c, tol=1e-10, max_iter=5000).fit(x, y)
    # at weak penalties the coefficients are loosely determined by the data
    np.testing.assert_allclose(preconditioned.coef_, exact.coef_, atol=1e-4)
    np.testing.assert_allclose(
        preconditioned.predict_proba(x), exact.predict_proba(x), atol=1e-6
    )


def test_preconditioning_reaches_the_minimum_in_fewer_iterations():
    """Features of very different spread (as in row-space coordinates): at the
    default tolerance the preconditioned path stops at least as close to the
    minimum (found at a tight tolerance) in a fraction of the iterations."""
    x, y = make_classification(300, 40, n_informative=10, n_classes=5, random_state=2)
    x = x * np.geomspace(10.0, 0.1, 40)
    settings = {"hyper": {"beta": 5.0}, "C": 10.0, "max_iter": 20000}
    exact = SoftmaxRegression("soft_target", SIMILARITY, tol=1e-10, **settings)
    exact = exact.fit(x, y).predict_proba(x)
    plain = SoftmaxRegression("soft_target", SIMILARITY, precondition=False, **settings)
    fast = SoftmaxRegression("soft_target", SIMILARITY, **settings)
    plain.fit(x, y)
    fast.fit(x, y)
    assert plain.converged_ and fast.converged_
    assert fast.n_iter_[0] * 10 < plain.n_iter_[0]
    plain_error = np.abs(plain.predict_proba(x) - exact).max()
    fast_error = np.abs(fast.predict_proba(x) - exact).max()
    assert fast_error <= plain_error < 2e-3


def test_sample_weights_multiply_the_class_weights(data):
    x, y = data
    weights = np.linspace(0.5, 2.0, len(y))
    reference = LogisticRegression(class_weight="balanced", max_iter=2000)
    reference.fit(x, y, sample_weight=weights)
    ours = SoftmaxRegression(max_iter=2000, precondition=False, solver="scipy")
    ours.fit(x, y, sample_weight=weights)
    np.testing.assert_allclose(ours.coef_, reference.coef_, atol=1e-6)


@pytest.mark.parametrize("loss", sorted(set(LOSS_REGISTRY) - {"cross_entropy"}))
def test_every_loss_fits_a_model_of_its_own(data, loss):
    x, y = data
    model = SoftmaxRegression(loss, SIMILARITY, HYPER.get(loss), C=1.0).fit(x, y)
    plain = SoftmaxRegression(C=1.0).fit(x, y)
    assert model.converged_ or model.n_iter_[0] > 0
    assert model.coef_.shape == plain.coef_.shape == (5, 12)
    assert not np.allclose(model.coef_, plain.coef_, atol=1e-3)  # the loss matters
    assert (model.predict(x) == y).mean() > 0.5  # and it still learns the task


def test_the_objective_is_the_losss_mean_plus_the_penalty(data):
    # the fitted coefficients are a stationary point of the objective the module
    # states, computed here independently with the loss function itself
    x, y = data
    model = SoftmaxRegression(
        "expected_cost", SIMILARITY, {"lam": 2.0}, C=0.5, class_weight=None, tol=1e-10
    ).fit(x, y)
    function = LOSS_REGISTRY["expected_cost"].function
    w = tf.Variable(np.hstack([model.coef_, model.intercept_[:, None]]))
    with tf.GradientTape() as tape:
        logits = tf.constant(x) @ tf.transpose(w[:, :-1]) + w[:, -1]
        mean = tf.reduce_mean(function(y, logits, SIMILARITY, 2.0, from_logits=True))
        value = mean + tf.reduce_sum(w[:, :-1] ** 2) / (2 * 0.5 * len(y))
    assert np.abs(tape.gradient(value, w).numpy()).max() < 1e-6


def test_lam_zero_is_cross_entropy(data):
    x, y = data
    zero = SoftmaxRegression("expected_cost", SIMILARITY, {"lam": 0.0}).fit(x, y)
    plain = SoftmaxRegression().fit(x, y)
    np.testing.assert_allclose(zero.coef_, plain.coef_, atol=1e-6)


def test_a_class_missing_from_the_fit_keeps_the_others_similarities(data):
    x, y = data
    keep = y != 2
    model = SoftmaxRegression("sim_loss", SIMILARITY, C=1.0).fit(x[keep], y[keep])
    assert model.classes_.tolist() == [0, 1, 3, 4]
    assert set(model.predict(x)) <= {0, 1, 3, 4}


def test_warm_starts_and_clones_like_a_scikit_learn_estimator(data):
    x, y = data
    model = SoftmaxRegression("soft_target", SIMILARITY, {"beta": 5.0}, warm_start=True)
    model.set_params(C=0.1).fit(x, y)
    cold_iterations = model.n_iter_[0]
    model.set_params(C=0.11).fit(x, y)
    assert model.n_iter_[0] < cold_iterations
    copy = clone(model)
    assert copy.get_params()["loss"] == "soft_target" and not hasattr(copy, "coef_")


def test_bad_settings_are_named(data):
    x, y = data
    with pytest.raises(ValueError, match="unknown loss 'focal'"):
        SoftmaxRegression("focal").fit(x, y)
    with pytest.raises(ValueError, match=r"takes \['alpha'\], not \['beta'\]"):
        SoftmaxRegression("emotion_aware", SIMILARITY, {"beta": 1.0}).fit(x, y)
    with pytest.raises(ValueError, match="lower_bound must be < 1, got 1"):
        SoftmaxRegression("sim_loss", SIMILARITY, {"lower_bound": 1.0}).fit(x, y)
    with pytest.raises(ValueError, match="label 4 has no row in the 3x3"):
        SoftmaxRegression("sim_loss", np.eye(3)).fit(x, y)
    with pytest.raises(ValueError, match="two classes or more"):
        SoftmaxRegression().fit(x[:5], np.zeros(5, int))
    with pytest.raises(ValueError, match="solver must be one of .* not 'newton'"):
        SoftmaxRegression(solver="newton").fit(x, y)


@pytest.mark.parametrize(
    "loss", ["cross_entropy", "soft_target", "expected_cost", "sim_loss"]
)
def test_the_compiled_solver_finds_scipys_minimum(data, loss):
    """At a tight tolerance both solvers reach the same model, from the same
    scaled start, for every loss with a declared term; at the default one both
    stop within scikit-learn's criterion, the compiled one in about as many
    iterations."""
    x, y = data
    settings = {"hyper": HYPER.get(loss, {}), "C": 1.0}
    tight = {"tol": 1e-10, "max_iter": 5000}
    compiled = SoftmaxRegression(loss, SIMILARITY, **settings, **tight).fit(x, y)
    reference = SoftmaxRegression(loss, SIMILARITY, solver="scipy", **settings)
    reference.set_params(**tight).fit(x, y)
    assert compiled.converged_ and reference.converged_
    # both stop on SciPy's relative decrease (64 ε) before a gradient of 1e-10;
    # the coefficients are loosely determined along flat directions
    np.testing.assert_allclose(compiled.coef_, reference.coef_, atol=1e-4)
    np.testing.assert_allclose(
        compiled.predict_proba(x), reference.predict_proba(x), atol=1e-6
    )
    fast = SoftmaxRegression(loss, SIMILARITY, **settings).fit(x, y)
    slow = SoftmaxRegression(loss, SIMILARITY, solver="scipy", **settings).fit(x, y)
    assert fast.converged_ and slow.converged_
    assert fast.n_iter_[0] <= 1.5 * slow.n_iter_[0]
    # within tol 1e-4 of the gradient's zero, not of each other: up to 0.003 apart
    # here (sim_loss, whose clipped mass leaves flat stretches), 2e-6 elsewhere
    np.testing.assert_allclose(fast.predict_proba(x), slow.predict_proba(x), atol=1e-2)


def test_the_compiled_solver_stops_by_scikit_learns_criterion(data):
    """A stopped fit's unscaled gradient is within ``tol`` in every component; a
    start that already meets it takes no iteration; ``max_iter`` caps the rest."""
    x, y = data
    weights = np.ones(len(y))
    scale = np.ones(5 * (x.shape[1] + 1))
    problem = _Problem(x, y, weights, SIMILARITY, 0.01, scale, 1000, 1e-5, "compiled")
    entry = LOSS_REGISTRY["cross_entropy"]
    w, iterations, converged, calls = problem.minimise(
        entry, weights, {}, np.zeros((5, 13))
    )
    assert converged and iterations > 5 and calls > iterations
    objective = problem._objective(entry, weights, {})
    objective(w.ravel())
    assert np.abs(objective.gradient).max() <= 1e-5
    again = problem.minimise(entry, weights, {}, w)
    assert again.iterations == 0 and again.converged and again.calls == 1
    capped = _Problem(x, y, weights, SIMILARITY, 0.01, scale, 3, 1e-5, "compiled")
    capped = capped.minimise(entry, weights, {}, np.zeros((5, 13)))
    assert capped.iterations == 3 and not capped.converged


@pytest.mark.parametrize("loss", ["soft_target", "sim_loss", "emotion_aware"])
def test_a_sparse_matrix_fits_the_same_model(data, loss):
    """Each solver fits the same model on a sparse matrix as on the same values
    dense: the compiled one by its own CSR products (the same path, so to
    rounding), SciPy's by SciPy's."""
    import scipy.sparse  # noqa: PLC0415

    x, y = data
    x = np.where(np.abs(x) > 1.0, x, 0.0)  # mostly zeros, like TF-IDF
    csr = scipy.sparse.csr_matrix(x)
    for solver, atol in (("compiled", 1e-10), ("scipy", 1e-8)):
        dense = SoftmaxRegression(loss, SIMILARITY, solver=solver).fit(x, y)
        sparse = SoftmaxRegression(loss, SIMILARITY, solver=solver).fit(csr, y)
        assert sparse.n_iter_ == dense.n_iter_
        np.testing.assert_allclose(sparse.coef_, dense.coef_, atol=atol)
        np.testing.assert_allclose(
            sparse.predict_proba(csr), dense.predict_proba(x), atol=atol
        )
    # the path depends on the solver and the loss (here declared, or the rounds'
    # cross-entropy), not on the inputs
    assert not sparse.runs_compiled()
    assert SoftmaxRegression(loss, SIMILARITY).runs_compiled()


@pytest.mark.parametrize("columns", [1, 2, 5, 8, 9, 12])
@pytest.mark.parametrize("index", [np.int32, np.int64])
def test_the_compiled_csr_products_are_scipys(columns, index):
    """The compiled solver's products with a CSR matrix (the narrow kernel up to
    eight columns, the general one beyond; either index type SciPy uses) equal
    SciPy's, empty rows included."""
    import scipy.sparse  # noqa: PLC0415

    from emotion_aware_loss.models import compiled_lbfgs  # noqa: PLC0415

    rng = np.random.default_rng(columns)
    values = scipy.sparse.random(40, 30, density=0.2, random_state=rng).toarray()
    values[3] = 0.0  # an empty row
    x = scipy.sparse.csr_matrix(values)
    m = rng.normal(size=(30, columns))
    arrays = (x.data, x.indices.astype(index), x.indptr.astype(index))
    kernel = (
        compiled_lbfgs._csr_narrow
        if columns <= compiled_lbfgs.NARROW
        else compiled_lbfgs._csr_wide
    )
    np.testing.assert_allclose(kernel(*arrays, m), x @ m, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(
        compiled_lbfgs._csr_wide(*arrays, m), x @ m, rtol=1e-12, atol=1e-12
    )


def test_two_classes_give_scikit_learns_binary_model_at_twice_c():
    x, y = make_classification(200, 8, random_state=1)
    binary = LogisticRegression(C=2.0, class_weight="balanced", tol=1e-10)
    binary.set_params(max_iter=5000).fit(x, y)
    ours = SoftmaxRegression(C=1.0, tol=1e-10, max_iter=5000).fit(x, y)
    np.testing.assert_allclose(
        ours.predict_proba(x), binary.predict_proba(x), atol=1e-6
    )


def _objective_gradient(model, x, y, loss, hyper):
    """The gradient of the stated objective (no class weights) at ``model``'s
    coefficients, computed here independently with the registered function."""
    function = LOSS_REGISTRY[loss].function
    w = tf.Variable(np.hstack([model.coef_, model.intercept_[:, None]]))
    with tf.GradientTape() as tape:
        logits = tf.constant(x) @ tf.transpose(w[:, :-1]) + w[:, -1]
        per = function(y, logits, SIMILARITY, from_logits=True, **hyper)
        value = tf.reduce_mean(per) + tf.reduce_sum(w[:, :-1] ** 2) / (
            2 * model.C * len(y)
        )
    return tape.gradient(value, w).numpy()


def test_a_preconditioned_fit_stops_on_scikit_learns_criterion(data):
    """Every component of the (unscaled) gradient within ``tol`` when it stops,
    and not far below it: the preconditioned path stops where scikit-learn's
    test says, not at a stricter one."""
    x, y = data
    for c in (0.1, 10.0):
        model = SoftmaxRegression(
            "soft_target", SIMILARITY, {"beta": 5.0}, C=c, class_weight=None
        ).fit(x, y)
        assert model.converged_
        gradient = _objective_gradient(model, x, y, "soft_target", {"beta": 5.0})
        assert np.abs(gradient).max() <= 1e-4


@pytest.mark.parametrize(
    "loss", sorted(n for n, e in LOSS_REGISTRY.items() if e.prediction_weight)
)
def test_a_prediction_weight_is_the_loss_over_cross_entropy(loss):
    """The matrix a loss declares is the weight its own function puts on
    cross-entropy, true class by predicted class."""
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(400, 5)) * 3
    labels = rng.integers(0, 5, 400)
    hyper = HYPER.get(loss, {})
    entry = LOSS_REGISTRY[loss]
    value = entry.function(labels, logits, SIMILARITY, from_logits=True, **hyper)
    cross_entropy = LOSS_REGISTRY["cross_entropy"].function(
        labels, logits, SIMILARITY, from_logits=True
    )
    weight = entry.prediction_weight(SIMILARITY, **hyper)
    expected = np.asarray(cross_entropy) * weight[labels, logits.argmax(axis=1)]
    np.testing.assert_allclose(np.asarray(value), expected, rtol=1e-6)


def _random_batch(seed):
    """Logits, labels and per-utterance weights of 300 random utterances."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(300, 5)) * 3
    return logits, rng.integers(0, 5, 300), rng.uniform(0.2, 3.0, 300)


def _assert_term_is_the_graphs(term, entry, hyper, logits, labels, sample):
    """``term``'s weighted mean and its gradient w.r.t. the logits are those of
    the registered function's TensorFlow graph."""
    graph = _tensorflow_term(entry.function, hyper, labels, sample, SIMILARITY)
    mean, gradient = term(logits)
    expected_mean, expected_gradient = graph(logits)
    assert mean == pytest.approx(expected_mean, rel=1e-12)
    np.testing.assert_allclose(gradient, expected_gradient, rtol=1e-9, atol=1e-15)


@pytest.mark.parametrize(
    "loss", sorted(n for n, e in LOSS_REGISTRY.items() if e.targets)
)
def test_declared_targets_give_the_loss_and_its_gradient(loss):
    """A loss that declares its targets (and expected cost) is its own function's
    value and gradient when the convex fit evaluates it from them in NumPy: per
    utterance, and as the weighted mean the fit minimises (its gradient w.r.t.
    the logits)."""
    logits, labels, sample = _random_batch(1)
    hyper, entry = HYPER.get(loss, {}), LOSS_REGISTRY[loss]
    targets = entry.targets(SIMILARITY, **hyper)
    np.testing.assert_allclose(targets.sum(axis=1), 1.0)
    cost = (
        np.zeros((5, 5))
        if entry.expected_cost is None
        else entry.expected_cost(SIMILARITY, **hyper)
    )
    value = entry.function(labels, logits, SIMILARITY, from_logits=True, **hyper)
    log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    np.testing.assert_allclose(
        np.asarray(value),
        (-targets[labels] * log_p + np.exp(log_p) * cost[labels]).sum(axis=1),
        rtol=1e-9,
    )
    term = _target_term(targets[labels], sample, cost[labels])
    _assert_term_is_the_graphs(term, entry, hyper, logits, labels, sample)


@pytest.mark.parametrize("loss", sorted(n for n, e in LOSS_REGISTRY.items() if e.mass))
def test_a_declared_mass_gives_the_loss_and_its_gradient(loss):
    """A loss that declares the weights of its predicted mass (``sim_loss``) is its
    own function's value and gradient when the convex fit evaluates it from them
    in NumPy: per utterance, and as the weighted mean the fit minimises."""
    logits, labels, sample = _random_batch(2)
    hyper, entry = HYPER.get(loss, {}), LOSS_REGISTRY[loss]
    weights = entry.mass(SIMILARITY, **hyper)
    value = entry.function(labels, logits, SIMILARITY, from_logits=True, **hyper)
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    mass = (weights[labels] * p).sum(axis=1)
    np.testing.assert_allclose(np.asarray(value), -np.log(mass), rtol=1e-9)
    term = _mass_term(weights[labels], sample, keras.config.epsilon())
    _assert_term_is_the_graphs(term, entry, hyper, logits, labels, sample)


def test_a_prediction_weighted_loss_is_fitted_to_a_fixed_point(data):
    """``seed_weighted`` (a mistake weighs less than a correct prediction): its
    gradient (none through the weight, as the network trains it) is zero at the
    fitted coefficients, whose own predictions set the weights."""
    x, y = data
    model = SoftmaxRegression(
        "seed_weighted", SIMILARITY, C=0.1, class_weight=None, tol=1e-10
    ).fit(x, y)
    assert model.converged_ and model.n_rounds_ >= 2
    gradient = _objective_gradient(model, x, y, "seed_weighted", {})
    assert np.abs(gradient).max() < 1e-6


@pytest.mark.parametrize("loss", ["emotion_aware", "seed_weighted"])
def test_the_fixed_points_value_is_the_registered_losss(data, loss):
    """The value that picks the round kept where no fixed point exists, computed
    in NumPy from the declared weight, is the registered function's weighted
    mean plus the penalty, at coefficients whose own predictions set the weight."""
    x, y = data
    rng = np.random.default_rng(0)
    w = rng.normal(scale=0.3, size=(5, x.shape[1] + 1))
    weights = rng.uniform(0.5, 2.0, len(y))
    penalty = 0.01
    problem = _Problem(
        x, y, weights, SIMILARITY, penalty, np.ones(w.size), 100, 1e-4, "compiled"
    )
    entry, hyper = LOSS_REGISTRY[loss], HYPER.get(loss, {})
    logits = x @ w[:, :-1].T + w[:, -1]
    per = entry.function(y, logits, SIMILARITY, from_logits=True, **hyper)
    expected = np.sum(weights * per) / weights.sum()
    expected += 0.5 * penalty * np.sum(w[:, :-1] ** 2)
    cost = entry.prediction_weight(SIMILARITY, **hyper)
    value = problem.stated(cost, w, logits)
    assert value == pytest.approx(expected, rel=1e-12)


def test_without_a_fixed_point_the_lowest_loss_visited_is_kept(data):
    """``emotion_aware`` (a mistake weighs more): utterances flip between right
    and wrong round after round. The fit keeps the round with the lowest value of
    the loss itself, below cross-entropy's model (the first round) and the
    round after it."""
    x, y = data
    hyper = {"alpha": 1.0}
    settings = {"C": 1.0, "class_weight": None}
    model = SoftmaxRegression("emotion_aware", SIMILARITY, hyper, **settings)
    model.fit(x, y)
    assert not model.converged_ and model.n_rounds_ >= 3

    def value(coef, intercept):
        logits = x @ coef.T + intercept
        per = LOSS_REGISTRY["emotion_aware"].function(
            y, logits, SIMILARITY, from_logits=True, **hyper
        )
        return np.mean(per) + np.sum(coef**2) / (2 * len(y))

    first = SoftmaxRegression(**settings).fit(x, y)
    weighted = SIMILARITY.copy()  # the second round: weights of the first's mistakes
    rounds_two = SoftmaxRegression(**settings).fit(
        x, y, 1.0 + (1.0 - weighted[y, first.predict(x)])
    )
    kept = value(model.coef_, model.intercept_)
    assert kept <= value(first.coef_, first.intercept_) + 1e-9
    assert kept <= value(rounds_two.coef_, rounds_two.intercept_) + 1e-6
