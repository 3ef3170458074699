"""The stacked training engine: a stack of networks trains each as if alone.

* The stacked forward pass is the Keras model's, for every architecture the
  project builds.
* A network trained by the engine is the one Keras' own ``train_on_batch`` trains
  on the same batches (Adam, batch normalisation, class weights, L2, every loss).
* In a stack, each network is the one trained alone: weights and history, with
  early stopping ending models at different epochs, refits, different folds, and
  dropout on or off; a network whose loss turns NaN stops alone.
"""

from __future__ import annotations

import dataclasses
import logging

import keras
import numpy as np
import pytest
import scipy.optimize
import tensorflow as tf

from emotion_aware_loss.config import ModelConfig
from emotion_aware_loss.losses.family import LOSS_REGISTRY, make_loss
from emotion_aware_loss.losses.metrics import UnweightedAverageRecall
from emotion_aware_loss.models.network import build_fusion_model
from emotion_aware_loss.training.forecast import Clock, forecast
from emotion_aware_loss.training.jobs import (
    Corpus,
    Job,
    LossSpec,
    Settings,
    Stopper,
    View,
    bucket_size,
    epoch_order,
)
from emotion_aware_loss.training.stack import train_jobs
from emotion_aware_loss.training.stacked_network import Pass, StackedNetwork

N, FEATURES, TOKENS, VOCAB, CLASSES = 260, 12, 6, 24, 5
SIMILARITY = np.array(
    [
        [1.0, 0.5, 0.2, 0.6, 0.3],
        [0.5, 1.0, 0.6, 0.4, 0.5],
        [0.2, 0.6, 1.0, 0.2, 0.5],
        [0.6, 0.4, 0.2, 1.0, 0.5],
        [0.3, 0.5, 0.5, 0.5, 1.0],
    ],
    dtype=np.float32,
)
HYPER = {"emotion_aware": {"alpha": 1.5}, "soft_target": {"beta": 4.0}}
HYPER["expected_cost"] = {"lam": 0.7}
BLOCKS = [{"filters": 8, "kernel_size": 3, "pool_size": 2, "dropout": 0.2}]


def _model(
    architecture: str = "wide_deep", dropout: bool = False, **extra
) -> keras.Model:
    rate = 0.2 if dropout else 0.0
    config = {
        "architecture": architecture,
        "speech": {"blocks": [dict(b, dropout=rate) for b in BLOCKS] * 2},
        "text": {"embedding_dim": 6, "filters": 6, "dropout": rate},
        "fusion": {"dense_units": [8], "dropout": rate},
        "wide": {"dropout": rate, "l2": 0.001},
        **extra,
    }
    keras.utils.set_random_seed(3)
    return build_fusion_model(
        ModelConfig.model_validate(config), 0, FEATURES, TOKENS, VOCAB, CLASSES
    )


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, CLASSES, N).astype(np.int32)
    speech = rng.normal(size=(N, 1, FEATURES)).astype(np.float32)
    speech[:, 0, 0] += labels  # something to learn
    tokens = rng.integers(0, VOCAB, size=(N, TOKENS)).astype(np.int32)
    views = [
        View(speech[:150, 0].mean(0), speech[:150, 0].std(0), tokens),
        View(speech[100:, 0].mean(0), speech[100:, 0].std(0), (tokens + 1) % VOCAB),
    ]
    return Corpus(labels, speech, np.ones(N, np.int64), views)


SETTINGS = Settings(
    epochs=7,
    batch_size=16,
    learning_rate=0.01,
    patience=2,
    min_steps=0,
    monitor="val_uar",
)


def _job(
    model: keras.Model, name: str, kind: str = "cross_entropy", fold: int = 0, **kw
) -> Job:
    train = np.arange(0, 150) if fold == 0 else np.arange(100, 233)  # 10 and 9 batches
    validation = np.arange(150, 200) if fold == 0 else np.arange(233, 260)
    fields = dict(
        name=name,
        weights=model.get_weights(),
        view=fold,
        train=train,
        validation=validation,
        loss=LossSpec(kind, SIMILARITY, HYPER.get(kind, {})),
        class_weights=np.array([1.0, 2.0, 0.5, 1.0, 1.5], np.float32),
        seed=11 + fold,
    )
    fields.update(kw)
    return Job(**fields)


