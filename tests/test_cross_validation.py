import numpy as np
import pandas as pd
import pytest

from emotion_aware_loss.folds.cross_validation import (
    TEST,
    TRAIN,
    VALIDATION,
    FoldError,
    FoldInputs,
    ScaledFeatures,
    apply_scaler,
    assign_folds,
    fit_scaler,
    model_inputs,
    rows_of,
)


@pytest.fixture
def table() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1, 2, 3, 4], [40, 10, 10, 20, 40])
    return pd.DataFrame(
        {
            "utterance_id": [f"u{i:03d}" for i in range(len(labels))],
            "label": [f"c{k}" for k in labels],
            "label_id": labels,
            "speaker": [f"s{k}" for k in rng.integers(0, 10, len(labels))],
        }
    )


def test_each_utterance_is_tested_exactly_once(table):
    folds = assign_folds(table, n_folds=5, seed=1)
    tests = folds[folds["split"] == TEST]
    assert sorted(tests["utterance_id"]) == sorted(table["utterance_id"])
    assert folds.groupby("fold").size().tolist() == [len(table)] * 5


def test_folds_are_stratified_and_validation_is_held_out(table):
    folds = assign_folds(table, n_folds=5, seed=1, validation_fraction=0.2)
    merged = folds.merge(table, on="utterance_id")
    per_fold = merged[merged["split"] == TEST].groupby(["fold", "label_id"]).size()
    assert per_fold.unstack().eq([8, 2, 2, 4, 8]).all().all()
    for _, part in merged.groupby("fold"):
        val = part[part["split"] == VALIDATION]
        assert set(val["label_id"]) == {0, 1, 2, 3, 4}
        assert 0.1 < len(val) / (part["split"] != TEST).sum() < 0.3


def test_speaker_independent_folds_do_not_share_speakers(table):
    folds = assign_folds(table, n_folds=3, seed=1, speaker_independent=True)
    merged = folds.merge(table, on="utterance_id")
    for _, part in merged.groupby("fold"):
        test_speakers = set(part.loc[part["split"] == TEST, "speaker"])
        other = set(part.loc[part["split"] != TEST, "speaker"])
        val = set(part.loc[part["split"] == VALIDATION, "speaker"])
        train = set(part.loc[part["split"] == TRAIN, "speaker"])
        assert not test_speakers & other
        assert not val & train


def test_repeated_folds_reshuffle_and_keep_repeat_zero(table):
    single = assign_folds(table, n_folds=5, seed=3)
    repeated = assign_folds(table, n_folds=5, seed=3, n_repeats=3)
    assert sorted(repeated["fold"].unique()) == list(range(15))
    assert (
        repeated.groupby("fold")["repeat"].first().tolist()
        == [0] * 5 + [1] * 5 + [2] * 5
    )
    # Repeat 0 is the plain k-fold split, so n_repeats=1 results stay comparable.
    pd.testing.assert_frame_equal(repeated[repeated["repeat"] == 0], single)
    tests = repeated[repeated["split"] == TEST]
    for _, part in tests.groupby("repeat"):
        assert sorted(part["utterance_id"]) == sorted(table["utterance_id"])
    test_fold = tests.pivot(index="utterance_id", columns="repeat", values="fold")
    assert (test_fold[0] % 5 != test_fold[1] % 5).any()  # a new partition


def test_same_seed_same_folds_other_seed_other_folds(table):
    a = assign_folds(table, n_folds=5, seed=7)
    pd.testing.assert_frame_equal(a, assign_folds(table, n_folds=5, seed=7))
    assert not a.equals(assign_folds(table, n_folds=5, seed=8))


def test_small_class_is_named(table):
    small = table[~((table["label_id"] == 1) & (table.index > 45))]
    with pytest.raises(FoldError, match="class 'c1' has 6 utterance"):
        assign_folds(small, n_folds=10, seed=0)


def test_too_few_speakers_for_speaker_independent_folds(table):
    with pytest.raises(FoldError, match="at least 10 speakers, the corpus has 3"):
        assign_folds(
            table.assign(speaker=table.index % 3),
            n_folds=10,
            seed=0,
            speaker_independent=True,
        )


def test_a_fold_left_without_validation_utterances_is_refused():
    # each speaker alone speaks one class: a validation speaker would take a class
    # out of training, so it goes back and nothing is left to stop early on
    table = pd.DataFrame(
        {
            "utterance_id": [f"u{i:02d}" for i in range(16)],
            "label": [f"c{i % 4}" for i in range(16)],
            "label_id": [i % 4 for i in range(16)],
            "speaker": [f"s{i % 4}" for i in range(16)],
        }
    )
    with pytest.raises(FoldError, match="fold 0: no validation utterance is left"):
        assign_folds(table, n_folds=2, seed=0, speaker_independent=True)


def test_scaler_uses_training_rows_and_valid_frames_only():
    feats = np.zeros((3, 4, 2), dtype=np.float32)
    feats[0, :2] = [[1, 10], [3, 10]]
    feats[1, :1] = [[5, 10]]
    feats[2] = 1000.0  # a held-out utterance: must not move the statistics
    n_frames = np.array([2, 1, 4])
    scaler = fit_scaler(feats, n_frames, rows=np.array([0, 1]))
    assert scaler["mean"] == pytest.approx([3.0, 10.0])
    assert scaler["std"][1] == 1.0  # constant feature is left unscaled
    scaled = apply_scaler(feats, n_frames, scaler)
    assert scaled[0, 2:].sum() == 0  # padding stays zero
    assert scaled[0, 0, 0] == pytest.approx(-2 / np.std([1, 3, 5]))


