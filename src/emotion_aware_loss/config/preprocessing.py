"""The ``preprocessing`` block (``parameters_preprocessing.yml``): the acoustic features, the transcripts and the labels."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from emotion_aware_loss.config._base import _Strict
from emotion_aware_loss.config.feature_sets import feature_set


class SpeechEncoderConfig(_Strict):
    """A frozen, pre-trained speech encoder exported to ONNX (``feature: encoder``).

    The graph's first input takes the waveform, ``(1, samples)`` float32 at
    ``preprocessing.acoustic.sample_rate``; each output named in ``outputs`` is one
    layer's ``(1, frames, dim)`` hidden states. Nothing is downloaded: ``path``
    is a file on disk (docs/features.md, "Pre-trained encoders (ONNX)").
    """

    path: str | None = Field(None, description="the .onnx file (null: none)")
    outputs: list[str | int] = Field(
        default_factory=lambda: [0],
        min_length=1,
        description="graph outputs (names or positions) = the layer(s) to use",
    )
    combine: Literal["mean", "concat"] = Field(
        "mean", description="how several layers become one: average or concatenate"
    )
    pooling: Literal["mean", "mean_std", "frames"] = Field(
        "mean",
        description="mean / mean_std over frames (one vector per utterance), or "
        "frames (a sequence for the convolutional branch, cut to max_frames)",
    )
    normalize: bool = Field(
        True, description="zero-mean, unit-variance waveform (wav2vec 2.0 style)"
    )
    threads: int = Field(0, ge=0, description="onnxruntime threads; 0 = its default")


class TextEncoderConfig(_Strict):
    """A frozen, pre-trained text encoder exported to ONNX, with its tokenizer.

    The graph takes ``input_ids`` and ``attention_mask`` (and ``token_type_ids``
    when it has that input), ``(batch, tokens)`` int64; each output named in
    ``outputs`` is one layer's ``(batch, tokens, dim)`` hidden states. With
    ``path`` set, the model's text input is these embeddings instead of trainable
    token embeddings (docs/features.md, "Pre-trained encoders (ONNX)").
    """

    path: str | None = Field(None, description="the .onnx file (null: none)")
    tokenizer: str | None = Field(
        None, description="the model's tokenizer.json (Hugging Face tokenizers)"
    )
    outputs: list[str | int] = Field(default_factory=lambda: [0], min_length=1)
    combine: Literal["mean", "concat"] = "mean"
    pooling: Literal["mean", "cls", "frames"] = Field(
        "mean",
        description="mean over tokens / first token (one vector per utterance), or "
        "frames (the token sequence, padded to max_length)",
    )
    max_length: int = Field(128, gt=0, description="tokens kept per transcript")
    batch_size: int = Field(32, gt=0, description="transcripts per encoder call")
    threads: int = Field(0, ge=0, description="onnxruntime threads; 0 = its default")

    @model_validator(mode="after")
    def _tokenizer_with_model(self) -> TextEncoderConfig:
        if self.path is not None and self.tokenizer is None:
            raise ValueError(
                "a text encoder (path) needs its tokenizer: set tokenizer to the "
                "model's tokenizer.json"
            )
        return self


class AcousticConfig(_Strict):
    """Acoustic features: librosa, openSMILE or a pre-trained ONNX encoder.

    ``logmel`` and ``mfcc`` give frame sequences for the convolutional speech
    branch; ``functionals`` (68 values) and ``broad_functionals`` (about 2,300:
    many descriptors times many statistics, :mod:`emotion_aware_loss.features.descriptors`)
    give one fixed-length vector of statistics per utterance, for which the speech
    branch is a stack of dense blocks.
    ``egemaps`` (openSMILE's 88 eGeMAPSv02 functionals) and ``compare`` (its 6373
    ComParE 2016 functionals) are utterance vectors too, ``egemaps_lld`` the 25
    eGeMAPSv02 low-level descriptors every 10 ms. ``encoder`` runs the ONNX speech
    encoder of ``encoder`` (vectors or frames, by its ``pooling``).
    """

    sample_rate: int = Field(16000, gt=0)
    feature: str = Field(
        "logmel",
        description="a feature set of emotion_aware_loss.config.feature_sets.FEATURE_SETS",
    )
    n_mels: int = Field(40, gt=0)
    n_mfcc: int = Field(13, gt=0)
    deltas: bool = False
    n_fft: int = Field(512, gt=0)
    win_length: int = Field(400, gt=0)
    hop_length: int = Field(160, gt=0)
    max_frames: int = Field(300, gt=0)
    crop: Literal["head", "center"] = Field(
        "head", description="which max_frames of a longer utterance to keep"
    )
    trim_top_db: float | None = Field(
        None, gt=0.0, description="cut leading/trailing audio this far below the peak"
    )
    speaker_normalisation: bool = Field(
        False,
        description="standardise each speaker's features with that speaker's own "
        "statistics (emotion_aware_loss.folds.speakers: the rule in training and at "
        "prediction time)",
    )
    speaker_min_utterances: int = Field(
        10, ge=2, description="utterances a speaker needs for statistics of its own"
    )
    active_db: float = Field(
        40.0,
        gt=0.0,
        description="broad_functionals: frames within this many dB of the loudest "
        "are summarised (the rest is silence)",
    )
    n_jobs: int = Field(1, description="extraction workers; -1 = one per core")
    workers: Literal["threads", "processes"] = Field(
        "threads",
        description="how extraction's n_jobs workers run: threads (no start-up, but "
        "they share Python's lock) or processes; openSMILE features always use "
        "processes (one openSMILE extractor per process)",
    )
    batch_size: int = Field(64, gt=0, description="utterances per extraction batch")
    encoder: SpeechEncoderConfig = Field(default_factory=SpeechEncoderConfig)

    @field_validator("n_jobs")
    @classmethod
    def _jobs(cls, value: int) -> int:
        if value == 0 or value < -1:
            raise ValueError(f"n_jobs must be a positive count or -1, got {value}")
        return value

    @model_validator(mode="after")
    def _encoder_file(self) -> AcousticConfig:
        if self.feature == "encoder" and self.encoder.path is None:
            raise ValueError(
                "feature: encoder needs preprocessing.acoustic.encoder.path, the "
                "ONNX file of the speech encoder (docs/features.md, 'Pre-trained encoders (ONNX)')"
            )
        return self

    @field_validator("feature")
    @classmethod
    def _registered_feature(cls, value: str) -> str:
        feature_set(value)
        return value

    @property
    def utterance_level(self) -> bool:
        """Whether the feature is one vector per utterance (no time axis)."""
        return feature_set(self.feature).is_utterance_level(self)


class TextConfig(_Strict):
    """Transcript normalisation, vocabulary and sequence length, or a text encoder."""

    lowercase: bool = True
    punctuation: Literal["keep", "drop"] = Field(
        "keep", description="keep punctuation marks as tokens (? and ! carry emotion)"
    )
    max_tokens: int = Field(24, gt=0)
    max_vocab_size: int = Field(5000, gt=0)
    min_count: int = Field(1, ge=1)
    empty_transcripts: Literal["keep", "error", "skip"] = Field(
        "keep",
        description="keep (speech-only corpora; counted in the log), error, or skip",
    )
    encoder: TextEncoderConfig = Field(default_factory=TextEncoderConfig)


class LabelConfig(_Strict):
    """How corpus labels become classes.

    ``mapping`` renames corpus labels (``angry: anger``); labels listed in ``drop``
    (after mapping) are left out of the run, counted in the log and listed in the
    ``skipped_utterances`` dataset. Any other label must be a configured class.
    """

    mapping: dict[str, str] = Field(default_factory=dict)
    drop: list[str] = Field(default_factory=list)