# --- the forward pass -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("architecture", "frames", "extra"),
    [
        ("wide_deep", 0, {}),
        ("seed", 8, {}),
        ("wide_deep", 8, {}),
        ("seed", 8, {"attention": {"enabled": True, "num_heads": 2, "key_dim": 3}}),
        (
            "wide_deep",
            8,
            {"attention": {"enabled": True, "num_heads": 2, "key_dim": 3}},
        ),
        ("linear", 0, {}),
        ("wide_deep", 0, {"modalities": ["text"]}),
        ("wide_deep", 0, {"wide": {"joins": "output"}}),
        ("wide_deep", 8, {"wide": {"joins": "output"}, "modalities": ["speech"]}),
    ],
)
def test_the_stacked_forward_pass_is_each_keras_model(architecture, frames, extra):
    config = {"architecture": architecture, "speech": {"blocks": BLOCKS * 2}, **extra}
    models = []
    for seed in range(3):
        keras.utils.set_random_seed(seed)
        models.append(
            build_fusion_model(
                ModelConfig.model_validate(config), frames, FEATURES, TOKENS, VOCAB, 5
            )
        )
    network = StackedNetwork(models[0])
    units = network.stack([m.get_weights() for m in models])
    back = network.unstack(units)
    for m, model in enumerate(models):
        for a, b in zip(back[m], model.get_weights(), strict=True):
            np.testing.assert_array_equal(a, b)
    rng = np.random.default_rng(0)
    inputs = {}
    for tensor in models[0].inputs:
        shape = (3, 7, *tensor.shape[1:])
        if "int" in str(tensor.dtype):
            inputs[tensor.name] = rng.integers(0, VOCAB, size=shape).astype(np.int32)
        else:
            inputs[tensor.name] = rng.normal(size=shape).astype(np.float32)
    logits, _, _ = network(
        [tf.constant(u) for u in units],
        {k: tf.constant(v) for k, v in inputs.items()},
        Pass(),
    )
    probabilities = tf.nn.softmax(logits).numpy()
    for m, model in enumerate(models):
        expected = model({k: v[m] for k, v in inputs.items()}, training=False)
        np.testing.assert_allclose(probabilities[m], expected, atol=1e-6)