@pytest.mark.parametrize("chunk_rows", [1, 7, 64, 1000])
def test_the_scaler_read_in_chunks_is_numpys_mean_and_std(tmp_path, chunk_rows):
    rng = np.random.default_rng(4)
    feats = (rng.normal(size=(150, 30, 8)) * 40 + 7).astype(np.float32)
    n_frames = rng.integers(0, 31, size=150)
    rows = np.sort(rng.choice(150, size=110, replace=False))
    np.save(tmp_path / "f.npy", feats)
    mapped = np.load(tmp_path / "f.npy", mmap_mode="r")
    scaler = fit_scaler(mapped, n_frames, rows, chunk_rows=chunk_rows)
    # the former implementation: every valid frame in memory at once
    frames = feats[rows][np.arange(30)[None, :] < n_frames[rows, None]]
    assert scaler["mean"] == frames.mean(axis=0).astype(float).tolist()
    assert scaler["std"] == frames.std(axis=0).astype(float).tolist()


def test_scaled_features_are_read_and_standardised_on_demand(tmp_path):
    rng = np.random.default_rng(5)
    feats = rng.normal(size=(20, 6, 3)).astype(np.float32)
    np.save(tmp_path / "f.npy", feats)
    mapped = np.load(tmp_path / "f.npy", mmap_mode="r")
    utterances = pd.DataFrame(
        {
            "n_frames": rng.integers(1, 7, size=20),
            "tokens": ["a b"] * 20,
            "label_id": np.arange(20) % 5,
        }
    )
    scaler = {"mean": [0.5, -1.0, 2.0], "std": [2.0, 0.5, 1.0]}
    rows = np.array([4, 2, 17, 9])
    inputs, labels = model_inputs(utterances, mapped, rows, scaler, ["a"], 4)
    speech = inputs["speech"]
    assert isinstance(speech, ScaledFeatures)
    assert speech.shape == (4, 6, 3) and len(speech) == 4
    expected = apply_scaler(
        feats[rows], utterances["n_frames"].to_numpy()[rows], scaler
    )
    np.testing.assert_array_equal(np.asarray(speech), expected)
    np.testing.assert_array_equal(speech.take(np.array([3, 0])), expected[[3, 0]])
    assert labels.tolist() == [4, 2, 2, 4]
    with pytest.raises(ValueError, match="only single-frame"):
        speech.without_frame_axis()
    vectors = ScaledFeatures(mapped[:, :1], rows, np.ones(4, int), scaler)
    flat = vectors.without_frame_axis()
    assert flat.shape == (4, 3)
    np.testing.assert_array_equal(flat.take(np.arange(4)), np.asarray(vectors)[:, 0])


def test_rows_of_selects_by_role():
    utts = pd.DataFrame({"utterance_id": ["a", "b", "c"]})
    split = pd.DataFrame(
        {"utterance_id": ["c", "a", "b"], "split": [TEST, TRAIN, TEST]}
    )
    assert rows_of(utts, split, TEST).tolist() == [1, 2]


@pytest.mark.parametrize("speaker_independent", [False, True])
def test_a_class_too_small_to_split_stays_in_training(table, speaker_independent):
    # c1 keeps 3 utterances: one or two per training part, too few to split off.
    small = table[~((table["label_id"] == 1) & (table.index > 42))]
    small = small.assign(speaker=[f"s{i % 6}" for i in range(len(small))])
    folds = assign_folds(
        small, n_folds=2, seed=3, speaker_independent=speaker_independent
    )
    merged = folds.merge(small, on="utterance_id")
    for _, part in merged.groupby("fold"):
        train = part[part["split"] == TRAIN]
        assert set(train["label_id"]) == {0, 1, 2, 3, 4}
        if speaker_independent:
            val = part[part["split"] == VALIDATION]
            assert not set(val["speaker"]) & set(train["speaker"])


def test_a_fold_s_inputs_give_each_role_its_rows():
    rng = np.random.default_rng(6)
    feats = rng.normal(size=(10, 4, 2)).astype(np.float32)
    utterances = pd.DataFrame(
        {
            "utterance_id": [f"u{i}" for i in range(10)],
            "n_frames": np.full(10, 4),
            "tokens": ["a b"] * 10,
            "label_id": np.arange(10) % 3,
        }
    )
    roles = ["train"] * 6 + ["validation"] * 2 + ["test"] * 2
    split = pd.DataFrame(
        {"utterance_id": utterances["utterance_id"][::-1], "fold": 0, "split": roles}
    )
    fold = FoldInputs(
        utterances=utterances,
        acoustic_features=feats,
        split=split,
        feature_scaler={"mean": [0.0, 0.0], "std": [1.0, 1.0]},
        vocabulary=["a", "b"],
        max_tokens=3,
    )
    for role in ("train", "validation", "test"):
        inputs, labels, rows = fold.part(role)
        chosen = split["utterance_id"][split["split"] == role]
        assert sorted(utterances["utterance_id"][rows]) == sorted(chosen)
        assert labels.tolist() == utterances["label_id"][rows].tolist()
        np.testing.assert_array_equal(np.asarray(inputs["speech"]), feats[rows])
        assert inputs["text"].shape == (len(rows), 3)
