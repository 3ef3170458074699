"""Linear reference models on the same folds as the network.

A network earns its cost only if it beats a simple, strong model on the same
inputs. The references here are class-balanced logistic regressions (scikit-learn):

* ``linear_speech``: on utterance-level acoustic statistics (the mean and standard
  deviation over the valid frames of whatever frame features the run extracted, or
  the utterance vector itself for functionals and precomputed vectors);
* ``linear_text``: on TF-IDF of the normalised transcripts (character n-grams
  within word boundaries by default, which suit Persian and English alike);
* ``linear_fusion``: the late fusion of the two, the mean of their probabilities.

They see the fold's utterances in the same roles as the network: fitted on the
training part, with the regularisation strength ``C`` chosen from a grid by UAR
on the validation part (as early stopping chooses the network's epoch), and
scored on the test part, which they never see before.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sklearn.base import TransformerMixin
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import recall_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from emotion_aware_loss.config import BaselinesConfig

logger = logging.getLogger(__name__)

SPEECH, TEXT, FUSION = "linear_speech", "linear_text", "linear_fusion"


def baseline_names(modalities: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """The linear references of a model with ``modalities``.

    Returns:
        ``linear_speech`` and/or ``linear_text``, plus ``linear_fusion`` when both
        modalities are used, in that order.
    """
    names = []
    if "speech" in modalities:
        names.append(SPEECH)
    if "text" in modalities:
        names.append(TEXT)
    if len(names) == 2:
        names.append(FUSION)
    return tuple(names)


def reference_baseline(modalities: list[str] | tuple[str, ...]) -> str:
    """The linear reference the network is compared with (same modalities)."""
    return baseline_names(modalities)[-1]


def acoustic_statistics(features: np.ndarray, n_frames: np.ndarray) -> np.ndarray:
    """Utterance-level statistics of ``(n, frames, features)`` acoustic arrays.

    Frame sequences give the mean and standard deviation of each feature over the
    utterance's valid frames (padding ignored); one-frame arrays (functionals,
    precomputed vectors) are returned as they are.

    Returns:
        ``(n, features)`` or ``(n, 2 * features)`` float64 array.
    """
    if features.shape[1] == 1:
        return features[:, 0, :].astype(np.float64)
    valid = (np.arange(features.shape[1])[None, :] < n_frames[:, None])[..., None]
    count = np.maximum(valid.sum(axis=1), 1)
    mean = np.where(valid, features, 0.0).sum(axis=1) / count
    var = np.where(valid, (features - mean[:, None, :]) ** 2, 0.0).sum(axis=1) / count
    return np.concatenate([mean, np.sqrt(var)], axis=1)


@dataclass(frozen=True)
class FoldData:
    """One fold's inputs of one kind, split by role."""

    train: object
    validation: object
    test: object


def _uar(labels: np.ndarray, predicted: np.ndarray) -> float:
    return float(recall_score(labels, predicted, average="macro", zero_division=0.0))


def _fit_best(
    features: Callable[[], TransformerMixin],
    data: FoldData,
    labels: FoldData,
    config: BaselinesConfig,
    n_classes: int,
    seed: int,
    name: str,
) -> np.ndarray:
    """Fit ``features`` -> balanced logistic regression once per ``C``, keep the best
    on validation UAR and predict the test part.

    Args:
        features: Makes a fresh (unfitted) feature step, fitted with each model.

    Returns:
        ``(n_test, n_classes)`` class probabilities.
    """
    best, best_uar = None, -1.0
    for c in config.c_grid:
        model = make_pipeline(
            features(),
            LogisticRegression(
                C=c,
                class_weight="balanced",
                max_iter=config.max_iter,
                random_state=seed,
            ),
        )
        try:
            model.fit(data.train, labels.train)
        except ValueError as exc:  # e.g. no n-gram left after min_df
            raise ValueError(f"{name} baseline cannot be fitted: {exc}") from exc
        # Without a validation part (or a one-class one) the first C stands.
        uar = (
            _uar(labels.validation, model.predict(data.validation))
            if len(labels.validation)
            else 0.0
        )
        if uar > best_uar:
            best, best_uar = model, uar
    logger.info("%s: C=%g (validation UAR %.4f)", name, best[-1].C, max(best_uar, 0.0))
    probabilities = np.zeros((len(labels.test), n_classes))
    probabilities[:, best[-1].classes_] = best.predict_proba(data.test)
    return probabilities


def speech_baseline(
    statistics: FoldData,
    labels: FoldData,
    config: BaselinesConfig,
    n_classes: int,
    seed: int,
) -> np.ndarray:
    """Standardised acoustic statistics -> balanced logistic regression."""
    return _fit_best(
        StandardScaler, statistics, labels, config, n_classes, seed, SPEECH
    )


def text_baseline(
    texts: FoldData,
    labels: FoldData,
    config: BaselinesConfig,
    n_classes: int,
    seed: int,
) -> np.ndarray:
    """TF-IDF of the transcripts (fitted on the training part) -> logistic regression."""
    tfidf = config.text

    def vectorizer() -> TfidfVectorizer:
        return TfidfVectorizer(
            analyzer=tfidf.analyzer,
            ngram_range=tuple(tfidf.ngram_range),
            min_df=tfidf.min_df,
            max_features=tfidf.max_features,
            sublinear_tf=tfidf.sublinear_tf,
            # transcripts are already normalised (and case-folded if asked)
            lowercase=False,
            **({"token_pattern": r"\S+"} if tfidf.analyzer == "word" else {}),
        )

    return _fit_best(vectorizer, texts, labels, config, n_classes, seed, TEXT)
