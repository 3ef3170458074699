"""Acoustic feature sets on real speech: EmoDB, speaker-independent (prints figures).

    python benchmarks/features_emodb.py [--corpus ../shared/corpora/emodb_dev]
        [--features logmel mfcc functionals broad_functionals egemaps egemaps_lld compare]
        [--seeds 1 2 3]

The 167 anger/happiness/sadness/neutral utterances of the EmoDB development copy
(5 speakers; see ../shared/corpora/README.md), 5 speaker-grouped folds (each
speaker is the test part once; the project's fold assignment with its
validation part for early stopping). For each feature set:

* extraction speed of the preprocessing node (``n_jobs: 1``, after a warm-up on
  two utterances): utterances per second and real-time factor (time / audio);
* the project's speech-only network (conf/base architecture, training settings and
  early stopping; cross-entropy), trained once per fold and seed: UAR per fold
  (mean ± std over folds and seeds), pooled UAR and per-class recall of the pooled
  test predictions;
* a reference: class-balanced logistic regression on the same features
  (utterance vectors as they are; frame sequences as the mean and standard
  deviation of each feature over the valid frames), standardised on the training
  part of each fold.

Run by hand on the shared corpus; not a test (the corpus is not part of the
project).
"""

from __future__ import annotations

import argparse
import logging
import os
import time
import typing
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
import yaml
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import recall_score
from sklearn.preprocessing import StandardScaler

from emotion_aware_loss.config import (
    AcousticConfig,
    LabelConfig,
    ModelConfig,
    TextConfig,
    TrainingConfig,
)
from emotion_aware_loss.corpora.manifest import check_manifest
from emotion_aware_loss.datasets import AudioCorpus
from emotion_aware_loss.evaluation.baselines import acoustic_statistics
from emotion_aware_loss.features.extraction import extract_acoustic_features
from emotion_aware_loss.folds.cross_validation import (
    TEST,
    TRAIN,
    VALIDATION,
    FoldInputs,
    assign_folds,
    fit_fold_transforms,
)
from emotion_aware_loss.folds.model_inputs import prepare_utterances
from emotion_aware_loss.losses.family import make_loss
from emotion_aware_loss.models.network import build_fusion_model
from emotion_aware_loss.training.fitting import fit, select_inputs

ROOT = Path(__file__).resolve().parents[1]
CLASSES = ["anger", "happiness", "sadness", "neutral"]
DROPPED = ["boredom", "fear", "disgust"]
# every feature AcousticConfig accepts except `encoder` (it needs a model file)
FEATURES = [
    name
    for name in typing.get_args(AcousticConfig.model_fields["feature"].annotation)
    if name != "encoder"
]


def load_corpus(folder: Path) -> AudioCorpus:
    """The manifest (no transcripts: EmoDB's sentences are fixed) as a corpus."""
    table = pd.read_csv(folder / "manifest.csv", dtype=str).assign(transcript="")
    manifest, _ = check_manifest(table, str(folder / "manifest.csv"), folder)
    return AudioCorpus(manifest, str(folder / "manifest.csv"))


def base_config() -> tuple[ModelConfig, TrainingConfig]:
    """conf/base's network (speech branch only) and training settings."""
    conf = ROOT / "conf" / "base"
    model = yaml.safe_load((conf / "parameters_model_building.yml").read_text())
    training = yaml.safe_load((conf / "parameters_training.yml").read_text())
    model["model"]["modalities"] = ["speech"]
    return (
        ModelConfig.model_validate(model["model"]),
        TrainingConfig.model_validate(training["training"]),
    )


def network_predictions(
    table: pd.DataFrame,
    features: np.ndarray,
    folds: pd.DataFrame,
    config: AcousticConfig,
    model_config: ModelConfig,
    training: TrainingConfig,
    seed: int,
) -> pd.DataFrame:
    """Out-of-fold predictions of the project's network, one row per utterance."""
    loss = make_loss("cross_entropy", np.eye(len(CLASSES)))
    rows = []
    for fold, split in folds.groupby("fold"):
        scaler, vocabulary = fit_fold_transforms(table, features, split, 10, 1)
        fold_inputs = FoldInputs(table, features, split, scaler, vocabulary, 1)
        x_train, y_train, _ = fold_inputs.part(TRAIN)
        x_val, y_val, _ = fold_inputs.part(VALIDATION)
        x_test, y_test, test_rows = fold_inputs.part(TEST)
        n_frames = 0 if config.utterance_level else features.shape[1]
        initial = build_fusion_model(
            model_config, n_frames, features.shape[2], 1, 12, len(CLASSES)
        )
        model, _ = fit(
            initial,
            loss,
            (x_train, y_train),
            (x_val, y_val),
            training,
            seed + fold,
            class_weights=training.class_weights(y_train, CLASSES),
        )
        predicted = model.predict(select_inputs(model, x_test), verbose=0).argmax(1)
        rows.append(
            pd.DataFrame(
                {"row": test_rows, "fold": fold, "true": y_test, "pred": predicted}
            )
        )
    return pd.concat(rows, ignore_index=True)


