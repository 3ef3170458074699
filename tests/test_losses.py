import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose

from emotion_aware_loss.losses.family import (
    LOSS_REGISTRY,
    EmotionAware,
    cross_entropy,
    emotion_aware,
    expected_cost,
    make_loss,
    pair_costs,
    seed_weighted,
    sim_loss,
    soft_target,
)

from .conftest import SEED_MATRIX

S = np.array(SEED_MATRIX, dtype="float32")
ANGER, SURPRISE, HAPPINESS, SADNESS, NEUTRAL = range(5)


def _probs(predicted: int, confidence: float = 0.6) -> np.ndarray:
    p = np.full((1, 5), (1.0 - confidence) / 4, dtype="float32")
    p[0, predicted] = confidence
    return p


def _value(fn, y, p, **kw) -> float:
    return float(keras.ops.convert_to_numpy(fn(np.array([y]), p, **kw))[0])


def test_correct_prediction_costs_plain_cross_entropy():
    p = _probs(ANGER)
    assert _value(emotion_aware, ANGER, p, similarity=S, alpha=2.0) == pytest.approx(
        _value(cross_entropy, ANGER, p)
    )


def test_distant_mistake_costs_more_than_close_mistake():
    # Same probability on the true class, different predicted class.
    close = _probs(SADNESS)  # anger -> sadness, S = 0.6
    distant = _probs(HAPPINESS)  # anger -> happiness, S = 0.2
    ce = _value(cross_entropy, ANGER, close)
    assert _value(cross_entropy, ANGER, distant) == pytest.approx(ce)
    close_loss = _value(emotion_aware, ANGER, close, similarity=S, alpha=1.0)
    distant_loss = _value(emotion_aware, ANGER, distant, similarity=S, alpha=1.0)
    assert close_loss == pytest.approx(ce * 1.4, rel=1e-5)
    assert distant_loss == pytest.approx(ce * 1.8, rel=1e-5)
    assert distant_loss > close_loss > ce


def test_seed_formula_penalises_distant_mistakes_less():
    close = _value(seed_weighted, ANGER, _probs(SADNESS), similarity=S)
    distant = _value(seed_weighted, ANGER, _probs(HAPPINESS), similarity=S)
    assert distant < close  # the defect our emotion_aware loss fixes


def test_alpha_zero_is_cross_entropy():
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(5), size=32).astype("float32")
    y = rng.integers(0, 5, size=32)
    assert_allclose(
        keras.ops.convert_to_numpy(emotion_aware(y, p, S, alpha=0.0)),
        keras.ops.convert_to_numpy(cross_entropy(y, p)),
        rtol=1e-6,
    )


def test_integer_and_one_hot_labels_agree():
    rng = np.random.default_rng(1)
    p = rng.dirichlet(np.ones(5), size=16).astype("float32")
    y = rng.integers(0, 5, size=16)
    one_hot = np.eye(5, dtype="float32")[y]
    loss = EmotionAware(S, alpha=1.5)
    assert float(loss(y, p)) == pytest.approx(float(loss(one_hot, p)), rel=1e-6)
    assert float(loss(y[:, None], p)) == pytest.approx(float(loss(y, p)), rel=1e-6)


def test_sample_weights_are_honoured():
    p = np.vstack([_probs(HAPPINESS), _probs(ANGER)])
    y = np.array([ANGER, ANGER])
    loss = EmotionAware(S, reduction="sum")
    only_first = float(loss(y, p, sample_weight=np.array([1.0, 0.0])))
    first = float(keras.ops.convert_to_numpy(emotion_aware(y, p, S))[0])
    assert only_first == pytest.approx(first, rel=1e-6)


def test_stable_at_probabilities_zero_and_one():
    p = np.array([[0.0, 0.0, 1.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0, 0.0]], "float32")
    y = np.array([ANGER, ANGER])
    values = keras.ops.convert_to_numpy(emotion_aware(y, p, S, alpha=1.0))
    assert np.all(np.isfinite(values))
    assert values[0] > values[1] >= 0.0


