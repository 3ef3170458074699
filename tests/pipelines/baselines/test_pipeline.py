import numpy as np
import pandas as pd
import pytest
import scipy.sparse

from emotion_aware_loss.config import (
    BaselinesConfig,
    CrossValidationConfig,
    EvaluationConfig,
    ModelConfig,
)
from emotion_aware_loss.config.layout import (
    TEXT,
    baseline_names,
    reference_baseline,
)
from emotion_aware_loss.evaluation import selection
from emotion_aware_loss.evaluation.baselines import (
    FoldData,
    _inner_splits,
    acoustic_statistics,
    speech_baseline,
    tfidf_features,
)
from emotion_aware_loss.folds.cross_validation import TEST, TRAIN, VALIDATION, rows_of
from emotion_aware_loss.models.calibration import apply_temperature
from emotion_aware_loss.models.softmax_regression import SoftmaxRegression
from emotion_aware_loss.pipelines.baselines import create_pipeline
from emotion_aware_loss.pipelines.baselines.nodes import (
    fit_linear_baselines,
    fit_linear_family,
)
from emotion_aware_loss.pipelines.fold_generation import (
    create_pipeline as folds_pipeline,
)

from ...conftest import run_pipeline

NAMES = ("linear_speech", "linear_text", "linear_fusion")


@pytest.fixture
def with_baselines(monkeypatch):
    from emotion_aware_loss.config import layout  # noqa: PLC0415

    value = layout.Layout(2, ("cross_entropy",), baselines=NAMES)
    monkeypatch.setattr(layout, "_run_layout", value)
    return value


@pytest.fixture
def fold_inputs(stage_inputs, with_baselines):
    return stage_inputs | run_pipeline(folds_pipeline(), stage_inputs)


def test_names_follow_the_modalities():
    assert baseline_names(["speech", "text"]) == NAMES
    assert baseline_names(["text"]) == ("linear_text",)
    assert reference_baseline(["speech"]) == "linear_speech"
    assert reference_baseline(["speech", "text"]) == "linear_fusion"


def test_acoustic_statistics_ignore_padding():
    rng = np.random.default_rng(0)
    frames = rng.normal(size=(3, 6, 2)).astype(np.float32)
    n_frames = np.array([6, 3, 1])
    frames[1, 3:] = 0.0
    frames[2, 1:] = 0.0
    stats = acoustic_statistics(frames, n_frames)
    for i, n in enumerate(n_frames):
        np.testing.assert_allclose(stats[i, :2], frames[i, :n].mean(axis=0), rtol=1e-5)
        np.testing.assert_allclose(stats[i, 2:], frames[i, :n].std(axis=0), atol=1e-6)
    vectors = frames[:, :1, :]
    np.testing.assert_array_equal(
        acoustic_statistics(vectors, np.ones(3, int)), vectors[:, 0]
    )


MODALITIES = ("speech", "text", "fusion")


def test_one_prediction_per_test_utterance_of_each_fold(fold_inputs, classes):
    out = run_pipeline(create_pipeline(), fold_inputs)
    assert set(out) == {
        f"{name}.fold_{k}.{kind}"
        for name in NAMES
        for k in (0, 1)
        for kind in ("metrics", "predictions", "held_out")
    }
    table = fold_inputs["model_input_table"]
    for k in (0, 1):
        split = fold_inputs[f"fold_{k}.split"]
        test_ids = table["utterance_id"].iloc[rows_of(table, split, TEST)]
        for name in NAMES:
            predictions = out[f"{name}.fold_{k}.predictions"]
            assert predictions["utterance_id"].tolist() == test_ids.tolist()
            assert (predictions["fold"] == k).all()
            probabilities = predictions[[f"prob_{c}" for c in classes]].to_numpy()
            np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-6)
            metrics = out[f"{name}.fold_{k}.metrics"]
            assert metrics["n_test"] == len(test_ids)
            assert set(metrics["decisions"]) == {"argmax", "min_expected_cost"}
        # The fusion is the mean of its members as fitted (before calibration);
        # calibrated, the mean of the calibrated members at its own temperature.
        fusion = out[f"linear_fusion.fold_{k}.predictions"]
        members = [out[f"linear_{m}.fold_{k}.predictions"] for m in ("speech", "text")]
        for prefix in ("uncalibrated_", "prob_"):
            mean = np.mean(
                [m[[f"{prefix}{c}" for c in classes]].to_numpy() for m in members], 0
            )
            if prefix == "prob_":
                mean = apply_temperature(mean, fusion["temperature"].iloc[0])
            np.testing.assert_allclose(
                fusion[[f"{prefix}{c}" for c in classes]].to_numpy(), mean, rtol=1e-6
            )
        # Held out: every training and validation utterance once, from the inner
        # folds, calibrated; the fusion's is its members' mean at its temperature.
        pool = table["utterance_id"].iloc[
            np.r_[rows_of(table, split, TRAIN), rows_of(table, split, VALIDATION)]
        ]
        held = {m: out[f"linear_{m}.fold_{k}.held_out"] for m in MODALITIES}
        columns = [f"prob_{c}" for c in classes]
        for frame in held.values():
            assert sorted(frame["utterance_id"]) == sorted(pool)
            assert (frame["utterance_id"] == held["fusion"]["utterance_id"]).all()
            np.testing.assert_allclose(frame[columns].sum(axis=1), 1.0, rtol=1e-6)
        np.testing.assert_allclose(
            held["fusion"][columns].to_numpy(),
            apply_temperature(
                (held["speech"][columns].to_numpy() + held["text"][columns].to_numpy())
                / 2,
                fusion["temperature"].iloc[0],
            ),
            rtol=1e-6,
        )


