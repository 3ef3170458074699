"""Frozen pre-trained encoders exported to ONNX, used as feature extractors.

A speech encoder (wav2vec 2.0, HuBERT, WavLM, emotion2vec, ...) turns a waveform
into hidden states every 20 ms; a text encoder (a multilingual transformer) turns
a tokenised transcript into hidden states per token. Both run once, with
onnxruntime (the ``encoders`` extra), and their outputs are cached in the catalog
like any other feature; neither is trained. ONNX keeps a second deep-learning
framework out of this TensorFlow project: export the model with its own library
(docs/features.md, "Pre-trained encoders (ONNX)"). Nothing is downloaded: every path is a
file on disk.

The files an extraction used are recorded by :func:`extractor_record` (path,
size and SHA-256), so a saved model refuses features from a different file
(:func:`check_extractors`).

Longer than most modules: the speech and text encoders share the ONNX session cache,
the pooling and the provenance checks (file fingerprints), which two modules would
import back from each other.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from emotion_aware_loss.config import (
    AcousticConfig,
    SpeechEncoderConfig,
    TextConfig,
    TextEncoderConfig,
)
from emotion_aware_loss.config.feature_sets import feature_set
from emotion_aware_loss.extras import require_extra
from emotion_aware_loss.features.opensmile import opensmile_version

logger = logging.getLogger(__name__)

ENCODERS_PAGE = 'section "Pre-trained encoders (ONNX)" of docs/features.md'
# The conv front-end of wav2vec 2.0-style encoders needs 400 samples for one frame;
# shorter audio is padded with silence to this length.
_MIN_SECONDS = 0.1
_INTEGER_TYPES = {"tensor(int64)": np.int64, "tensor(int32)": np.int32}
_TEXT_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


class EncoderError(ValueError):
    """An encoder file is missing, unusable, or not the one a model was trained on."""


def _existing_file(path: str, key: str) -> str:
    """``path`` if it is a file; otherwise an error naming it and the docs page."""
    if not Path(path).is_file():
        raise EncoderError(
            f"{key}: {path} does not exist (relative paths are relative to the "
            f"project folder). Nothing is downloaded at run time; the "
            f"{ENCODERS_PAGE} says how to export or obtain one"
        )
    return path


def _session(path: str, threads: int, key: str):
    """One onnxruntime session per file and process (loading one costs).

    The cache is keyed by the file's size and modification time too, so a file
    replaced at the same path is loaded again.
    """
    require_extra("onnxruntime", "encoders", f"{key} (an ONNX encoder)")
    stat = Path(_existing_file(path, key)).stat()
    return _cached_session(path, stat.st_size, stat.st_mtime_ns, threads, key)


@functools.lru_cache(maxsize=4)
def _cached_session(path: str, size: int, mtime_ns: int, threads: int, key: str):
    ort = require_extra("onnxruntime", "encoders", f"{key} (an ONNX encoder)")

    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    try:
        return ort.InferenceSession(
            path, options, providers=ort.get_available_providers()
        )
    except Exception as exc:  # onnxruntime raises its own, unexported classes
        raise EncoderError(
            f"{key}: onnxruntime cannot load {path} as an ONNX model: {exc}"
        ) from exc


def _output_names(session, wanted: Sequence[str | int], key: str) -> list[str]:
    """Graph output names for the configured names or positions."""
    names = [output.name for output in session.get_outputs()]
    chosen = []
    for item in wanted:
        if isinstance(item, int) and not 0 <= item < len(names):
            raise EncoderError(
                f"{key}: output position {item} is out of range; the graph has "
                f"{len(names)} output(s) {names}"
            )
        if isinstance(item, str) and item not in names:
            raise EncoderError(
                f"{key}: {item!r} is not an output of the graph; its outputs are "
                f"{names}"
            )
        chosen.append(names[item] if isinstance(item, int) else item)
    return chosen


def _combine(
    arrays: list[np.ndarray], names: list[str], combine: str, key: str
) -> np.ndarray:
    """Several layers' ``(batch, steps, dim)`` hidden states as one array."""
    for array, name in zip(arrays, names, strict=True):
        if array.ndim != 3:
            raise EncoderError(
                f"{key}: output {name!r} has shape {array.shape}; expected "
                "(batch, frames or tokens, dim) hidden states"
            )
    if len(arrays) == 1:
        return arrays[0]
    shapes = {a.shape if combine == "mean" else a.shape[:2] for a in arrays}
    if len(shapes) > 1:
        raise EncoderError(
            f"{key}: outputs {names} have shapes {[a.shape for a in arrays]}, which "
            f"cannot be combined ({combine})"
        )
    if combine == "mean":
        return np.mean(arrays, axis=0)
    return np.concatenate(arrays, axis=-1)


