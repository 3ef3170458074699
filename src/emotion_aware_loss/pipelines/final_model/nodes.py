"""Nodes of the final-model pipeline: one variant trained on every utterance."""

from __future__ import annotations

import logging

import keras
import numpy as np
import pandas as pd

from emotion_aware_loss.config import (
    AcousticConfig,
    FinalModelConfig,
    LossConfig,
    ModelConfig,
    TextConfig,
    TrainingConfig,
)
from emotion_aware_loss.datasets.word_vectors import WordVectors, embedding_matrix
from emotion_aware_loss.features.acoustic import feature_dimension
from emotion_aware_loss.features.encoders import check_extractors, with_absolute_paths
from emotion_aware_loss.folds.cross_validation import TRAIN, fit_fold_transforms
from emotion_aware_loss.inference.recognizer import EmotionRecognizer
from emotion_aware_loss.models.inputs import InputSpec
from emotion_aware_loss.training.plan import Fold, Variant, train_for_epochs

logger = logging.getLogger(__name__)


def final_epochs(rule: str | int, histories: dict[str, dict]) -> int:
    """How many epochs the final model trains for.

    Args:
        rule: A count, or ``median_best``: the median over folds (and over the
            members of an ensemble) of the epoch early stopping restored
            (``best_epoch``), rounded half up.
        histories: The variant's training history of each fold.

    Raises:
        ValueError: If ``median_best`` is asked for and no history has a
            ``best_epoch``.
    """
    if isinstance(rule, int):
        return rule
    best = [
        int(epoch)
        for h in histories.values()
        # an ensemble's history holds every member's best epoch
        for epoch in h.get("member_best_epochs") or h.get("best_epoch") or []
    ]
    if not best:
        raise ValueError(
            "final_model.epochs is median_best, but no fold history of the variant "
            "records a best_epoch; run the training pipeline first or give a count"
        )
    return max(1, int(np.floor(np.median(best) + 0.5)))


def _check_features_from_audio(
    input_spec: InputSpec, acoustic: AcousticConfig, text: TextConfig | None = None
) -> None:
    """Refuse features that the preprocessing settings cannot recompute.

    The encoder files (and feature kinds) recorded when the features were made
    must be the ones configured now, or new inputs would not match the model's.
    """
    check_extractors(
        input_spec.extractors,
        acoustic,
        text or TextConfig(),
        "the model's input features (input_spec)",
    )
    if not input_spec.speech:
        return  # a text-only corpus: no acoustic input to recompute
    if input_spec.acoustic_feature == "precomputed":
        raise ValueError(
            "the acoustic features are precomputed (the from_features pipeline): "
            "new audio could not be turned into them, so there is no final model to "
            "use on new files; final_model needs the preprocessing pipeline's features"
        )
    vector = acoustic.utterance_level
    expected = (0 if vector else acoustic.max_frames, feature_dimension(acoustic))
    found = (input_spec.n_frames, input_spec.n_features)
    if found != expected:
        raise ValueError(
            f"the acoustic features have (frames, features) {found}, but "
            f"preprocessing.acoustic (feature={acoustic.feature}) gives {expected}: "
            "they were not extracted from audio by this project (e.g. the "
            "from_features pipeline), so new audio could not be fed to a final "
            "model; final_model needs the preprocessing pipeline's features"
        )


