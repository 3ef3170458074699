"""Emotion predictions for new utterances with a saved final model.

The ``inference`` pipeline and :func:`predict` share :func:`predict_corpus`: audio
is read and its features extracted exactly as the ``preprocessing`` pipeline does
(with the acoustic settings saved in the recognizer), transcripts are normalised
the same way (or embedded by the saved text encoder), and the recognizer's scaler
and vocabulary turn both into model inputs.

    >>> from emotion_aware_loss import predict
    >>> predict(["new/a.wav", "new/b.wav"], ["what a day", "leave me alone"])
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from emotion_aware_loss.corpora.corpus import AudioCorpus, CorpusError
from emotion_aware_loss.corpora.manifest import check_manifest
from emotion_aware_loss.features.encoders import text_features_of
from emotion_aware_loss.features.extraction import extract_acoustic_features
from emotion_aware_loss.inference.recognizer import (
    STATE_FILE,
    EmotionRecognizer,
    RecognizerError,
)

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "data/06_models/final_model"


def predict_corpus(recognizer: EmotionRecognizer, corpus: AudioCorpus) -> pd.DataFrame:
    """Predict the emotion of every utterance of ``corpus``.

    A speech-only model reads only the audio, a text-only model only the
    transcripts (its manifest may have no audio column).

    Args:
        recognizer: The saved final model with its preprocessing state.
        corpus: Utterances to classify (labels, if any, are ignored).

    Returns:
        ``utterance_id, prob_<class>..., predicted_argmax,
        predicted_min_expected_cost``, in manifest order.

    Raises:
        CorpusError: If the corpus is empty, the model takes speech and the
            manifest has no audio, or it takes only text and no utterance has a
            transcript. These are checked before any audio is read.
    """
    manifest = corpus.manifest
    if not len(manifest):
        raise CorpusError(f"{corpus.source}: no utterances to classify")
    modalities = recognizer.modalities
    if "speech" in modalities and not corpus.has_audio:
        raise CorpusError(
            f"{corpus.source}: the model ({recognizer.variant}) takes speech, but "
            "the manifest has no audio_path column"
        )
    empty = manifest["transcript"].astype(str).str.strip() == ""
    if modalities == ("text",) and empty.all():
        raise CorpusError(
            f"{corpus.source}: the model ({recognizer.variant}) takes only "
            "transcripts, but the manifest has no transcript column or only empty "
            "transcripts"
        )
    if "text" in modalities and empty.any():
        # As in training (empty_transcripts: keep): the text input is all padding.
        logger.warning(
            "%s: %d of %d utterance(s) have no transcript (first: %r); the text "
            "input of the model is empty for them",
            corpus.source,
            int(empty.sum()),
            len(manifest),
            manifest.loc[empty, "utterance_id"].iloc[0],
        )
    utterances = pd.DataFrame({"utterance_id": manifest["utterance_id"].astype(str)})
    features, n_frames = None, np.zeros(len(utterances), dtype=np.int64)
    if "speech" in modalities:
        features, table = extract_acoustic_features(
            corpus, utterances, recognizer.acoustic
        )
        table["speaker"] = manifest["speaker"].astype(str).to_numpy()
        features = recognizer.normalise_speakers(features, table)
        n_frames = table["n_frames"].to_numpy(dtype=np.int64)
    text_features = None
    if "text" in modalities and recognizer.text_embeddings:
        text_features = text_features_of(
            manifest["transcript"].astype(str).tolist(), recognizer.text
        )
    inputs = recognizer.model_inputs(
        features,
        n_frames,
        recognizer.tokens(manifest["transcript"].tolist()),
        text_features,
    )
    predictions = recognizer.prediction_table(utterances["utterance_id"], inputs)
    logger.info(
        "Predicted %d utterance(s) with the %s model: %s (argmax)",
        len(predictions),
        recognizer.variant,
        predictions["predicted_argmax"].value_counts().to_dict(),
    )
    return predictions


def corpus_of(
    audio_paths: Sequence[str | Path] | None,
    transcripts: Sequence[str] | None = None,
    source: str = "predict()",
    speakers: Sequence[str] | None = None,
) -> AudioCorpus:
    """An unlabelled corpus of audio files and/or transcripts, checked up front.

    Utterance ids are the audio paths as given (or ``text_<i>`` without audio);
    relative paths are relative to the working directory.

    Raises:
        CorpusError: If neither is given, their lengths differ, or an audio
            file is missing, unreadable or empty (named).
    """
    if audio_paths is None and transcripts is None:
        raise CorpusError(f"{source}: give audio_paths, transcripts or both")
    if audio_paths is not None and isinstance(audio_paths, (str, Path)):
        audio_paths = [audio_paths]
    if transcripts is not None and isinstance(transcripts, str):
        transcripts = [transcripts]
    if speakers is not None and isinstance(speakers, str):
        speakers = [speakers]
    given = audio_paths if audio_paths is not None else transcripts
    if speakers is not None and len(speakers) != len(given):
        raise CorpusError(
            f"{source}: {len(given)} utterance(s) but {len(speakers)} speaker(s); "
            "give one speaker per utterance"
        )
    if (
        audio_paths is not None
        and transcripts is not None
        and len(audio_paths) != len(transcripts)
    ):
        raise CorpusError(
            f"{source}: {len(audio_paths)} audio path(s) but {len(transcripts)} "
            "transcript(s); give one transcript per file"
        )
    table = pd.DataFrame()
    if audio_paths is not None:
        table["utterance_id"] = [str(p) for p in audio_paths]
        table["audio_path"] = [str(p) for p in audio_paths]
    if transcripts is not None:
        table["transcript"] = [str(t) for t in transcripts]
        if audio_paths is None:
            table["utterance_id"] = [f"text_{i}" for i in range(len(transcripts))]
    if speakers is not None:
        table["speaker"] = [str(s) for s in speakers]
    manifest, _ = check_manifest(
        table,
        source,
        Path.cwd(),
        allow_outside_root=True,
        labelled=False,
        remedy="fix that file or leave it out of audio_paths, with its transcript, "
        "and call again",
    )
    return AudioCorpus(manifest, source)


def load_recognizer(model: str | Path | EmotionRecognizer | None) -> EmotionRecognizer:
    """A recognizer from a bundle folder, a versioned catalog folder or itself.

    ``None`` means the latest version under ``data/06_models/final_model`` of the
    Kedro project around the working directory.

    Raises:
        RecognizerError: If nothing saved is found there.
    """
    if isinstance(model, EmotionRecognizer):
        return model
    if model is None:
        from kedro.utils import find_kedro_project  # noqa: PLC0415

        root = find_kedro_project(Path.cwd())
        if root is None:
            raise RecognizerError(
                f"no Kedro project around {Path.cwd()} to find the final model in; "
                "pass model=<saved recognizer folder>"
            )
        model = root / DEFAULT_MODEL
    path = Path(model)
    if (path / STATE_FILE).is_file() or not path.is_dir():
        return EmotionRecognizer.load(path)
    # A versioned catalog folder: <path>/<version>/<name>/. Kedro's versions are
    # timestamps that sort as text; the latest complete bundle is taken, as the
    # catalog's EmotionRecognizerDataset would load it.
    saved = sorted(path.glob(f"*/{path.name}/{STATE_FILE}"), reverse=True)
    if not saved:
        raise RecognizerError(
            f"no saved model under {path}; run `kedro run` (or "
            "`kedro run --pipelines=final_model`) first, or pass model=<folder>"
        )
    return EmotionRecognizer.load(saved[0].parent)


def predict(
    audio_paths: Sequence[str | Path] | str | Path | None = None,
    transcripts: Sequence[str] | str | None = None,
    model: str | Path | EmotionRecognizer | None = None,
    speakers: Sequence[str] | str | None = None,
) -> pd.DataFrame:
    """Predict the emotions of audio files and/or transcripts.

    Args:
        audio_paths: Audio files (any format soundfile reads; resampled and
            down-mixed like the training audio). ``None`` for a text-only model.
        transcripts: One transcript per file (``None`` for a speech-only model).
        model: A saved recognizer folder, a versioned folder such as
            ``data/06_models/final_model`` (its latest version is used), or a
            loaded :class:`EmotionRecognizer`; by default the project's latest
            final model.
        speakers: The speaker of each utterance, for a model trained with
            ``speaker_normalisation``: a speaker with at least
            ``speaker_min_utterances`` utterances in the call is normalised with
            their own statistics, any other utterance with the training corpus's
            (:mod:`emotion_aware_loss.folds.speakers`). Ignored otherwise.

    Returns:
        ``utterance_id`` (the audio path), ``prob_<class>...``,
        ``predicted_argmax`` and ``predicted_min_expected_cost``, one row per input,
        as the ``inference`` pipeline writes them.

    Raises:
        CorpusError: On missing/unreadable audio or inputs the model cannot use.
        RecognizerError: If no saved model is found.
    """
    # checked before the model loads
    corpus = corpus_of(audio_paths, transcripts, speakers=speakers)
    return predict_corpus(load_recognizer(model), corpus)
