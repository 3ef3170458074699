"""Nodes of the inference pipeline."""

from __future__ import annotations

import pandas as pd

from emotion_aware_loss.corpora.corpus import AudioCorpus
from emotion_aware_loss.inference.prediction import predict_corpus
from emotion_aware_loss.inference.recognizer import EmotionRecognizer


def predict_emotions(
    inference_corpus: AudioCorpus, final_model: EmotionRecognizer
) -> pd.DataFrame:
    """Class probabilities and both decisions for every new utterance.

    Args:
        inference_corpus: The utterances to classify (no labels needed).
        final_model: The saved final model with its preprocessing state.

    Returns:
        ``utterance_id, prob_<class>..., predicted_argmax,
        predicted_min_expected_cost``.
    """
    return predict_corpus(final_model, inference_corpus)