def _run_fold(inputs, table, features, selection="cross_validation"):
    return fit_linear_baselines(
        table,
        features,
        inputs["fold_0.split"],
        inputs["similarity_matrix"],
        inputs["input_spec"],
        BaselinesConfig(
            text=[{"analyzer": "word", "min_df": 1}, {"min_df": 1}],
            selection=selection,
        ),
        ModelConfig.model_validate(
            {"speech": {"blocks": [{"filters": 4, "kernel_size": 3}]}}
        ),
        EvaluationConfig(),
        CrossValidationConfig(n_folds=2, speaker_independent=True),
        1,
    )


def _probabilities(outputs, name):
    table = outputs[f"{name}_predictions"]
    return table[[c for c in table if c.startswith("prob_")]].to_numpy()


@pytest.mark.parametrize("selection", ["cross_validation", "validation"])
def test_never_fitted_on_test_utterances(fold_inputs, selection):
    """The test part's labels, features and transcripts leave every other
    prediction unchanged: nothing of it reaches the fitted models."""
    table = fold_inputs["model_input_table"]
    features = fold_inputs["acoustic_features"]
    split = fold_inputs["fold_0.split"]
    test = rows_of(table, split, TEST)
    before = _run_fold(fold_inputs, table, features, selection)

    changed = table.copy()
    n_classes = fold_inputs["input_spec"].n_classes
    changed.loc[test, "label_id"] = (changed.loc[test, "label_id"] + 1) % n_classes
    changed.loc[test[0], "tokens"] = "completely unseen words here"
    altered = features.copy()
    altered[test[0]] += 100.0
    after = _run_fold(fold_inputs, changed, altered, selection)
    for name in NAMES:
        a, b = _probabilities(before, name), _probabilities(after, name)
        # only the altered utterance's own prediction may change
        np.testing.assert_allclose(a[1:], b[1:], rtol=1e-6, atol=1e-9)
        assert not np.allclose(a[0], b[0])

    # whereas a change in the training part changes the models
    train = rows_of(table, split, TRAIN)
    moved = features.copy()
    moved[train] += np.random.default_rng(0).normal(size=moved[train].shape)
    refit = _run_fold(fold_inputs, table, moved, selection)
    assert not np.allclose(
        _probabilities(before, "linear_speech")[1:],
        _probabilities(refit, "linear_speech")[1:],
    )


def test_no_pipeline_without_baselines(monkeypatch):
    from emotion_aware_loss.config import layout  # noqa: PLC0415

    monkeypatch.setattr(layout, "_run_layout", layout.Layout(2, ("cross_entropy",)))
    assert not create_pipeline().nodes


def test_baselines_follow_the_parameters():
    from emotion_aware_loss.config.layout import layout_from_parameters  # noqa: PLC0415

    params = {"loss_variants": {"cross_entropy": {"loss": "cross_entropy"}}}
    assert layout_from_parameters(params).baselines == NAMES
    text_only = params | {"model": {"modalities": ["text"]}}
    assert layout_from_parameters(text_only).baselines == ("linear_text",)
    off = params | {"baselines": {"enabled": False}}
    assert layout_from_parameters(off).baselines == ()
    clash = {
        "loss_variants": {
            "cross_entropy": {"loss": "cross_entropy"},
            "linear_text": {"loss": "cross_entropy"},
        }
    }
    with pytest.raises(ValueError, match="named like the linear baselines"):
        layout_from_parameters(clash)