@settings(max_examples=50, deadline=None)
@given(
    alpha=st.floats(0.0, 5.0),
    seed=st.integers(0, 10_000),
)
def test_emotion_aware_is_bounded_by_cross_entropy(alpha, seed):
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.ones(5) * 0.5, size=8).astype("float32")
    y = rng.integers(0, 5, size=8)
    ce = keras.ops.convert_to_numpy(cross_entropy(y, p))
    ea = keras.ops.convert_to_numpy(emotion_aware(y, p, S, alpha=alpha))
    assert np.all(ea >= ce * (1 - 1e-6))
    assert np.all(ea <= ce * (1 + alpha) * (1 + 1e-6) + 1e-6)


def test_gradient_flows_through_cross_entropy_only():
    import tensorflow as tf

    logits = tf.Variable(np.log(_probs(HAPPINESS)))
    with tf.GradientTape() as tape:
        p = tf.nn.softmax(logits)
        value = tf.reduce_sum(emotion_aware(np.array([ANGER]), p, S, alpha=1.0))
    grad = tape.gradient(value, logits).numpy()
    assert np.all(np.isfinite(grad))
    assert grad[0, ANGER] < 0  # pushes the true class up


# Every registered loss, its hyper-parameters away from their defaults (0.3 where
# the default is 0).
ALL_LOSSES = [
    make_loss(name, S, **{k: h.default * 0.7 or 0.3 for k, h in entry.hyper.items()})
    for name, entry in sorted(LOSS_REGISTRY.items())
]


@pytest.mark.parametrize("loss", ALL_LOSSES, ids=lambda loss: type(loss).__name__)
def test_config_round_trip(loss):
    restored = keras.losses.deserialize(keras.losses.serialize(loss))
    assert type(restored) is type(loss)
    assert restored.get_config() == loss.get_config()


def test_keras_file_round_trip_keeps_loss(tmp_path):
    inputs = keras.Input(shape=(3,))
    outputs = keras.layers.Dense(5, activation="softmax")(inputs)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="adam", loss=EmotionAware(S, alpha=0.5))
    x = np.random.default_rng(2).normal(size=(10, 3)).astype("float32")
    y = np.arange(10) % 5
    model.fit(x, y, epochs=1, verbose=0)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert_allclose(
        loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6
    )
    assert isinstance(loaded.loss, EmotionAware)
    assert loaded.loss.alpha == 0.5
    assert_allclose(loaded.loss.similarity, S)