def _key(field: str, speech: bool) -> str:
    block = "preprocessing.acoustic.encoder" if speech else "preprocessing.text.encoder"
    return f"{block}.{field}"


def encode_waveform(waveform: np.ndarray, config: AcousticConfig) -> np.ndarray:
    """Hidden states of the speech encoder for one utterance, pooled or not.

    Args:
        waveform: Mono float waveform at ``config.sample_rate`` (the rate the
            encoder expects: 16 kHz for wav2vec 2.0, HuBERT, WavLM, emotion2vec).
        config: Acoustic parameters; ``config.encoder`` names the ONNX file.

    Returns:
        ``(1, dim)`` (``mean``), ``(1, 2 * dim)`` (``mean_std``: mean then
        standard deviation over frames) or ``(frames, dim)`` (``frames``), float32.

    Raises:
        EncoderError: If the file is missing or not a usable encoder.
    """
    encoder: SpeechEncoderConfig = config.encoder
    session = _session(str(encoder.path), encoder.threads, _key("path", True))
    y = np.asarray(waveform, dtype=np.float32)
    if encoder.normalize:
        y = (y - y.mean()) / np.sqrt(y.var() + 1e-7)
    shortest = int(np.ceil(_MIN_SECONDS * config.sample_rate))
    if len(y) < shortest:
        y = np.pad(y, (0, shortest - len(y)))
    feed = {}
    for i, graph_input in enumerate(session.get_inputs()):
        if i == 0:
            feed[graph_input.name] = y[None, :]
        elif graph_input.name == "attention_mask":
            dtype = _INTEGER_TYPES.get(graph_input.type, np.int64)
            feed[graph_input.name] = np.ones((1, len(y)), dtype=dtype)
        else:
            raise EncoderError(
                f"{_key('path', True)}: {encoder.path} has an input "
                f"{graph_input.name!r}; a speech encoder may take only the waveform "
                "(its first input) and an attention_mask"
            )
    names = _output_names(session, encoder.outputs, _key("outputs", True))
    hidden = _combine(
        session.run(names, feed), names, encoder.combine, _key("outputs", True)
    )[0]
    if hidden.shape[0] == 0:
        raise EncoderError(
            f"{encoder.path} returned no frames for {len(y)} samples of audio"
        )
    if encoder.pooling == "frames":
        return hidden.astype(np.float32)
    parts = [hidden.mean(axis=0)]
    if encoder.pooling == "mean_std":
        parts.append(hidden.std(axis=0))
    return np.concatenate(parts)[None, :].astype(np.float32)


@functools.lru_cache(maxsize=8)
def _speech_dimension(path: str, frozen: str) -> int:
    config = AcousticConfig.model_validate_json(frozen)
    second = np.zeros(config.sample_rate, dtype=np.float32)
    return int(encode_waveform(second, config).shape[1])


def speech_encoder_dimension(config: AcousticConfig) -> int:
    """Values per frame (or per utterance) of :func:`encode_waveform`.

    Read by running the encoder on one second of silence, since exported graphs
    often leave their output sizes symbolic.
    """
    return _speech_dimension(str(config.encoder.path), config.model_dump_json())


@functools.lru_cache(maxsize=4)
def _tokenizer(path: str, max_length: int):
    tokenizers = require_extra(
        "tokenizers", "encoders", "preprocessing.text.encoder.tokenizer"
    )
    _existing_file(path, _key("tokenizer", False))
    try:
        tokenizer = tokenizers.Tokenizer.from_file(path)
    except Exception as exc:  # the Rust library raises plain Exceptions
        raise EncoderError(
            f"{_key('tokenizer', False)}: {path} is not a tokenizer.json the "
            f"tokenizers package can read: {exc}"
        ) from exc
    tokenizer.enable_truncation(max_length)
    if tokenizer.padding is None:
        # Padded positions are masked out; the pad token itself does not matter.
        pad = next(
            (
                t
                for t in ("[PAD]", "<pad>", "<PAD>")
                if tokenizer.token_to_id(t) is not None
            ),
            None,
        )
        pad_id = tokenizer.token_to_id(pad) if pad else 0
        tokenizer.enable_padding(pad_id=pad_id, pad_token=pad or "[PAD]")
    return tokenizer


def _text_feed(session, encodings, key: str) -> dict[str, np.ndarray]:
    columns = {
        "input_ids": [e.ids for e in encodings],
        "attention_mask": [e.attention_mask for e in encodings],
        "token_type_ids": [e.type_ids for e in encodings],
    }
    feed = {}
    for graph_input in session.get_inputs():
        if graph_input.name not in columns:
            raise EncoderError(
                f"{key}: the graph has an input {graph_input.name!r}; a text "
                f"encoder may take only {list(_TEXT_INPUTS)}"
            )
        dtype = _INTEGER_TYPES.get(graph_input.type, np.int64)
        feed[graph_input.name] = np.asarray(columns[graph_input.name], dtype=dtype)
    if "input_ids" not in feed:
        raise EncoderError(f"{key}: the graph has no input_ids input")
    return feed