def test_table_stays_unmodified(fold_inputs):
    table = fold_inputs["model_input_table"]
    snapshot = table.copy()
    _run_fold(fold_inputs, table, fold_inputs["acoustic_features"])
    pd.testing.assert_frame_equal(table, snapshot)


def test_inner_folds_keep_speakers_apart_and_every_class():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 20)
    speakers = rng.permutation(np.repeat(np.arange(6), 10))
    config = BaselinesConfig(inner_folds=3)
    splits = _inner_splits(labels, speakers, config, seed=0)
    assert len(splits) == 3
    for fit_rows, score_rows in splits:
        assert not set(speakers[fit_rows]) & set(speakers[score_rows])
        assert set(labels[fit_rows]) == {0, 1, 2}
    assert sorted(np.concatenate([s for _, s in splits])) == list(range(60))
    # A class with one member cannot be split: no inner folds, the first C stands.
    assert _inner_splits(np.array([0, 0, 1]), None, config, seed=0) == []


def test_the_inner_folds_score_a_c_by_scikit_learns_macro_recall():
    from sklearn.metrics import recall_score  # noqa: PLC0415

    from emotion_aware_loss.evaluation.selection import _uar  # noqa: PLC0415

    rng = np.random.default_rng(0)
    for n, k in ((40, 5), (7, 5), (30, 2)):
        labels = rng.integers(0, k, n)
        # a class only predicted, one only true, one in neither
        predicted = np.where(rng.random(n) < 0.6, labels, rng.integers(0, k + 1, n))
        assert _uar(labels, predicted) == recall_score(
            labels, predicted, average="macro", zero_division=0.0
        )


def test_c_is_chosen_by_inner_folds_and_refitted_on_training_and_validation():
    rng = np.random.default_rng(1)
    labels = FoldData(*(np.tile([0, 1], n) for n in (30, 10, 10)))
    x = FoldData(
        *(
            rng.normal(size=(len(y), 5)) + 1.5 * y[:, None]
            for y in (labels.train, labels.validation, labels.test)
        )
    )
    config = BaselinesConfig(c_grid=[1e-4, 1.0])
    chosen = speech_baseline(x, labels, config, 2, seed=0)
    assert (chosen.test.argmax(axis=1) == labels.test).mean() >= 0.8
    # The inner folds' held-out predictions (what calibrates the model) cover the
    # training and validation parts once each.
    held, held_labels = chosen.held_out
    assert held.shape == (80, 2)
    assert sorted(held_labels) == sorted(np.r_[labels.train, labels.validation])
    # The validation part joins the final fit: moving it moves the predictions.
    moved = FoldData(x.train, x.validation + 3.0, x.test)
    assert not np.allclose(
        chosen.test, speech_baseline(moved, labels, config, 2, seed=0).test
    )
    # With selection: validation only the training part is fitted on, and the
    # validation part is what is held out.
    alone = BaselinesConfig(c_grid=[1.0], selection="validation")
    fitted = speech_baseline(x, labels, alone, 2, seed=0)
    np.testing.assert_allclose(
        fitted.test, speech_baseline(moved, labels, alone, 2, seed=0).test
    )
    np.testing.assert_array_equal(fitted.held_out[1], labels.validation)
    assert (fitted.held_out[0].argmax(axis=1) == labels.validation).mean() >= 0.8


def test_a_fit_that_stops_short_says_so(caplog):
    """A softmax regression's final fit that misses its criterion is marked
    (``Fitted.converged``) and named in the log; scikit-learn's model says
    nothing (None)."""
    rng = np.random.default_rng(1)
    labels = FoldData(*(np.tile([0, 1, 2], n) for n in (20, 5, 5)))
    x = FoldData(
        *(
            rng.normal(size=(len(y), 6)) + y[:, None]
            for y in (labels.train, labels.validation, labels.test)
        )
    )
    config = BaselinesConfig(c_grid=[1.0])
    assert speech_baseline(x, labels, config, 3, seed=0).converged is None
    full = SoftmaxRegression("soft_target", np.eye(3), {"beta": 5.0})
    assert speech_baseline(x, labels, config, 3, 0, model=full).converged is True
    short = SoftmaxRegression("soft_target", np.eye(3), {"beta": 5.0}, max_iter=1)
    with caplog.at_level("WARNING"):
        fitted = speech_baseline(x, labels, config, 3, 0, model=short, name="mine")
    assert fitted.converged is False
    assert "mine: the final fit (C=1) did not converge (1 L-BFGS" in caplog.text


