"""A corpus's utterance table (labels mapped to the configured classes,
transcripts normalised) and the ``input_spec`` every later stage reads the model's
input shapes from: shared by the audio and the precomputed-features paths."""

from __future__ import annotations

import logging
from collections import Counter

import numpy as np
import pandas as pd

from emotion_aware_loss.config import LabelConfig, TextConfig
from emotion_aware_loss.corpora.corpus import AudioCorpus, CorpusError
from emotion_aware_loss.features.text import RESERVED, normalise_text
from emotion_aware_loss.models.inputs import InputSpec

logger = logging.getLogger(__name__)


def prepare_utterances(
    corpus: AudioCorpus, classes: list[str], text: TextConfig, labels: LabelConfig
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Map labels to classes, attach label ids and normalised tokens.

    Args:
        corpus: The loaded corpus.
        classes: Configured class order; label ids follow it.
        text: Text normalisation parameters.
        labels: Label renaming and the labels to leave out.

    Returns:
        ``utterance_id, speaker, label, label_id, transcript, tokens`` of the kept
        utterances, and ``utterance_id, label, reason`` of the skipped ones (those
        the corpus dataset left out, dropped labels and, if asked, empty
        transcripts).

    Raises:
        CorpusError: If a class is also listed to be dropped, an utterance's
            label (after mapping) is neither a class nor dropped, or a transcript
            is empty while ``text.empty_transcripts`` is ``error``.
    """
    both = sorted(set(classes) & set(labels.drop))
    if both:
        raise CorpusError(
            f"preprocessing.labels.drop lists {both}, which are also configured "
            f"classes {classes}; remove them from one of the two"
        )
    table = corpus.manifest
    label = table["label"].map(lambda x: labels.mapping.get(x, x))
    dropped = label.isin(labels.drop)
    unknown = ~dropped & ~label.isin(classes)
    if unknown.any():
        first = table.loc[unknown].iloc[0]
        raise CorpusError(
            f"{corpus.source}: utterance {first['utterance_id']!r} has label "
            f"{first['label']!r}, not one of the configured classes {classes} "
            f"({int(unknown.sum())} such utterance(s)); map it with "
            "preprocessing.labels.mapping or leave it out with "
            "preprocessing.labels.drop"
        )
    empty = table["transcript"].astype(str).str.strip() == ""
    if empty.any() and text.empty_transcripts == "error":
        first = table.loc[empty, "utterance_id"].iloc[0]
        raise CorpusError(
            f"{corpus.source}: utterance {first!r} has an empty transcript "
            f"({int(empty.sum())} such utterance(s)); set "
            "preprocessing.text.empty_transcripts to keep or skip"
        )
    if empty.any() and text.empty_transcripts == "keep":
        logger.warning("%d utterance(s) have an empty transcript", int(empty.sum()))
    skip_empty = empty & (text.empty_transcripts == "skip") & ~dropped
    reasons = pd.Series("", index=table.index)
    reasons[dropped] = "label in preprocessing.labels.drop"
    reasons[skip_empty] = "empty transcript"
    left_out = dropped | skip_empty
    skipped = pd.concat(
        [
            getattr(corpus, "skipped", None),
            pd.DataFrame(
                {
                    "utterance_id": table.loc[left_out, "utterance_id"].astype(str),
                    "label": label[left_out].astype(str),
                    "reason": reasons[left_out],
                }
            ),
        ],
        ignore_index=True,
    )
    if left_out.any():
        logger.warning(
            "Left out %d utterance(s): %s (listed in skipped_utterances)",
            int(left_out.sum()),
            reasons[left_out].value_counts().to_dict(),
        )
    kept = table.loc[~left_out]
    label = label[~left_out]
    index = {name: i for i, name in enumerate(classes)}
    out = pd.DataFrame(
        {
            "utterance_id": kept["utterance_id"].astype(str),
            "speaker": kept["speaker"].astype(str),
            "label": label.astype(str),
            "label_id": label.map(index).astype("int64"),
            "transcript": kept["transcript"].astype(str),
            "tokens": [
                normalise_text(t, text.lowercase, text.punctuation == "keep")
                for t in kept["transcript"]
            ],
        }
    ).reset_index(drop=True)
    counts = out["label"].value_counts().reindex(classes, fill_value=0)
    logger.info("Class counts: %s", counts.to_dict())
    return out, skipped


def corpus_vocabulary_size(table: pd.DataFrame, text: TextConfig) -> int:
    """How many token ids a vocabulary of this corpus can need.

    The distinct tokens seen at least ``min_count`` times in the whole corpus, at
    most ``max_vocab_size``: every fold's vocabulary (fitted on a part of it) and
    the final model's (on all of it) fit. A corpus with a small vocabulary (the
    demo corpus has 76 words) then gets a small embedding and bag of words rather
    than ``max_vocab_size`` ids that no utterance uses. Only which words occur is
    read, never a label.
    """
    if "tokens" not in table:
        return text.max_vocab_size
    counts = Counter(
        tok for tokens in table["tokens"].astype(str) for tok in tokens.split()
    )
    seen = sum(1 for count in counts.values() if count >= text.min_count)
    return max(1, min(text.max_vocab_size, seen))


def corpus_sequence_length(table: pd.DataFrame, text: TextConfig) -> int:
    """How many token ids a transcript of this corpus is encoded as.

    The longest transcript of the whole corpus (in tokens), at most ``max_tokens``.
    A corpus of short transcripts (the demo corpus has at most 10 tokens) then gets
    short sequences rather than ``max_tokens`` positions of padding that the text
    branch would convolve on every step (about a fifth of the demo run's training
    time). A transcript longer than this at prediction time is cut to it, as one
    longer than ``max_tokens`` always was. Reads no label.
    """
    if "tokens" not in table or table.empty:
        return text.max_tokens
    longest = int(table["tokens"].astype(str).str.split().str.len().max())
    return max(1, min(text.max_tokens, longest))


def input_spec(
    acoustic_features: np.ndarray,
    model_input_table: pd.DataFrame,
    text: TextConfig,
    classes: list[str],
    vector: bool,
    feature: str,
    text_features: np.ndarray | None = None,
    extractors: dict | None = None,
) -> InputSpec:
    """The ``input_spec`` of :func:`describe_model_inputs` (also for precomputed data)."""
    _, n_frames, n_features = acoustic_features.shape
    embedded = text_features is not None and text_features.size > 0
    return InputSpec(
        classes=tuple(classes),
        n_frames=0 if vector else int(n_frames),
        n_features=int(n_features),
        max_tokens=corpus_sequence_length(model_input_table, text),
        vocab_size=corpus_vocabulary_size(model_input_table, text) + RESERVED,
        speech=bool(model_input_table["n_frames"].gt(0).any()),
        acoustic_feature=feature,
        text_input="embeddings" if embedded else "tokens",
        text_features=int(text_features.shape[-1]) if embedded else 0,
        text_frames=(
            int(text_features.shape[1]) if embedded and text_features.ndim == 3 else 0
        ),
        extractors=extractors or {},
    )