def encode_texts_with_encoder(
    transcripts: Sequence[str], config: TextEncoderConfig
) -> np.ndarray:
    """Text-encoder embeddings of raw transcripts (the tokenizer does the rest).

    Args:
        transcripts: Transcripts as in the corpus (not normalised: the model's
            own tokenizer handles case and punctuation). Empty ones are encoded
            as the tokenizer's special tokens only.
        config: The encoder, its tokenizer, outputs and pooling.

    Returns:
        ``(n, dim)`` (``mean`` over the attended tokens, or ``cls``: the first
        token) or ``(n, max_length, dim)`` (``frames``, zero-padded), float32.

    Raises:
        EncoderError: If a file is missing or not usable.
    """
    key = _key("path", False)
    if config.path is None:
        raise EncoderError(f"{key} is not set")
    tokenizer = _tokenizer(str(config.tokenizer), config.max_length)
    session = _session(str(config.path), config.threads, key)
    names = _output_names(session, config.outputs, _key("outputs", False))
    chunks = []
    for start in range(0, len(transcripts), config.batch_size):
        batch = [str(t) for t in transcripts[start : start + config.batch_size]]
        encodings = tokenizer.encode_batch(batch)
        feed = _text_feed(session, encodings, key)
        hidden = _combine(
            session.run(names, feed), names, config.combine, _key("outputs", False)
        )
        mask = np.asarray([e.attention_mask for e in encodings], dtype=np.float32)
        if config.pooling == "mean":
            weights = mask[:, :, None] / np.maximum(mask.sum(axis=1), 1)[:, None, None]
            chunks.append((hidden * weights).sum(axis=1))
        elif config.pooling == "cls":
            chunks.append(hidden[:, 0, :])
        else:
            frames = np.zeros(
                (len(batch), config.max_length, hidden.shape[-1]), dtype=np.float32
            )
            steps = min(hidden.shape[1], config.max_length)
            frames[:, :steps] = hidden[:, :steps] * mask[:, :steps, None]
            chunks.append(frames)
    if not chunks:
        dim = text_encoder_dimension(config)
        shape = (0, config.max_length, dim) if config.pooling == "frames" else (0, dim)
        return np.zeros(shape, dtype=np.float32)
    return np.concatenate(chunks).astype(np.float32)


def text_encoder_dimension(config: TextEncoderConfig) -> int:
    """Values per token of the text encoder's (combined) outputs."""
    return int(encode_texts_with_encoder(["a"], config).shape[-1])


def text_features_of(transcripts: Sequence[str], text: TextConfig) -> np.ndarray:
    """The text input's precomputed features: encoder embeddings, or none.

    Returns:
        The encoder's embeddings (see :func:`encode_texts_with_encoder`), or
        without ``text.encoder.path`` an ``(n, 0)`` array: the model then takes
        token ids and trains its own embeddings.
    """
    if text.encoder.path is None:
        return np.zeros((len(transcripts), 0), dtype=np.float32)
    return encode_texts_with_encoder(list(transcripts), text.encoder)