# --- against Keras' own training step --------------------------------------------------
@pytest.mark.parametrize(
    ("loss", "joins"),
    [(loss, "hidden") for loss in sorted(LOSS_REGISTRY)]
    + [("emotion_aware", "output")],
)
def test_a_network_trains_as_keras_train_on_batch_trains_it(corpus, loss, joins):
    # frozen token embeddings: Keras' Adam squares each occurrence of a repeated
    # token's gradient separately (its sparse path); the stack uses the summed one
    model = _model(
        text={
            "embedding_dim": 6,
            "filters": 6,
            "dropout": 0.0,
            "trainable_embeddings": False,
        },
        wide={"dropout": 0.0, "l2": 0.001, "joins": joins},
    )
    epochs = 3
    job = _job(model, loss, loss, validation=None, epochs=epochs)
    trained = train_jobs(
        model, corpus, [job], dataclasses.replace(SETTINGS, epochs=epochs)
    )
    reference = keras.models.clone_model(model)
    reference.set_weights(model.get_weights())
    reference.compile(
        optimizer=keras.optimizers.Adam(SETTINGS.learning_rate),
        loss=make_loss(loss, SIMILARITY, **HYPER.get(loss, {})),
        metrics=[
            keras.metrics.SparseCategoricalAccuracy(name="accuracy"),
            UnweightedAverageRecall(CLASSES),
        ],
    )
    view = corpus.views[0]
    losses = []
    for epoch in range(epochs):
        order = job.train[epoch_order(len(job.train), job.seed, epoch)]
        total = 0.0
        for start in range(0, len(order), 16):  # 150 rows: the last batch has 6
            rows = order[start : start + 16]
            x = {
                "speech": (corpus.speech[rows, 0] - view.mean) / view.std,
                "text": view.tokens[rows],
            }
            y = corpus.labels[rows]
            logs = reference.train_on_batch(
                x, y, sample_weight=job.class_weights[y], return_dict=True
            )
            total += logs["loss"] * len(rows)
        losses.append(total / len(order))
    for a, b in zip(reference.get_weights(), trained[0].weights, strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(trained[0].history["loss"], losses, rtol=1e-5)


# --- in a stack as alone ---------------------------------------------------------------
def _stack_jobs(model: keras.Model) -> list[Job]:
    """Every loss, two folds of different sizes, early stopping at different
    epochs, refits, a second similarity matrix."""
    jobs = []
    for fold in (0, 1):
        for loss in sorted(LOSS_REGISTRY):
            refit = np.arange(0, 200) if fold == 0 else np.arange(100, 260)
            jobs.append(_job(model, f"{loss}.fold_{fold}", loss, fold, refit=refit))
    jobs.append(
        _job(
            model,
            "emotion_aware_va.fold_0",
            "emotion_aware",
            loss=LossSpec("emotion_aware", SIMILARITY**2, {"alpha": 0.5}),
        )
    )
    return jobs


@pytest.mark.parametrize("dropout", [False, True])
def test_each_network_of_a_stack_is_the_network_trained_alone(corpus, dropout):
    model = _model(dropout=dropout)
    jobs = _stack_jobs(model)
    settings = dataclasses.replace(SETTINGS, epochs=12, patience=1)
    stacked = train_jobs(model, corpus, jobs, settings)
    lengths = {len(r.history["loss"]) for r in stacked}
    assert len(lengths) > 1, "early stopping should end models at different epochs"
    assert {len(r.history["refit_loss"]) for r in stacked if "refit_loss" in r.history}
    for job, result in zip(jobs, stacked, strict=True):
        (alone,) = train_jobs(model, corpus, [job], settings)
        assert alone.history.keys() == result.history.keys(), job.name
        for key, values in alone.history.items():
            np.testing.assert_allclose(
                np.asarray(result.history[key], float),
                np.asarray(values, float),
                rtol=1e-4,
                atol=1e-6,
                err_msg=f"{job.name}: {key}",
            )
        for a, b in zip(alone.weights, result.weights, strict=True):
            np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5, err_msg=job.name)


def test_the_validation_predictions_are_the_early_stopped_networks(corpus):
    # two folds in one stack, one refitted: what calibrates each network is the
    # early-stopped model's probabilities on its own validation rows
    model = _model()
    jobs = [
        _job(model, "cross_entropy.fold_0"),
        _job(model, "cross_entropy.fold_1", fold=1, refit=np.arange(100, 260)),
        _job(model, "fixed.fold_0", validation=None, epochs=2),
    ]
    results = train_jobs(model, corpus, jobs, SETTINGS)
    assert results[2].validation is None
    (early,) = train_jobs(
        model, corpus, [dataclasses.replace(jobs[1], refit=None)], SETTINGS
    )
    for job, result, weights in zip(
        jobs[:2], results, [results[0].weights, early.weights], strict=False
    ):
        network = keras.models.clone_model(model)
        network.set_weights(weights)
        view = corpus.views[job.view]
        rows = job.validation
        expected = network(
            {
                "speech": (corpus.speech[rows, 0] - view.mean) / view.std,
                "text": view.tokens[rows],
            },
            training=False,
        )
        probabilities, labels = result.validation
        np.testing.assert_allclose(probabilities, expected, atol=1e-5)
        np.testing.assert_array_equal(labels, corpus.labels[rows])