def test_text_features_are_word_and_character_ngrams_side_by_side():
    features = tfidf_features(BaselinesConfig().text)
    matrix = features.fit_transform(["we are so happy today", "so so sad ?", "?"] * 2)
    words, characters = (part[1] for part in features.transformer_list)
    assert "so happy" in words.vocabulary_ and "?" in words.vocabulary_
    assert " ha" in characters.vocabulary_
    assert matrix.shape[1] == len(words.vocabulary_) + len(characters.vocabulary_)
    single = BaselinesConfig(text={"analyzer": "char_wb", "min_df": 1})
    assert len(single.text) == 1 and single.text[0].analyzer == "char_wb"


def test_the_row_space_gives_the_same_regularised_model_with_fewer_values():
    from sklearn.linear_model import LogisticRegression  # noqa: PLC0415

    from emotion_aware_loss.evaluation.baselines import RowSpace  # noqa: PLC0415

    rng = np.random.default_rng(3)
    x = rng.normal(size=(30, 80))
    y = np.arange(30) % 3
    test = rng.normal(size=(10, 80))
    space = RowSpace().fit(x)
    assert space.transform(x).shape == (30, 30)

    def model():
        return LogisticRegression(C=0.05, tol=1e-10, max_iter=10_000)

    direct = model().fit(x, y).predict_proba(test)
    projected = model().fit(space.transform(x), y)
    np.testing.assert_allclose(
        projected.predict_proba(space.transform(test)), direct, atol=1e-6
    )
    tall = rng.normal(size=(50, 4))
    np.testing.assert_array_equal(RowSpace().fit(tall).transform(tall), tall)


def test_sparse_tf_idf_in_row_space_gives_the_same_model_where_dense_enough():
    """TF-IDF (sparse) mapped by the eigenvectors of its Gram matrix: orthonormal
    coordinates of the rows' span, the same softmax regression on them as on the
    sparse matrix; a matrix sparser than ``max_density`` allows stays as it is."""
    from emotion_aware_loss.evaluation.baselines import RowSpace  # noqa: PLC0415
    from emotion_aware_loss.models.softmax_regression import (  # noqa: PLC0415
        SoftmaxRegression,
    )

    rng = np.random.default_rng(4)
    dense = rng.random((40, 300)) * (rng.random((40, 300)) < 0.1)
    dense[1] = dense[0]  # a repeated transcript: one direction fewer
    x = scipy.sparse.csr_matrix(dense)
    y = np.arange(40) % 4
    test = scipy.sparse.csr_matrix(
        rng.random((15, 300)) * (rng.random((15, 300)) < 0.1)
    )
    ratio = 40 * 40 / x.nnz  # its row-space coordinates over its stored values
    space = RowSpace(max_density=ratio).fit(x)
    assert space.basis_.shape == (300, 39)
    np.testing.assert_allclose(space.basis_.T @ space.basis_, np.eye(39), atol=1e-9)
    np.testing.assert_allclose(space.transform(x) @ space.basis_.T, dense, atol=1e-9)

    def model():
        return SoftmaxRegression("soft_target", np.eye(4), {"beta": 5.0}, tol=1e-10)

    direct = model().fit(x, y).predict_proba(test)
    projected = model().fit(space.transform(x), y)
    np.testing.assert_allclose(
        projected.predict_proba(space.transform(test)), direct, atol=1e-6
    )
    kept = RowSpace(max_density=ratio * 0.9).fit(x)
    assert kept.basis_ is None and kept.transform(x) is x
    assert RowSpace().fit(x).basis_ is None  # scikit-learn's baseline: sparse


# --- the linear models fitted with a variant's loss (baselines.losses) ---------------
FAMILY_VARIANTS = {
    "cross_entropy": {"loss": "cross_entropy"},
    "no_cost": {"loss": "expected_cost", "lam": 0.0},
    "soft": {"loss": "soft_target", "beta": 2.0},
}


def _run_family(inputs, variants=("no_cost", "soft"), **baselines):
    return fit_linear_family(
        inputs["model_input_table"],
        inputs["acoustic_features"],
        inputs["fold_0.split"],
        inputs["similarity_matrix"],
        inputs["input_spec"],
        BaselinesConfig(
            text=[{"analyzer": "word", "min_df": 1}, {"min_df": 1}], **baselines
        ),
        ModelConfig.model_validate(
            {"speech": {"blocks": [{"filters": 4, "kernel_size": 3}]}}
        ),
        EvaluationConfig(),
        CrossValidationConfig(n_folds=2, speaker_independent=True),
        1,
        FAMILY_VARIANTS,
        **{v: inputs["similarity_matrix"] for v in variants},
    )


