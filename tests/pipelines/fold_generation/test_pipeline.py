import numpy as np

from emotion_aware_loss.pipelines.fold_generation import create_pipeline

from ...conftest import run_pipeline


def test_folds_and_train_only_transforms(preprocessed, stage_inputs, two_fold_layout):
    out = run_pipeline(create_pipeline(), stage_inputs)
    assert set(out) == {
        "fold_assignments",
        "fold_0.split",
        "fold_1.split",
        "fold_0.feature_scaler",
        "fold_1.feature_scaler",
        "fold_0.vocabulary",
        "fold_1.vocabulary",
        "fold_0.embedding_matrix",
        "fold_1.embedding_matrix",
    }
    assert out["fold_0.embedding_matrix"].size == 0  # no vectors: random embeddings
    table = out["fold_assignments"]
    assert len(table) == 2 * 60
    for k in range(2):
        split = out[f"fold_{k}.split"]
        assert (split["fold"] == k).all() and len(split) == 60
        assert set(split["split"]) == {"train", "validation", "test"}
        # vocabulary holds only words of the training part
        train_ids = set(split.loc[split["split"] == "train", "utterance_id"])
        utts = preprocessed["model_input_table"]
        train_words = {
            w
            for t in utts.loc[utts["utterance_id"].isin(train_ids), "tokens"]
            for w in t.split()
        }
        assert set(out[f"fold_{k}.vocabulary"]) <= train_words
        assert len(out[f"fold_{k}.feature_scaler"]["mean"]) == 16
    assert not np.allclose(
        out["fold_0.feature_scaler"]["mean"], out["fold_1.feature_scaler"]["mean"]
    )


def test_pre_trained_vectors_fill_the_fold_embeddings(
    preprocessed, text_config, model_config, tmp_path
):
    import pytest

    from emotion_aware_loss.datasets import WordVectorsDataset, WordVectorsError
    from emotion_aware_loss.pipelines.fold_generation.nodes import (
        embedding_matrix_of_fold,
    )

    dim = model_config.text.embedding_dim
    vocabulary = ["happy", "sad", "zebra"]
    lines = [
        f"3 {dim}",
        "Happy " + " ".join(["1.0"] * dim),
        "sad " + " ".join(["2.0"] * dim),
    ]
    lines.append("happy " + " ".join(["9.0"] * dim))  # a later duplicate is ignored
    (tmp_path / "w.vec").write_text("\n".join(lines) + "\n", encoding="utf-8")
    vectors = WordVectorsDataset(str(tmp_path / "w.vec")).load()
    spec = preprocessed["input_spec"]
    matrix = embedding_matrix_of_fold(vocabulary, vectors, spec, model_config, 0)
    assert matrix.shape == (spec.vocab_size, dim)
    assert not matrix[:2].any()  # padding and out-of-vocabulary ids
    np.testing.assert_array_equal(matrix[2], 1.0)  # "Happy" normalised to "happy"
    np.testing.assert_array_equal(matrix[3], 2.0)
    assert matrix[4].any() and not (matrix[4] == matrix[4][0]).all()  # random
    (tmp_path / "bad.vec").write_text("a 1 2 3\nb 1 2\n")
    with pytest.raises(WordVectorsError, match="bad.vec, line 2: 2 values, expected 3"):
        WordVectorsDataset(str(tmp_path / "bad.vec")).load().lookup(["b"])
    (tmp_path / "small.vec").write_text("happy 1 2\n")
    small = WordVectorsDataset(str(tmp_path / "small.vec")).load()
    with pytest.raises(WordVectorsError, match="2-dimensional vectors but"):
        embedding_matrix_of_fold(vocabulary, small, spec, model_config, 0)