def logistic_predictions(
    table: pd.DataFrame, features: np.ndarray, folds: pd.DataFrame
) -> pd.DataFrame:
    """Out-of-fold predictions of class-balanced logistic regression."""
    x = acoustic_statistics(features, table["n_frames"].to_numpy())
    y = table["label_id"].to_numpy()
    index = {u: i for i, u in enumerate(table["utterance_id"])}
    rows = []
    for fold, split in folds.groupby("fold"):
        test = split["split"] == TEST
        train = np.array([index[u] for u in split.loc[~test, "utterance_id"]])
        held = np.array([index[u] for u in split.loc[test, "utterance_id"]])
        scaler = StandardScaler().fit(x[train])
        clf = LogisticRegression(class_weight="balanced", max_iter=5000, C=1.0)
        clf.fit(scaler.transform(x[train]), y[train])
        predicted = clf.predict(scaler.transform(x[held]))
        rows.append(
            pd.DataFrame(
                {"row": held, "fold": fold, "true": y[held], "pred": predicted}
            )
        )
    return pd.concat(rows, ignore_index=True)


def summary(predictions: pd.DataFrame) -> str:
    """UAR per fold (mean ± std), pooled UAR and pooled per-class recall."""
    labels = list(range(len(CLASSES)))
    per_fold = [
        recall_score(p["true"], p["pred"], labels=labels, average="macro")
        for _, p in predictions.groupby(["seed", "fold"])
    ]
    pooled = recall_score(
        predictions["true"], predictions["pred"], labels=labels, average=None
    )
    recalls = " ".join(f"{c[:3]} {r:.3f}" for c, r in zip(CLASSES, pooled, strict=True))
    return (
        f"UAR {np.mean(per_fold):.3f} ± {np.std(per_fold):.3f} (folds), pooled "
        f"{pooled.mean():.3f}; recall {recalls}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--corpus", type=Path, default=ROOT.parent / "shared/corpora/emodb_dev"
    )
    parser.add_argument("--features", nargs="+", default=FEATURES)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1])
    parser.add_argument(
        "--repeats", type=int, default=1, help="extraction timings (median taken)"
    )
    parser.add_argument(
        "--extraction-only", action="store_true", help="time extraction, no models"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)  # retracing notices
    corpus = load_corpus(args.corpus)
    labels = LabelConfig(drop=DROPPED)
    utterances, _ = prepare_utterances(corpus, CLASSES, TextConfig(), labels)
    paths = corpus.select(utterances["utterance_id"].tolist()).manifest["audio_path"]
    seconds = sum(sf.info(p).duration for p in paths)
    model_config, training = base_config()
    print(
        f"{len(utterances)} utterances ({seconds / 60:.1f} min of audio), "
        f"{utterances['speaker'].nunique()} speakers, classes "
        f"{utterances['label'].value_counts().reindex(CLASSES).to_dict()}; "
        f"{os.cpu_count()} CPU cores; seeds {args.seeds}; training "
        f"{training.epochs} epochs max, patience {training.patience}, "
        f"monitor {training.monitor}"
    )
    for feature in args.features:
        config = AcousticConfig(feature=feature)
        warm = utterances.iloc[:2]
        extract_acoustic_features(corpus, warm, config)
        timings = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            features, table = extract_acoustic_features(corpus, utterances, config)
            timings.append(time.perf_counter() - start)
        elapsed = float(np.median(timings))
        print(
            f"\n== {feature}: {features.shape[1:]} (frames, features) per utterance; "
            f"extraction {len(table) / elapsed:.1f} utterances/s, real-time factor "
            f"{elapsed / seconds:.4f} (median of {args.repeats})"
        )
        if args.extraction_only:
            continue
        network, logistic, train_times = [], [], []
        for seed in args.seeds:
            folds = assign_folds(table, n_folds=5, seed=seed, speaker_independent=True)
            start = time.perf_counter()
            network.append(
                network_predictions(
                    table, features, folds, config, model_config, training, seed
                ).assign(seed=seed)
            )
            train_times.append(time.perf_counter() - start)
            logistic.append(
                logistic_predictions(table, features, folds).assign(seed=seed)
            )
        print(
            f"network:  {summary(pd.concat(network))} "
            f"({np.mean(train_times):.0f} s per seed)"
        )
        print(f"logistic: {summary(pd.concat(logistic))}")


if __name__ == "__main__":
    main()