def test_a_model_whose_loss_turns_nan_stops_alone(corpus, caplog):
    model = _model()
    good = _job(model, "cross_entropy.fold_1", fold=1)
    bad = _job(
        model,
        "exploding.fold_0",
        "emotion_aware",
        loss=LossSpec("emotion_aware", SIMILARITY, {"alpha": float("inf")}),
    )
    with caplog.at_level(logging.WARNING):
        results = train_jobs(model, corpus, [bad, good], SETTINGS)
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("exploding.fold_0" in m and "non-finite" in m for m in messages)
    assert not any("cross_entropy" in m for m in messages)
    stopped = results[0].history
    assert stopped["non_finite_epoch"] == [1] and np.isnan(stopped["loss"][0])
    for w, start in zip(results[0].weights, model.get_weights(), strict=True):
        np.testing.assert_array_equal(w, start)  # the weights before that epoch
    (alone,) = train_jobs(model, corpus, [good], SETTINGS)
    assert results[1].history["loss"] == pytest.approx(alone.history["loss"], rel=1e-5)
    assert "non_finite_epoch" not in results[1].history


def test_features_read_from_disk_a_batch_at_a_time_train_the_same(corpus, tmp_path):
    np.save(tmp_path / "speech.npy", corpus.speech)
    mapped = np.load(tmp_path / "speech.npy", mmap_mode="r")
    on_disk = dataclasses.replace(corpus, speech=mapped, resident_bytes=0)
    model = _model()
    job = _job(model, "cross_entropy.fold_0")
    (resident,) = train_jobs(model, corpus, [job], SETTINGS)
    (read,) = train_jobs(model, on_disk, [job], SETTINGS)
    assert read.history == resident.history
    for a, b in zip(resident.weights, read.weights, strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_dynamic_similarity_moves_towards_the_embeddings(corpus):
    model = _model()
    dynamic = LossSpec("emotion_aware", SIMILARITY, {"alpha": 1.0}, 0.5)
    job = _job(model, "dyn", loss=dynamic)
    (result,) = train_jobs(model, corpus, [job], SETTINGS)
    moved = np.asarray(result.history["dynamic_similarity"])
    assert moved.shape == (CLASSES, CLASSES)
    np.testing.assert_allclose(np.diagonal(moved), 1.0)
    assert not np.allclose(moved, SIMILARITY)


def test_batch_orders_visit_every_row_once_per_epoch_and_follow_the_seed():
    first = epoch_order(37, 5, 0)
    assert sorted(first) == list(range(37))
    np.testing.assert_array_equal(first, epoch_order(37, 5, 0))
    assert not np.array_equal(first, epoch_order(37, 5, 1))
    assert not np.array_equal(first, epoch_order(37, 6, 0))


def test_bad_jobs_are_refused_by_name(corpus):
    model = _model()
    with pytest.raises(
        ValueError, match="job nothing: needs validation rows or epochs"
    ):
        train_jobs(model, corpus, [_job(model, "nothing", validation=None)], SETTINGS)
    bad = _job(model, "odd", loss=LossSpec("no_such_loss", SIMILARITY))
    with pytest.raises(ValueError, match="job odd: unknown loss 'no_such_loss'"):
        train_jobs(model, corpus, [bad], SETTINGS)


# --- the time-left estimate ------------------------------------------------------------
def test_the_clock_fits_a_fixed_and_a_per_model_cost():
    clock = Clock()
    for models in (40, 20, 5, 1):
        clock.add(models, 10, 10 * (0.003 + 0.001 * models))
    per_step, per_model = clock.cost()
    assert per_step == pytest.approx(0.003) and per_model == pytest.approx(0.001)
    assert clock.seconds(10, np.array([2]))[0] == pytest.approx(0.05)


def test_the_clock_leaves_out_epochs_that_trace_or_compile_a_new_stack_size():
    clock = Clock()
    truth = {40: 0.003 + 0.001 * 40, 20: 0.003 + 0.001 * 20, 5: 0.003 + 0.001 * 5}
    clock.add(40, 10, 99.0, size=40, traced=True)  # the phase's first epoch
    clock.add(40, 10, 10 * truth[40], size=40)
    clock.add(40, 10, 10 * truth[40], size=40)
    for models in (20, 5):
        clock.add(models, 10, 10 * truth[models] + 0.8, size=models)  # compiles
        clock.add(models, 10, 10 * truth[models], size=models)
    assert len(clock.seen) == 4
    per_step, per_model = clock.cost()
    assert per_step == pytest.approx(0.003) and per_model == pytest.approx(0.001)


def test_a_stack_reports_no_time_left_before_an_epoch_is_timed(corpus):
    model = _model()
    reports = []
    train_jobs(
        model, corpus, [_job(model, "a"), _job(model, "b")], SETTINGS, reports.append
    )
    # the first epoch traces (not timed): no estimate yet, then one every epoch
    assert reports[0].remaining_seconds is None
    assert all(r.remaining_seconds is not None for r in reports[2:])


def test_the_clock_never_fits_a_negative_fixed_cost():
    # noisy epochs of a shrinking stack whose unconstrained fit has a negative
    # fixed part: the fit stays a valid cost instead of switching rules
    clock = Clock()
    sizes, seconds = (35, 34, 30, 17), np.array([1.00, 0.99, 0.80, 0.42])
    for models, value in zip(sizes, seconds, strict=True):
        clock.add(models, 35, value)
    lstsq, *_ = np.linalg.lstsq(
        np.array([[35, 35 * m] for m in sizes], float), seconds, rcond=None
    )
    assert lstsq[0] < 0  # the case this guards against
    # the best fit with a fixed part of at least 0: none, and the slope through 0
    x = np.array([35 * m for m in sizes], float)
    per_step, per_model = clock.cost()
    assert per_step == pytest.approx(0.0, abs=1e-12)
    assert per_model == pytest.approx((x @ seconds) / (x @ x))


def test_the_clock_splits_the_cost_only_over_sizes_far_enough_apart():
    # sizes 35 and 32 with noise: the least-squares split puts most of the cost
    # in the fixed part, and a stack of one costs 58 % of one of 35
    clock = Clock()
    epochs = ((35, 0.82), (35, 0.80), (32, 0.78))
    for models, seconds in epochs:
        clock.add(models, 35, seconds)
    fit, _ = scipy.optimize.nnls(
        np.array([[35, 35 * m] for m, _ in epochs], float),
        np.array([seconds for _, seconds in epochs]),
    )
    assert (fit[0] + fit[1]) / (fit[0] + 35 * fit[1]) > 0.5  # the case guarded
    per_step, per_model = clock.cost()
    assert per_step == pytest.approx(4 * per_model)  # the prior split instead
    one, full = clock.seconds(35, np.array([1, 35]))
    assert one / full == pytest.approx(5 / 39)
    clock.add(16, 35, 0.41)  # sizes now a factor of 2 apart: both parts fitted
    per_step, per_model = clock.cost()
    assert per_step != pytest.approx(4 * per_model)


def test_the_forecast_ends_every_model_within_its_patience_and_length():
    stoppers = [Stopper(start=3, patience=2), Stopper(start=0, patience=5), None]
    stoppers[1].update(0, 0.5)
    training, chosen = forecast(
        stoppers, [10, 10, 4], np.array([True, True, True]), 0, rate=0.0
    )
    # no further improvement: model 0 warms up (epochs 1, 2), counts epoch 3 as
    # its best, stops 2 later (epoch 5); model 1 stops 5 epochs after its best
    # (epoch 0); model 2 has 3 of its 4 epochs to go
    np.testing.assert_array_equal(training[0], [3, 3, 3, 2, 2, 0, 0, 0, 0])
    np.testing.assert_array_equal(chosen[0], [4, 1, 0])
    always, _ = forecast(stoppers, [10, 10, 4], np.array([True, True, True]), 0, 1e9)
    assert always.shape[1] == 9 and always[:, -1].min() == 2  # both run to their end


def test_an_epoch_runs_at_one_of_a_few_stack_sizes():
    sizes = [bucket_size(a, 1000) for a in range(1, 50)]
    assert sorted(set(sizes)) == [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64]
    assert all(a <= s <= 1.5 * a or a <= 2 for a, s in zip(range(1, 50), sizes))
    assert bucket_size(30, 35) == 32 and bucket_size(34, 35) == 35