@functools.lru_cache(maxsize=16)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(functools.partial(handle.read, 1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_fingerprint(path: str, key: str) -> dict[str, Any]:
    """Path, size and SHA-256 of a file (which encoder made the features)."""
    _existing_file(path, key)
    stat = Path(path).stat()
    return {
        "path": str(path),
        "bytes": stat.st_size,
        "sha256": _sha256(str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns),
    }


def extractor_record(
    acoustic: AcousticConfig, text: TextConfig, speech: bool = True
) -> dict[str, Any]:
    """What made the model's inputs: the feature extractor and any encoder files.

    Args:
        acoustic: The acoustic settings.
        text: The text settings.
        speech: Whether acoustic features were extracted (false for a text-only
            corpus, whose record has ``speech: None``).

    Returns:
        ``speech``: the feature set's record (its library and version,
        openSMILE's feature set and level, or the encoder file's fingerprint and
        settings: :mod:`emotion_aware_loss.config.feature_sets`); ``text``: the
        text encoder's and tokenizer's fingerprints, or ``None`` for token ids.
    """
    record = feature_set(acoustic.feature).record_of(acoustic) if speech else None
    return {"speech": record, "text": text_record(text)}


def speech_encoder_record(acoustic: AcousticConfig) -> dict[str, Any]:
    """The provenance of ``feature: encoder``: the ONNX file's fingerprint and the
    settings that shape its features."""
    return {
        "feature": acoustic.feature,
        "library": "onnxruntime",
        "file": file_fingerprint(str(acoustic.encoder.path), _key("path", True)),
        "settings": acoustic.encoder.model_dump(exclude={"path", "threads"}),
    }


def pooled(acoustic: AcousticConfig) -> bool:
    """Whether the speech encoder gives one vector per utterance (not frames)."""
    return acoustic.encoder.pooling != "frames"


def text_record(text: TextConfig) -> dict[str, Any] | None:
    """The text encoder's and tokenizer's fingerprints, or ``None`` (token ids)."""
    encoder = text.encoder
    if encoder.path is None:
        return None
    return {
        "library": "onnxruntime",
        "file": file_fingerprint(str(encoder.path), _key("path", False)),
        "tokenizer": file_fingerprint(str(encoder.tokenizer), _key("tokenizer", False)),
        "settings": encoder.model_dump(
            exclude={"path", "tokenizer", "threads", "batch_size"}
        ),
    }


def with_absolute_paths(
    acoustic: AcousticConfig, text: TextConfig
) -> tuple[AcousticConfig, TextConfig]:
    """The settings with encoder and tokenizer paths made absolute.

    A saved model is used from other working directories (``predict()`` in a
    notebook, a service), where a path relative to the project would not resolve.
    """

    def absolute(path: str | None) -> str | None:
        return None if path is None else str(Path(path).resolve())

    speech = acoustic.encoder
    acoustic = acoustic.model_copy(
        update={"encoder": speech.model_copy(update={"path": absolute(speech.path)})}
    )
    encoder = text.encoder.model_copy(
        update={
            "path": absolute(text.encoder.path),
            "tokenizer": absolute(text.encoder.tokenizer),
        }
    )
    return acoustic, text.model_copy(update={"encoder": encoder})


def _same_file(recorded: dict, path: str | None, what: str, source: str) -> None:
    if path is None:
        raise EncoderError(
            f"{source} was trained on features of the {what} {recorded['path']}, "
            "but no such file is configured now"
        )
    now = file_fingerprint(path, what)
    if now["sha256"] != recorded["sha256"]:
        raise EncoderError(
            f"{source} was trained on features of the {what} {recorded['path']} "
            f"(sha256 {recorded['sha256'][:12]}…, {recorded['bytes']} bytes), but "
            f"{path} is a different file (sha256 {now['sha256'][:12]}…, "
            f"{now['bytes']} bytes); use the file the model was trained with"
        )


def _same_settings(recorded: dict, now: dict, block: str, source: str) -> None:
    # JSON round trips turn tuples into lists; compare in that form.
    if json.loads(json.dumps(now)) != recorded:
        changed = sorted(k for k in now if now[k] != recorded.get(k))
        raise EncoderError(
            f"{source} was trained with {block} {recorded}; the settings now "
            f"differ in {changed}"
        )


def check_extractors(
    recorded: dict | None, acoustic: AcousticConfig, text: TextConfig, source: str
) -> None:
    """Refuse feature extractors other than the ones the model was trained with.

    Args:
        recorded: :func:`extractor_record` at training time (``None`` for models
            saved before it existed: nothing to check).
        acoustic: The acoustic settings that will make the speech features.
        text: The text settings that will make the text input.
        source: What is being checked, for the message.

    Raises:
        EncoderError: If the speech feature kind differs, an encoder or tokenizer
            file is missing or differs from the recorded one (by SHA-256), or
            openSMILE's feature set differs.
    """
    if not recorded:
        return
    speech = recorded.get("speech") or {}
    if speech and speech.get("feature") != acoustic.feature:
        raise EncoderError(
            f"{source} was trained on {speech.get('feature')} features, but the "
            f"acoustic settings now say {acoustic.feature}"
        )
    if speech.get("feature") == "encoder":
        _same_file(speech["file"], acoustic.encoder.path, "speech encoder", source)
        _same_settings(
            speech["settings"],
            acoustic.encoder.model_dump(exclude={"path", "threads"}),
            "preprocessing.acoustic.encoder",
            source,
        )
    if speech.get("library") == "opensmile":
        installed = opensmile_version()
        if installed != speech.get("version"):
            logger.warning(
                "%s was trained on openSMILE %s features; openSMILE %s is "
                "installed (features may differ slightly)",
                source,
                speech.get("version"),
                installed,
            )
    record = recorded.get("text")
    if record:
        _same_file(record["file"], text.encoder.path, "text encoder", source)
        _same_file(record["tokenizer"], text.encoder.tokenizer, "tokenizer", source)
        _same_settings(
            record["settings"],
            text.encoder.model_dump(
                exclude={"path", "tokenizer", "threads", "batch_size"}
            ),
            "preprocessing.text.encoder",
            source,
        )
    elif text.encoder.path is not None:
        raise EncoderError(
            f"{source} was trained on token ids, but a text encoder "
            f"({text.encoder.path}) is configured now"
        )