def train_final_model(
    initial_model: keras.Model,
    model_input_table: pd.DataFrame,
    acoustic_features: np.ndarray,
    word_vectors: WordVectors,
    loss_similarity: pd.DataFrame,
    similarity_matrix: pd.DataFrame,
    input_spec: InputSpec,
    final_model: FinalModelConfig,
    loss_variants: dict,
    training: TrainingConfig,
    text: TextConfig,
    acoustic: AcousticConfig,
    model: ModelConfig,
    seed: int,
    text_features: np.ndarray | None = None,
    speaker_statistics: dict | None = None,
    **histories: dict,
) -> tuple[EmotionRecognizer, dict]:
    """Train the chosen variant on every utterance and bundle its preprocessing.

    The feature scaler and vocabulary are fitted on all utterances (as each fold's
    are on its training part), pre-trained word vectors are looked up for that
    vocabulary when configured, and the network is trained from the shared initial
    weights with the variant's loss for a fixed number of epochs (no validation
    part is held out: cross-validation already chose the length).

    Args:
        initial_model: The untrained network.
        model_input_table: One row per utterance (labels, tokens, ``n_frames``).
        acoustic_features: Unscaled acoustic features of every utterance.
        word_vectors: Pre-trained vectors (or none).
        loss_similarity: The matrix the variant trains with.
        similarity_matrix: The hand-set matrix (for min-expected-cost decisions).
        input_spec: Input shapes and classes.
        final_model: Variant and epochs rule.
        loss_variants: The ``loss_variants`` block.
        training: Optimiser and batch settings.
        text: Vocabulary settings.
        acoustic: The acoustic settings the features were made with.
        model: Architecture (for the embedding width).
        seed: The run seed.
        text_features: A frozen text encoder's embeddings of every utterance
            (empty: the model takes token ids).
        speaker_statistics: The per-speaker normalisation's statistics (empty
            when off); the corpus's go into the bundle, for new speakers with too
            few utterances.
        **histories: The variant's history of each fold (``fold_<k>``).

    Returns:
        The recognizer and a record of the training (variant, epochs and how they
        were chosen, per-epoch loss and accuracy).

    Raises:
        ValueError: If the variant is not configured, or the features were not
            extracted from audio with ``preprocessing.acoustic``.
    """
    final_model.check_variant(loss_variants)
    _check_features_from_audio(input_spec, acoustic, text)
    loss = LossConfig.model_validate(loss_variants[final_model.variant])
    epochs = final_epochs(final_model.epochs, histories)
    everything = pd.DataFrame(
        {"utterance_id": model_input_table["utterance_id"], "split": TRAIN}
    )
    scaler, vocabulary = fit_fold_transforms(
        model_input_table,
        acoustic_features,
        everything,
        max_vocab_size=text.max_vocab_size,
        min_count=text.min_count,
    )
    embeddings = embedding_matrix(
        word_vectors, vocabulary, input_spec, model.text.embedding_dim, seed
    )
    rows = np.arange(len(model_input_table))
    logger.info(
        "Training the final %s model (%s) on %d utterances for %d epoch(s)",
        final_model.variant,
        loss.describe(),
        len(rows),
        epochs,
    )
    network, history = train_for_epochs(
        initial_model,
        model_input_table,
        acoustic_features,
        Fold("all", everything.assign(fold=0), scaler, vocabulary, embeddings),
        input_spec,
        training,
        Variant(final_model.variant, loss, {"all": loss_similarity}),
        epochs,
        seed,
        text_features,
    )
    details = {
        "epochs": epochs,
        "epochs_rule": final_model.epochs,
        "fold_best_epochs": {
            fold: h.get("best_epoch", [None])[0] for fold, h in histories.items()
        },
        "n_utterances": len(rows),
        "seed": seed,
    }
    # Encoder files are found from any working directory the bundle is used in.
    acoustic, text = with_absolute_paths(acoustic, text)
    recognizer = EmotionRecognizer(
        model=network,
        classes=list(input_spec.classes),
        feature_scaler=scaler,
        vocabulary=vocabulary,
        acoustic=acoustic,
        text=text,
        input_spec=input_spec,
        similarity=similarity_matrix.to_numpy(dtype=float),
        variant=final_model.variant,
        loss=loss,
        details=details,
        speaker_statistics=(
            {
                "min_utterances": speaker_statistics["min_utterances"],
                "corpus": speaker_statistics["corpus"],
            }
            if speaker_statistics
            else {}
        ),
    )
    return recognizer, {"variant": final_model.variant, **details, **history}
