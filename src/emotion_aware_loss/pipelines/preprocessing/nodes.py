"""Nodes of the preprocessing pipeline: corpus -> model inputs."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from functools import partial

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from emotion_aware_loss.config import AcousticConfig, LabelConfig, TextConfig
from emotion_aware_loss.datasets import AudioCorpus, CorpusError
from emotion_aware_loss.descriptors import broad_functionals
from emotion_aware_loss.encoders import (
    encode_waveform,
    extractor_record,
    text_features_of,
)
from emotion_aware_loss.feature_store import NpyWriter
from emotion_aware_loss.features import (
    OPENSMILE_FEATURES,
    feature_dimension,
    frame_features,
    opensmile_features,
    padded_rows,
    utterance_functionals,
)
from emotion_aware_loss.progress import track
from emotion_aware_loss.similarity import validate_similarity
from emotion_aware_loss.speakers import normalise_speakers
from emotion_aware_loss.text import RESERVED, normalise_text

logger = logging.getLogger(__name__)


def validate_similarity_matrix(
    emotion_similarity: pd.DataFrame, classes: list[str]
) -> pd.DataFrame:
    """Check the hand-set similarity matrix and order it like ``classes``.

    Args:
        emotion_similarity: Labelled square table from the catalog.
        classes: Configured class order.

    Returns:
        The validated matrix with rows and columns in class order.
    """
    return validate_similarity(
        emotion_similarity, classes, source="emotion_similarity (catalog)"
    )


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


def extract_acoustic_features(
    corpus: AudioCorpus, utterances: pd.DataFrame, acoustic: AcousticConfig
) -> tuple[np.ndarray, pd.DataFrame]:
    """Acoustic features of every utterance: frames padded or cut, or one vector.

    Audio is read one utterance at a time through the corpus dataset. The kind
    (``acoustic.feature``): librosa log-mel/MFCC frames, the project's functionals
    (68 values) or broad functionals (:mod:`emotion_aware_loss.descriptors`), openSMILE
    eGeMAPS/ComParE functionals or eGeMAPS low-level descriptors, or a frozen ONNX
    speech encoder's hidden states (pooled or frames).

    Args:
        corpus: The loaded corpus; only the utterances in ``utterances`` are read.
        utterances: Output of ``prepare_utterances``.
        acoustic: Feature parameters.

    Returns:
        ``(n, max_frames, n_features)`` float32 features (``(n, 1, n_features)``
        for utterance vectors), and ``utterances`` with ``n_frames`` (valid
        frames per utterance) added: the model-input table.

    Raises:
        MissingExtraError: If the feature needs an extra that is not installed.
        EncoderError: If the configured encoder file is missing or unusable.
    """
    n_features = feature_dimension(acoustic)
    corpus = corpus.select(utterances["utterance_id"].tolist())
    if not corpus.has_audio:
        logger.warning(
            "%s has no audio column: text-only corpus, no acoustic features "
            "(the model needs model.modalities: [text])",
            corpus.source,
        )
        empty = np.zeros((len(utterances), 1, n_features), dtype=np.float32)
        return empty, utterances.assign(n_frames=0)
    sequences = track(  # utterances per second in the run's progress display
        corpus.map_audio(
            partial(_extractor(acoustic.feature), config=acoustic),
            acoustic.sample_rate,
            trim_top_db=acoustic.trim_top_db,
            n_jobs=acoustic.n_jobs,
            batch_size=acoustic.batch_size,
            prefer=_workers(acoustic),
        ),
        len(corpus),
        "utt",
    )
    # Each utterance's mel filterbank is one small matrix product, which threaded
    # BLAS only slows down (ten times, measured, on a busy two-core machine); one
    # thread computes the same values. Rows go to disk as they arrive.
    with threadpool_limits(1, user_api="blas"):
        if acoustic.utterance_level:
            # One vector per utterance, stored as a single "frame" so the per-fold
            # scaler treats both kinds alike; the model gets it without a time axis.
            features, lengths = _write_padded(sequences, corpus, 1, n_features, "head")
            return features, utterances.assign(n_frames=lengths)
        features, lengths = _write_padded(
            sequences, corpus, acoustic.max_frames, n_features, acoustic.crop
        )
    truncated = int((lengths >= acoustic.max_frames).sum())
    if truncated:
        logger.warning(
            "%d of %d utterances are longer than max_frames=%d and were truncated",
            truncated,
            len(lengths),
            acoustic.max_frames,
        )
    return features, utterances.assign(n_frames=lengths)


def extract_model_features(
    corpus: AudioCorpus, utterances: pd.DataFrame, acoustic: AcousticConfig
) -> tuple[np.ndarray, pd.DataFrame, dict]:
    """:func:`extract_acoustic_features`, then the per-speaker normalisation.

    With ``acoustic.speaker_normalisation`` each speaker's features are
    standardised with that speaker's own statistics (or, for a speaker with fewer
    than ``speaker_min_utterances`` utterances, the corpus's;
    :mod:`emotion_aware_loss.speakers`).

    Returns:
        The features, the model-input table and the statistics used
        (``speaker_statistics``; empty without normalisation).
    """
    features, table = extract_acoustic_features(corpus, utterances, acoustic)
    features, statistics = normalise_speakers(features, table, acoustic)
    return features, table, statistics


def _write_padded(
    sequences: Iterable[np.ndarray],
    corpus: AudioCorpus,
    max_frames: int,
    n_features: int,
    crop: str,
) -> tuple[np.ndarray, np.ndarray]:
    """Pad each utterance's frames and write them to disk as they arrive.

    The rows go to a temporary ``.npy`` file (:class:`NpyWriter`), so the feature
    array of the corpus is never held in memory; the catalog's ``NumpyDataset``
    copies the file when saving it.

    Returns:
        The features (memory-mapped) and the valid frames of each utterance.

    Raises:
        CorpusError: If features hold NaN or inf (e.g. from float audio holding
            NaN), naming the first utterances.
    """
    n = len(corpus)
    lengths = np.zeros(n, dtype=np.int32)
    bad = []
    with NpyWriter((n, max_frames, n_features)) as writer:
        rows = padded_rows(sequences, max_frames, n_features, crop)
        for i, (row, length) in enumerate(rows):
            writer.append(row[None])
            lengths[i] = length
            if not np.isfinite(row).all():
                bad.append(i)
        if bad:
            ids = corpus.manifest["utterance_id"].iloc[bad[:5]].tolist()
            raise CorpusError(
                f"{corpus.source}: acoustic features of {len(bad)} utterance(s) hold "
                f"NaN or inf (first: {ids}); check their audio for NaN/inf samples"
            )
        return writer.finish(), lengths


def _functional_frame(waveform: np.ndarray, config: AcousticConfig) -> np.ndarray:
    return utterance_functionals(waveform, config)[None, :]


def _broad_functional_frame(waveform: np.ndarray, config: AcousticConfig) -> np.ndarray:
    return broad_functionals(waveform, config)[None, :]


def _workers(acoustic: AcousticConfig) -> str:
    """``acoustic.workers``, except processes for openSMILE, whose extractor (one
    per process) is not shared between threads."""
    return "processes" if acoustic.feature in OPENSMILE_FEATURES else acoustic.workers


def _extractor(feature: str):
    """The per-waveform function of a feature kind: ``(frames, features)`` out."""
    if feature == "functionals":
        return _functional_frame
    if feature == "broad_functionals":
        return _broad_functional_frame
    if feature in OPENSMILE_FEATURES:
        return opensmile_features
    if feature == "encoder":
        return encode_waveform
    return frame_features


def encode_transcripts(utterances: pd.DataFrame, text: TextConfig) -> np.ndarray:
    """Embeddings of the transcripts by a frozen, pre-trained ONNX text encoder.

    Args:
        utterances: Output of ``prepare_utterances`` (its raw ``transcript``
            column is encoded: the encoder's own tokenizer handles case and
            punctuation).
        text: Text parameters; ``text.encoder.path`` names the encoder.

    Returns:
        ``(n, dim)`` pooled or ``(n, max_length, dim)`` token embeddings, float32,
        in the order of ``utterances``; without a text encoder ``(n, 0)`` (the
        model then trains its own embeddings of token ids).

    Raises:
        CorpusError: If an embedding holds NaN or inf (naming the utterance).
    """
    features = text_features_of(utterances["transcript"].astype(str).tolist(), text)
    if features.size:
        bad = np.flatnonzero(~np.isfinite(features.reshape(len(features), -1)).all(1))
        if len(bad):
            ids = utterances["utterance_id"].iloc[bad[:5]].tolist()
            raise CorpusError(
                f"the text encoder {text.encoder.path} gave NaN or inf embeddings "
                f"for {len(bad)} utterance(s) (first: {ids})"
            )
        logger.info(
            "Encoded %d transcript(s) with %s: %s per utterance",
            len(features),
            text.encoder.path,
            features.shape[1:],
        )
    return features


def describe_model_inputs(
    acoustic_features: np.ndarray,
    model_input_table: pd.DataFrame,
    text_features: np.ndarray,
    acoustic: AcousticConfig,
    text: TextConfig,
    classes: list[str],
) -> dict[str, object]:
    """Shapes the model is built for, and what made its inputs.

    Returns:
        ``speech`` (whether there is audio: false for a text-only corpus),
        ``n_frames`` (0 for utterance-level vectors, which have no time axis),
        ``n_features``, ``acoustic_feature`` (its kind), ``max_tokens``,
        ``vocab_size`` (the largest vocabulary the corpus can give, at most
        ``max_vocab_size``, plus the padding and out-of-vocabulary ids),
        ``classes``, the text input (``text_input``: ``tokens`` or
        ``embeddings``, with ``text_features`` values per token or utterance and
        ``text_frames``, 0 for pooled embeddings) and ``extractors`` (feature
        library and version, encoder files with their SHA-256).
    """
    # A text-only corpus (no audio read) records no speech extractor.
    has_audio = bool(model_input_table["n_frames"].gt(0).any())
    extractors = extractor_record(acoustic, text, speech=has_audio)
    return input_spec(
        acoustic_features,
        model_input_table,
        text,
        classes,
        vector=acoustic.utterance_level,
        feature=acoustic.feature,
        text_features=text_features,
        extractors=extractors,
    )


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
) -> dict[str, object]:
    """The ``input_spec`` of :func:`describe_model_inputs` (also for precomputed data)."""
    _, n_frames, n_features = acoustic_features.shape
    embedded = text_features is not None and text_features.size > 0
    return {
        "speech": bool(model_input_table["n_frames"].gt(0).any()),
        "n_frames": 0 if vector else int(n_frames),
        "n_features": int(n_features),
        "acoustic_feature": feature,
        "max_tokens": corpus_sequence_length(model_input_table, text),
        "vocab_size": corpus_vocabulary_size(model_input_table, text) + RESERVED,
        "classes": list(classes),
        "text_input": "embeddings" if embedded else "tokens",
        "text_features": int(text_features.shape[-1]) if embedded else 0,
        "text_frames": (
            int(text_features.shape[1]) if embedded and text_features.ndim == 3 else 0
        ),
        "extractors": extractors or {},
    }
