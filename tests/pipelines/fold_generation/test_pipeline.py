import numpy as np

from emotion_aware_loss.pipelines.fold_generation import create_pipeline

from ...conftest import run_pipeline


def test_folds_and_train_only_transforms(
    preprocessed, cv_config, text_config, two_fold_layout
):
    out = run_pipeline(
        create_pipeline(),
        {
            "model_input_table": preprocessed["model_input_table"],
            "acoustic_features": preprocessed["acoustic_features"],
            "params:cross_validation": cv_config,
            "params:seed": 1,
            "params:preprocessing.text": text_config,
        },
    )
    assert set(out) == {
        "fold_assignments",
        "fold_0.split",
        "fold_1.split",
        "fold_0.feature_scaler",
        "fold_1.feature_scaler",
        "fold_0.vocabulary",
        "fold_1.vocabulary",
    }
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