@pytest.mark.parametrize("loss", ALL_LOSSES, ids=lambda loss: type(loss).__name__)
def test_every_loss_survives_a_keras_file(tmp_path, loss):
    inputs = keras.Input(shape=(3,))
    model = keras.Model(inputs, keras.layers.Dense(5, activation="softmax")(inputs))
    model.compile(optimizer="adam", loss=loss)
    x = np.random.default_rng(3).normal(size=(10, 3)).astype("float32")
    model.fit(x, np.arange(10) % 5, epochs=1, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert type(loaded.loss) is type(loss)
    assert loaded.loss.get_config() == loss.get_config()


# Every similarity-aware loss but the seed's literal formula (kept as a baseline
# that gets the direction wrong), at its default hyper-parameters.
_SIMILARITY_LOSSES = {
    name: make_loss(name, S).call
    for name, entry in LOSS_REGISTRY.items()
    if entry.uses_similarity and name != "seed_weighted"
}


def _wrong_prediction(true: int, predicted: int, confidence: float, p_true: float):
    rest = (1.0 - confidence - p_true) / 3
    p = np.full((1, 5), rest, dtype="float32")
    p[0, true], p[0, predicted] = p_true, confidence
    return p


@settings(max_examples=60, deadline=None)
@given(
    true=st.integers(0, 4),
    pair=st.lists(st.integers(0, 4), min_size=2, max_size=2, unique=True),
    confidence=st.floats(0.4, 0.9),
    p_true=st.floats(0.01, 0.1),
)
def test_less_similar_mistakes_cost_more(true, pair, confidence, p_true):
    a, b = pair
    if true in pair or S[true, a] == S[true, b]:
        return
    close, far = (a, b) if S[true, a] > S[true, b] else (b, a)
    p_close = _wrong_prediction(true, close, confidence, p_true)
    p_far = _wrong_prediction(true, far, confidence, p_true)
    y = np.array([true])
    for name, fn in _SIMILARITY_LOSSES.items():
        near_cost = float(keras.ops.convert_to_numpy(fn(y, p_close))[0])
        far_cost = float(keras.ops.convert_to_numpy(fn(y, p_far))[0])
        assert far_cost > near_cost, name
    seed_near = float(keras.ops.convert_to_numpy(seed_weighted(y, p_close, S))[0])
    seed_far = float(keras.ops.convert_to_numpy(seed_weighted(y, p_far, S))[0])
    assert seed_far < seed_near  # the seed's formula gets the direction wrong


def test_limits_reduce_to_cross_entropy():
    rng = np.random.default_rng(5)
    p = rng.dirichlet(np.ones(5), size=16).astype("float32")
    y = rng.integers(0, 5, size=16)
    ce = keras.ops.convert_to_numpy(cross_entropy(y, p))
    for value in (
        expected_cost(y, p, S, lam=0.0),
        soft_target(y, p, S, beta=200.0),
        emotion_aware(y, p, S, alpha=0.0),
        sim_loss(y, p, np.eye(5, dtype="float32")),
    ):
        assert_allclose(keras.ops.convert_to_numpy(value), ce, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("loss", ALL_LOSSES, ids=lambda loss: type(loss).__name__)
def test_loss_and_gradient_finite_at_extreme_probabilities(loss):
    import tensorflow as tf

    zero_sim = np.eye(5, dtype="float32")
    extreme = loss.__class__.from_config(
        loss.get_config()
        | (
            {"similarity": zero_sim.tolist()}
            if "similarity" in loss.get_config()
            else {}
        )
    )
    p = tf.Variable(
        np.array([[0.0, 0.0, 1.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0, 0.0]], "float32")
    )
    with tf.GradientTape() as tape:
        value = extreme(np.array([0, 0]), tf.identity(p))
    grad = tape.gradient(value, p)
    assert np.isfinite(float(value))
    assert grad is None or np.all(np.isfinite(grad.numpy()))


def test_sim_losss_lower_bound_zeroes_the_similarities_up_to_it_and_rescales_the_rest():
    """Kobs et al.'s lower bound ``b``: ``S' = max(0, (S - b) / (1 - b))``, worked
    by hand for the seed's matrix at ``b = 0.5`` (0.6 -> 0.2, 0.5 and below -> 0);
    ``b = 0`` is ``S`` itself, and a bound above every off-diagonal similarity is
    plain CE."""
    rng = np.random.default_rng(7)
    p = rng.dirichlet(np.ones(5), size=32).astype("float32")
    y = np.arange(32) % 5
    by_hand = np.eye(5, dtype="float32")
    for a, b in ((ANGER, SADNESS), (SURPRISE, HAPPINESS)):  # S = 0.6
        by_hand[a, b] = by_hand[b, a] = 0.2

    def values(similarity, **kw):
        return keras.ops.convert_to_numpy(sim_loss(y, p, similarity, **kw))

    assert_allclose(values(S, lower_bound=0.5), values(by_hand), rtol=1e-6)
    assert_allclose(
        values(S, lower_bound=0.0), -np.log(p @ S.T)[range(32), y], rtol=1e-5
    )
    assert_allclose(
        values(S, lower_bound=0.65),
        keras.ops.convert_to_numpy(cross_entropy(y, p)),
        rtol=1e-5,
    )
    assert_allclose(
        values(S, lower_bound=0.5), -np.log(p @ by_hand.T)[range(32), y], rtol=1e-5
    )


def test_a_hyper_parameter_outside_its_range_is_refused_naming_it():
    with pytest.raises(ValueError, match="lower_bound must be < 1, got 1"):
        make_loss("sim_loss", S, lower_bound=1.0)
    with pytest.raises(ValueError, match="lower_bound must be >= 0, got -0.1"):
        make_loss("sim_loss", S, lower_bound=-0.1)


def test_make_loss_uses_each_losses_own_hyper_parameters():
    assert (
        make_loss("soft_target", S, alpha=9.0, beta=2.0, lam=3.0).get_config()["beta"]
        == 2.0
    )
    assert (
        make_loss("expected_cost", S, alpha=9.0, beta=2.0, lam=3.0).get_config()["lam"]
        == 3.0
    )
    assert "alpha" not in make_loss("sim_loss", S, alpha=9.0).get_config()
    assert make_loss("soft_target", S).get_config()["beta"] == 5.0  # its default
    assert type(make_loss("emotion_aware", S)) is EmotionAware


def test_make_loss_rejects_unknown_name():
    with pytest.raises(ValueError, match="unknown loss 'focal'; expected one of"):
        make_loss("focal", S)


def test_negative_alpha_and_non_square_similarity_are_rejected():
    with pytest.raises(ValueError, match="alpha must be >= 0"):
        EmotionAware(S, alpha=-1.0)
    with pytest.raises(ValueError, match="square"):
        EmotionAware(S[:3])


def test_dynamic_similarity_moves_towards_the_embedding_similarity():
    from emotion_aware_loss.config import TrainingConfig
    from emotion_aware_loss.training.fitting import fit

    rng = np.random.default_rng(0)
    inputs = keras.Input(shape=(4,), name="speech")
    hidden = keras.layers.Dense(3, activation="relu")(inputs)
    model = keras.Model(
        inputs, keras.layers.Dense(5, activation="softmax", name="emotion")(hidden)
    )
    loss = EmotionAware(S, alpha=1.0)
    x = rng.normal(size=(50, 4)).astype("float32")
    y = np.arange(50) % 5
    config = TrainingConfig(epochs=2, batch_size=16, patience=2)
    trained, history = fit(
        model, loss, ({"speech": x}, y), ({"speech": x}, y), config, 0, 0.5
    )
    final = np.asarray(history["dynamic_similarity"])
    assert not np.allclose(final, S)
    assert np.allclose(np.diag(final), 1.0) and np.allclose(final, final.T, atol=1e-6)
    assert np.all((final >= 0) & (final <= 1))
    # the saved model's loss carries the matrix it ended with
    assert np.allclose(trained.loss.get_config()["similarity"], final)


def test_pair_costs_charge_similar_mistakes_less():
    similarity = np.array(
        [[1.0, 0.9, 0.1], [0.9, 1.0, 0.1], [0.1, 0.1, 1.0]], dtype="float32"
    )
    ce = pair_costs(make_loss("cross_entropy", similarity), 3, confidence=0.8)
    np.testing.assert_allclose(np.diag(ce), -np.log(0.8), rtol=1e-5)
    np.testing.assert_allclose(ce[0, 1], -np.log(0.1), rtol=1e-5)  # every mistake alike
    assert ce[0, 1] == pytest.approx(ce[0, 2])
    aware = pair_costs(make_loss("emotion_aware", similarity, alpha=1.0), 3, 0.8)
    np.testing.assert_allclose(np.diag(aware), np.diag(ce), rtol=1e-5)
    assert aware[0, 1] < aware[0, 2]  # the similar mistake costs less
    with pytest.raises(ValueError, match="confidence"):
        pair_costs(make_loss("cross_entropy", similarity), 3, confidence=0.2)


@pytest.mark.parametrize("name", sorted(LOSS_REGISTRY))
def test_class_weights_multiply_every_loss_per_sample(name):
    # The training step passes one weight per utterance (its class's weight);
    # for every loss of the family the batch loss is the weighted per-sample mean.
    rng = np.random.default_rng(7)
    p = rng.dirichlet(np.ones(5), size=12).astype("float32")
    y = rng.integers(0, 5, size=12)
    class_weights = np.array([0.5, 3.0, 2.0, 1.5, 0.25], dtype="float32")
    loss = make_loss(name, S, alpha=1.0, beta=5.0, lam=1.0)
    per_sample = keras.ops.convert_to_numpy(loss.call(y, p))
    weighted = float(loss(y, p, sample_weight=class_weights[y]))
    assert weighted == pytest.approx(
        float(np.sum(class_weights[y] * per_sample) / len(y)), rel=1e-5
    )
    assert weighted != pytest.approx(float(loss(y, p)), rel=1e-3)


def test_the_docs_name_every_registered_loss_and_its_hyper_parameters():
    from pathlib import Path  # noqa: PLC0415

    text = (Path(__file__).resolve().parents[1] / "docs" / "losses.md").read_text()
    table = text[: text.index("## The losses on a linear model")]
    for name, entry in LOSS_REGISTRY.items():
        assert f"| `{name}`" in table, name
        for key in entry.hyper:
            assert f"`{key} ≥" in table, (name, key)