def test_a_loss_that_reduces_to_cross_entropy_gives_the_baseline(fold_inputs):
    """``expected_cost`` with ``lam = 0`` is cross-entropy: its linear model is the
    reference baseline (speech and text: their mean), to the solver's tolerance;
    another loss gives another model."""
    baseline = _run_fold(
        fold_inputs, fold_inputs["model_input_table"], fold_inputs["acoustic_features"]
    )
    family = _run_family(fold_inputs)
    assert set(family) == {
        f"convex_{v}_{kind}"
        for v in ("no_cost", "soft")
        for kind in ("metrics", "predictions", "held_out")
    }
    np.testing.assert_allclose(
        _probabilities(family, "convex_no_cost"),
        _probabilities(baseline, "linear_fusion"),
        atol=1e-4,  # both stop at gradient 1e-4, by different paths
    )
    assert not np.allclose(
        _probabilities(family, "convex_soft"),
        _probabilities(baseline, "linear_fusion"),
        atol=1e-3,
    )
    metrics = family["convex_soft_metrics"]
    assert set(metrics["decisions"]) == {"argmax", "min_expected_cost"}
    # the convex fits say whether they converged; scikit-learn's do not
    assert metrics["converged"] is True
    assert "converged" not in baseline["linear_fusion_metrics"]


@pytest.mark.parametrize("row_space", [True, False])
def test_the_family_gives_the_same_rows_on_any_number_of_threads(
    fold_inputs, monkeypatch, row_space
):
    """The convex fits of a fold (inner folds' grids, modalities) run side by side
    on threads: the same probabilities on one thread as on two, with the TF-IDF
    in row-space coordinates (dense) or sparse as MELD's. SciPy's solver
    (``solver: scipy``) stops elsewhere within the same tolerance."""
    from emotion_aware_loss.pipelines.baselines import nodes  # noqa: PLC0415

    if not row_space:
        monkeypatch.setattr(nodes, "SPARSE_ROW_SPACE", 0.0)
    used, sparse = [], []

    def fit_each(*args):
        used.append(args[5])
        sparse.append(scipy.sparse.issparse(args[0][TEXT].x_pool))
        return selection.fit_each(*args)

    monkeypatch.setattr(nodes, "fit_each", fit_each)
    one = _run_family(fold_inputs, threads=1)
    two = _run_family(fold_inputs, threads=2)
    assert used == [1, 1, 2, 2]  # the compiled solver: threads are used
    assert set(sparse) == {not row_space}
    reference = _run_family(fold_inputs, threads=1, solver="scipy")
    for name in ("convex_no_cost", "convex_soft"):
        np.testing.assert_array_equal(
            _probabilities(one, name), _probabilities(two, name)
        )
        np.testing.assert_allclose(
            _probabilities(one, name), _probabilities(reference, name), atol=1e-3
        )


def test_the_family_follows_the_parameters_and_names_bad_entries(monkeypatch):
    from emotion_aware_loss.config import layout  # noqa: PLC0415

    params = {
        "loss_variants": FAMILY_VARIANTS
        | {"learned": {"loss": "emotion_aware", "similarity": "learned"}},
        "model": {"modalities": ["speech"]},
    }
    chosen = layout.layout_from_parameters(
        params | {"baselines": {"losses": ["soft", "no_cost"]}}
    )
    assert chosen.scored[-3:] == ("linear_speech", "convex_soft", "convex_no_cost")
    # ``linear_*`` names the scikit-learn baselines and nothing else
    assert [n for n in chosen.scored if n.startswith("linear_")] == ["linear_speech"]
    monkeypatch.setattr(layout, "_run_layout", chosen)
    (node,) = [
        n for n in create_pipeline().nodes if n.name == "fold_1.fit_linear_family_node"
    ]
    assert "similarity_matrix" in node.inputs and "params:loss_variants" in node.inputs
    assert set(node.outputs) == {
        f"convex_{v}.fold_1.{kind}"
        for v in ("soft", "no_cost")
        for kind in ("metrics", "predictions", "held_out")
    }
    for losses, message in (
        (["nope"], "baselines.losses names 'nope', which is not one of"),
        (["learned"], "uses a similarity learned from the networks"),
    ):
        with pytest.raises(ValueError, match=message):
            layout.layout_from_parameters(params | {"baselines": {"losses": losses}})
    # the baseline variant's own loss: the family's reference, fitted alike
    own = layout.layout_from_parameters(
        params | {"baselines": {"losses": ["cross_entropy", "soft"]}}
    )
    assert own.linear_family == ("convex_cross_entropy", "convex_soft")
