"""Typed parameter blocks.

Each node that takes a ``params:`` input annotates it with one of these Pydantic
models, so Kedro (>= 1.3) validates the YAML before the run starts: a wrong type,
an unknown key or an out-of-range value fails at start-up with the key named.
"""

from __future__ import annotations

import re
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from emotion_aware_loss.feature_sets import feature_set
from emotion_aware_loss.losses import (
    own_hyper_parameter,
    own_hyper_parameters,
    registered,
)
from emotion_aware_loss.similarity import SIMILARITY_SOURCES

_IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


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
    many descriptors times many statistics, :mod:`emotion_aware_loss.descriptors`)
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
        description="a feature set of emotion_aware_loss.feature_sets.FEATURE_SETS",
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
        "statistics (emotion_aware_loss.speakers: the rule in training and at "
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


class CrossValidationConfig(_Strict):
    """Fold assignment. ``n_folds × n_repeats`` fixes how many fold pipelines exist.

    With ``n_repeats > 1`` the k-fold split is repeated with a different shuffle
    each time (repeated cross-validation); fold ``r * n_folds + k`` is fold ``k`` of
    repeat ``r``.
    """

    n_folds: int = Field(5, ge=2)
    n_repeats: int = Field(1, ge=1)
    speaker_independent: bool = False
    validation_fraction: float = Field(0.15, gt=0.0, lt=0.5)


class ConvBlockConfig(_Strict):
    filters: int = Field(gt=0)
    kernel_size: int = Field(gt=0)
    pool_size: int = Field(2, ge=1)
    dropout: float = Field(0.0, ge=0.0, lt=1.0)


class SpeechBranchConfig(_Strict):
    blocks: list[ConvBlockConfig] = Field(min_length=1)


class TextBranchConfig(_Strict):
    embedding_dim: int = Field(64, gt=0)
    trainable_embeddings: bool = Field(
        True, description="False freezes the embeddings (e.g. pre-trained vectors)"
    )
    filters: int = Field(64, gt=0)
    kernel_size: int = Field(3, gt=0)
    pool_size: int = Field(2, ge=1)
    dropout: float = Field(0.3, ge=0.0, lt=1.0)


class FusionConfig(_Strict):
    dense_units: list[int] = Field(default_factory=lambda: [64])
    dropout: float = Field(0.3, ge=0.0, lt=1.0)


class AttentionConfig(_Strict):
    enabled: bool = False
    num_heads: int = Field(4, gt=0)
    key_dim: int = Field(16, gt=0)
    dropout: float = Field(0.0, ge=0.0, lt=1.0)


class WideConfig(_Strict):
    """The linear views of ``architecture: wide_deep`` and ``linear``."""

    dropout: float = Field(0.2, ge=0.0, lt=1.0)
    joins: Literal["hidden", "output"] = Field(
        "hidden",
        description="wide_deep: where the linear views join the deep part: "
        "hidden, beside the branches' fused vector into the first fusion layer; "
        "output, beside the last fusion layer's output into the softmax layer "
        "(a linear model on the views plus the deep part, Cheng et al. 2016)",
    )
    l2: float = Field(
        0.0,
        ge=0.0,
        description="L2 penalty (times the sum of squared weights, added to the "
        "loss) on the layer that reads the linear views: the softmax layer of "
        "architecture: linear and of wide_deep with joins: output, the first "
        "fusion layer of wide_deep with joins: hidden",
    )


class ModelConfig(_Strict):
    """The two-branch fusion network; every size is here.

    ``architecture: seed`` is the seed project's network (convolutional branches,
    concatenation, dense layers); ``wide_deep`` adds linear views of the inputs
    (utterance statistics, bag of words) beside the branches; ``linear`` is a
    softmax regression on those views alone (the baselines' model family, trained
    with the run's loss).
    """

    architecture: Literal["wide_deep", "seed", "linear"] = "wide_deep"
    modalities: list[Literal["speech", "text"]] = Field(
        default_factory=lambda: ["speech", "text"], min_length=1
    )
    speech: SpeechBranchConfig
    text: TextBranchConfig = TextBranchConfig()
    fusion: FusionConfig = FusionConfig()
    attention: AttentionConfig = AttentionConfig()
    wide: WideConfig = WideConfig()

    @field_validator("modalities")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError(f"modalities must not repeat, got {value}")
        return value


class LossConfig(_Strict):
    """One loss variant: which loss (a name of
    :data:`emotion_aware_loss.losses.LOSS_REGISTRY`) and its hyper-parameters.

    The hyper-parameters are the loss's own, written as keys of the variant
    (``alpha: 1.5``); each defaults to what the loss declares, and a key the loss
    does not declare is refused, naming it and those it takes.
    """

    loss: str
    hyper: dict[str, float] = Field(
        default_factory=dict, description="the loss's hyper-parameters by name"
    )
    similarity: str = Field(
        "hand_set",
        description="a source of emotion_aware_loss.similarity.SIMILARITY_SOURCES",
    )
    dynamic: bool = Field(
        False, description="update S from the training embeddings after every epoch"
    )
    dynamic_momentum: float = Field(0.9, ge=0.0, lt=1.0)

    @model_validator(mode="before")
    @classmethod
    def _hyper_parameters_as_keys(cls, data: Any) -> Any:
        """``{loss: soft_target, beta: 2}``: the keys that are not fields are the
        loss's hyper-parameters."""
        if not isinstance(data, dict):
            return data
        extra = {k: v for k, v in data.items() if k not in cls.model_fields}
        if not extra:
            return data
        kept = {k: v for k, v in data.items() if k in cls.model_fields}
        return kept | {"hyper": {**kept.get("hyper", {}), **extra}}

    @field_validator("loss")
    @classmethod
    def _registered_loss(cls, value: str) -> str:
        registered(value)
        return value

    @field_validator("similarity")
    @classmethod
    def _known_source(cls, value: str) -> str:
        if value not in SIMILARITY_SOURCES:
            raise ValueError(
                f"unknown similarity source {value!r}; expected one of "
                f"{sorted(SIMILARITY_SOURCES)}"
            )
        return value

    @model_validator(mode="after")
    def _own_hyper_parameters(self) -> LossConfig:
        declared = registered(self.loss).hyper
        unknown = sorted(set(self.hyper) - set(declared))
        if unknown:
            raise ValueError(
                f"{unknown[0]}: loss {self.loss!r} takes "
                f"{list(declared) or 'no hyper-parameters'}, not {unknown}"
            )
        for key, value in self.hyper.items():
            if value < declared[key].minimum:
                raise ValueError(
                    f"{key}: must be >= {declared[key].minimum:g} for loss "
                    f"{self.loss!r}, got {value:g}"
                )
        if self.dynamic and not registered(self.loss).uses_similarity:
            raise ValueError("dynamic similarity needs a similarity-aware loss")
        return self

    def hyper_parameters(self) -> dict[str, float]:
        """The loss's hyper-parameters, its declared defaults filled in (keyword
        arguments for ``losses.make_loss``)."""
        return own_hyper_parameters(self.loss, self.hyper)

    def describe(self) -> str:
        """One line naming the loss, its hyper-parameter and its similarity."""
        parts = [self.loss]
        own = own_hyper_parameter(self.loss)
        if own is not None:
            parts.append(f"{own}={self.hyper_parameters()[own]:g}")
        if registered(self.loss).uses_similarity:
            parts.append(f"S={self.similarity}")
        if self.dynamic:
            parts.append(f"dynamic (momentum {self.dynamic_momentum:g})")
        return ", ".join(parts)


class TrainingConfig(_Strict):
    """Adam and early stopping on validation accuracy (or UAR)."""

    epochs: int = Field(60, gt=0)
    batch_size: int = Field(64, gt=0)
    learning_rate: float = Field(1e-3, gt=0.0)
    patience: int = Field(10, ge=0)
    min_steps: int = Field(
        0,
        ge=0,
        description="optimiser steps before early stopping may end training or pick "
        "the best epoch (a small corpus trains this long whatever its noisy "
        "validation score says)",
    )
    monitor: Literal["val_accuracy", "val_uar"] = Field(
        "val_accuracy", description="early-stopping criterion (validation part)"
    )
    class_weight: Literal["balanced", "none"] | dict[str, float] = Field(
        "balanced",
        description="per-class weights multiplying each utterance's loss: balanced "
        "(n / (k * count) on the fold's training part), none, or {class: weight}",
    )
    deterministic: bool = Field(
        False, description="TensorFlow op determinism (slower; for exact reruns on GPU)"
    )
    jit_compile: bool = Field(
        False,
        description="XLA-compile each epoch of a stack (compiled again for every "
        "number of models still training; the optimiser update is compiled either "
        "way). Not with acoustic features read from disk a batch at a time",
    )
    ensemble: int = Field(
        1,
        ge=1,
        description="networks trained per model, their probabilities averaged "
        "(member k from weights and batches seeded seed + 1000 k; 1 = one network)",
    )
    refit: bool = Field(
        False,
        description="after early stopping, train each network again from its "
        "initial weights on the training and validation parts together, for the "
        "epochs early stopping chose (the model scored is the refitted one)",
    )
    stacked: bool = Field(
        True,
        description="train every network of a run that shares the architecture at "
        "once, as one stacked model (false: one network per node, for runners "
        "that spread nodes over workers)",
    )
    max_resident_mb: int = Field(
        2048,
        gt=0,
        description="acoustic features up to this size are held in memory while "
        "training; larger ones are read from their file a batch at a time",
    )
    stack_memory_mb: int = Field(
        2048,
        gt=0,
        description="memory one stack of networks may take (about 21 copies of "
        "each network's weights); a round with more networks trains as several "
        "stacks, one after the other",
    )
    intra_op_threads: int = Field(
        0, ge=0, description="threads per TensorFlow op; 0 = TensorFlow's default"
    )
    inter_op_threads: int = Field(
        0, ge=0, description="TensorFlow ops run at once; 0 = TensorFlow's default"
    )

    @model_validator(mode="before")
    @classmethod
    def _retired_keys(cls, data: Any) -> Any:
        if isinstance(data, dict) and "steps_per_execution" in data:
            raise ValueError(
                "training.steps_per_execution is no longer used (each epoch of a "
                "stack of networks is one compiled call); remove it"
            )
        return data

    @field_validator("class_weight")
    @classmethod
    def _positive_weights(cls, value: str | dict[str, float]) -> str | dict[str, float]:
        if isinstance(value, dict):
            bad = {k: w for k, w in value.items() if not w > 0}
            if bad or not value:
                raise ValueError(
                    f"class_weight must give every listed class a positive weight, "
                    f"got {value}"
                )
        return value

    def check_classes(self, classes: list[str]) -> None:
        """Raise a ``ValueError`` naming the key if ``class_weight`` names an
        unknown class or leaves a configured one out."""
        if not isinstance(self.class_weight, dict):
            return
        unknown = sorted(set(self.class_weight) - set(classes))
        missing = [c for c in classes if c not in self.class_weight]
        if unknown or missing:
            raise ValueError(
                f"training.class_weight must give a weight to each of the classes "
                f"{classes}; unknown: {unknown}, missing: {missing}"
            )

    def class_weights(self, labels: np.ndarray, classes: list[str]) -> np.ndarray:
        """One weight per class (in ``classes`` order) for training on ``labels``.

        ``balanced`` gives class ``c`` the weight ``n / (k * n_c)`` over the ``k``
        classes present in ``labels`` (scikit-learn's rule), so every class carries
        the same total weight; a class absent from ``labels`` gets weight 1.
        """
        if self.class_weight == "none":
            return np.ones(len(classes), dtype=np.float32)
        if isinstance(self.class_weight, dict):
            self.check_classes(classes)
            return np.array([self.class_weight[c] for c in classes], dtype=np.float32)
        counts = np.bincount(labels, minlength=len(classes)).astype(np.float64)
        present = counts > 0
        weights = np.ones(len(classes))
        weights[present] = counts.sum() / (present.sum() * counts[present])
        return weights.astype(np.float32)


def validate_variants(raw: dict) -> dict[str, LossConfig]:
    """Check the ``loss_variants`` block: a non-empty map of name -> LossConfig.

    Raises:
        ValueError: If the block is empty, a name is not a lower-case identifier
            (names become dataset namespaces) or a variant is malformed.
    """
    if not isinstance(raw, dict) or not raw:
        raise ValueError("loss_variants must map at least one variant name to a loss")
    bad = [name for name in raw if not _IDENTIFIER.match(str(name))]
    if bad:
        raise ValueError(
            f"loss_variants names must be lower-case identifiers "
            f"(letters, digits, '_'), got {bad}"
        )
    variants = {}
    for name, value in raw.items():
        try:
            variants[name] = LossConfig.model_validate(value)
        except ValueError as exc:
            raise ValueError(f"loss_variants.{name}: {exc}") from exc
    return variants


class ValenceArousalConfig(_Strict):
    """Per-class (valence, arousal) coordinates and the Gaussian kernel width."""

    bandwidth: float = Field(0.5, gt=0.0)
    coordinates: dict[str, tuple[float, float]]


class SimilarityConfig(_Strict):
    """Derived similarity matrices."""

    derived_from: str = Field(
        "cross_entropy",
        description="variant whose models give the learned and confusion matrices",
    )
    valence_arousal: ValenceArousalConfig


class BootstrapConfig(_Strict):
    """Utterance-level bootstrap of the pooled out-of-fold predictions."""

    n_resamples: int = Field(2000, ge=100)
    confidence: float = Field(0.95, gt=0.5, lt=1.0)


SCALAR_METRICS = (
    "accuracy",
    "uar",
    "macro_f1",
    "weighted_f1",
    "cross_entropy",
    "mistake_severity",
    "semantic_cost",
    "ece",
)


class EvaluationConfig(_Strict):
    """Report, significance tests and figures."""

    decimals: int = Field(4, ge=0, le=8)
    baseline: str = Field("cross_entropy", description="variant the others face")
    alpha: float = Field(0.05, gt=0.0, lt=1.0, description="significance level")
    significance_test: Literal[
        "wilcoxon", "t_test", "corrected_t_test", "bootstrap"
    ] = "corrected_t_test"
    adjust: Literal["holm", "none"] = "holm"
    report_metrics: list[str] = Field(
        default_factory=lambda: ["accuracy", "uar", "mistake_severity", "semantic_cost"]
    )
    bootstrap: BootstrapConfig = Field(default_factory=BootstrapConfig)
    ece_bins: int = Field(
        15,
        ge=2,
        description="confidence bins of the ECE: in the tables and the reliability "
        "figure alike",
    )
    ensembles: list[str] | Literal["all"] = Field(
        default_factory=list,
        description="loss variants whose network is also averaged with a linear "
        "model (its own loss's, linear_<variant>, when baselines.losses fits one; "
        "else the reference baseline), the network's weight chosen on the "
        "validation part: a row ensemble_<variant> each; all: every variant",
    )
    ensemble_weight: float | Literal["validation"] = Field(
        0.3,
        description="the network's weight in an ensemble (the linear model's is 1 "
        "minus it), or validation: chosen per fold on the validation part by "
        "log-likelihood",
    )
    calibration: Literal["temperature", "none"] = Field(
        "temperature",
        description="temperature: every model's probabilities divided (in log space) "
        "by a temperature fitted on held-out predictions before they are scored, "
        "decided on and averaged | none: scored as the model gives them",
    )
    calibration_objective: Literal["log_likelihood", "confidence"] = Field(
        "log_likelihood",
        description="how the temperature is fitted: log_likelihood (Guo et al.) | "
        "confidence (mean top-class probability = accuracy on the held-out rows)",
    )
    pair_cost_confidence: float = Field(0.7, gt=0.2, lt=1.0)
    rule_shift_warning: float = Field(
        0.15,
        gt=0.0,
        le=1.0,
        description="the report flags a variant whose decision rules' predicted "
        "class distributions differ by at least this total-variation distance",
    )

    @field_validator("ensemble_weight")
    @classmethod
    def _a_weight(cls, value: float | str) -> float | str:
        if value != "validation" and not 0.0 <= float(value) <= 1.0:
            raise ValueError(
                f"evaluation.ensemble_weight must lie in [0, 1] or be 'validation', "
                f"got {value}"
            )
        return value

    def temperature_objective(self) -> str | None:
        """How temperatures are fitted, or None without calibration."""
        return None if self.calibration == "none" else self.calibration_objective

    @model_validator(mode="before")
    @classmethod
    def _renamed_keys(cls, data: Any) -> Any:
        if isinstance(data, dict) and "reliability_bins" in data:
            raise ValueError(
                "evaluation.reliability_bins is now evaluation.ece_bins (one bin "
                "count for the tables' ECE and the reliability figure)"
            )
        return data

    @field_validator("report_metrics")
    @classmethod
    def _known_metrics(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(SCALAR_METRICS))
        if unknown:
            raise ValueError(
                f"unknown metric(s) {unknown}; expected some of {list(SCALAR_METRICS)}"
            )
        return value


class TfidfConfig(_Strict):
    """One block of TF-IDF features of the transcripts (word or character n-grams)."""

    analyzer: Literal["char_wb", "char", "word"] = Field(
        "char_wb", description="character n-grams inside word boundaries, or words"
    )
    ngram_range: tuple[int, int] = (2, 5)
    min_df: int = Field(
        2, ge=1, description="n-grams in fewer training texts are dropped"
    )
    max_features: int | None = Field(100_000, gt=0)
    sublinear_tf: bool = True

    @field_validator("ngram_range")
    @classmethod
    def _ordered(cls, value: tuple[int, int]) -> tuple[int, int]:
        if not 1 <= value[0] <= value[1]:
            raise ValueError(
                f"ngram_range must be [low, high] with 1 <= low <= high, got {value}"
            )
        return value

    def describe(self) -> str:
        """``word 1–2-grams``, ``char_wb 2–5-grams``."""
        return f"{self.analyzer} {self.ngram_range[0]}–{self.ngram_range[1]}-grams"


def _default_tfidf_blocks() -> list[TfidfConfig]:
    return [
        TfidfConfig(analyzer="word", ngram_range=(1, 2)),
        TfidfConfig(analyzer="char_wb", ngram_range=(2, 5)),
    ]


class BaselinesConfig(_Strict):
    """Class-balanced logistic regressions scored on the same folds as the network.

    ``linear_speech`` (acoustic statistics), ``linear_text`` (TF-IDF: the blocks of
    ``text`` side by side, word and character n-grams by default) and their late
    fusion ``linear_fusion``, for the modalities the model uses. ``C`` is chosen
    from ``c_grid`` by UAR: over ``inner_folds`` folds of each outer fold's
    training and validation parts (``cross_validation``, the default: one
    validation speaker is too few to choose by), or on its validation part alone.
    """

    enabled: bool = True
    c_grid: list[float] = Field(
        default_factory=lambda: [0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0],
        min_length=1,
    )
    selection: Literal["cross_validation", "validation"] = Field(
        "cross_validation",
        description="how C is chosen: by UAR over inner folds of the training and "
        "validation parts (grouped by speaker when the folds are), then refitted on "
        "both; or by UAR on the validation part alone",
    )
    inner_folds: int = Field(3, ge=2, description="folds of the cross_validation")
    max_iter: int = Field(2000, gt=0)
    losses: list[str] = Field(
        default_factory=list,
        description="loss variants whose loss, similarity matrix and hyper-parameters "
        "also fit the linear models (a softmax regression fitted like scikit-learn's "
        "logistic regression, C chosen the same way): one more row, "
        "linear_<variant>, per variant named",
    )
    text: list[TfidfConfig] = Field(default_factory=_default_tfidf_blocks, min_length=1)

    @field_validator("text", mode="before")
    @classmethod
    def _one_block(cls, value: Any) -> Any:
        # A single block (the format before word and character n-grams were
        # combined) is a list of one.
        return [value] if isinstance(value, dict) else value

    @field_validator("c_grid")
    @classmethod
    def _positive(cls, value: list[float]) -> list[float]:
        if any(c <= 0 for c in value):
            raise ValueError(f"c_grid values must be positive, got {value}")
        return value


class TrackingConfig(_Strict):
    """MLflow tracking through kedro-mlflow (the ``tracking`` extra)."""

    enabled: bool = False
    log_models: bool = True


class FinalModelConfig(_Strict):
    """The model trained on all utterances for use on new ones.

    ``variant`` names one of ``loss_variants``; ``epochs`` is a fixed count or
    ``median_best``, the median over folds of that variant's early-stopping epoch.
    """

    variant: str = Field(
        "emotion_aware", description="the loss variant to train on all data"
    )
    epochs: Literal["median_best"] | int = Field(
        "median_best",
        description="median_best (median best epoch over the folds) or a count",
    )

    @field_validator("epochs")
    @classmethod
    def _positive(cls, value: str | int) -> str | int:
        if isinstance(value, int) and value <= 0:
            raise ValueError(f"epochs must be positive or 'median_best', got {value}")
        return value

    def check_variant(self, variants: dict | tuple | list) -> None:
        """Raise a ``ValueError`` naming the key if ``variant`` is not configured."""
        if self.variant not in variants:
            raise ValueError(
                f"final_model.variant {self.variant!r} is not one of the "
                f"loss_variants {sorted(variants)}; set final_model.variant "
                "(conf/base/parameters_final_model.yml) to a configured variant"
            )


class StudyCorpusConfig(_Strict):
    """One corpus of a study: its catalog entry and what its runs change.

    ``parameters`` override the project's parameters (and ``study.parameters``)
    for this corpus only: mappings merge key by key, lists and values replace, and
    a dotted key (``model.modalities``) sets one nested value.
    """

    dataset: str = Field(min_length=1, description="catalog entry of the corpus")
    precomputed: bool = Field(
        False,
        description="true: the entry holds precomputed features "
        "(PrecomputedCorpusDataset), read as the from_features pipeline reads them",
    )
    parameters: dict[str, Any] = Field(default_factory=dict)


class StudyTestsConfig(_Strict):
    """How the study compares the variants over its corpus × seed blocks."""

    reference: str = Field(
        "cross_entropy", description="the loss variant every other is tested against"
    )
    decision: Literal["argmax", "min_expected_cost"] = Field(
        "argmax", description="the decision rule whose scores are ranked"
    )
    metrics: list[Literal["uar", "accuracy", "macro_f1", "mistake_severity"]] = Field(
        default_factory=lambda: ["uar", "accuracy", "mistake_severity"], min_length=1
    )
    alpha: float = Field(0.05, gt=0.0, lt=1.0)


class StudyConfig(_Strict):
    """The ``study`` block: corpora × seeds, each a whole cross-validation run.

    Every run's parameters are the project's parameters, then ``parameters``
    (all runs), then the corpus's own ``parameters``, then ``seed``; ``variants``
    keeps only the named ``loss_variants`` (null: all of them).
    """

    corpora: dict[str, StudyCorpusConfig] = Field(min_length=1)
    seeds: list[int] = Field(min_length=1)
    variants: list[str] | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    tests: StudyTestsConfig = Field(default_factory=StudyTestsConfig)

    @field_validator("corpora")
    @classmethod
    def _names(cls, value: dict) -> dict:
        bad = [n for n in value if not _IDENTIFIER.match(n) or n in cls.model_fields]
        if bad:
            raise ValueError(
                f"corpus names become namespaces: lower-case identifiers other "
                f"than {sorted(cls.model_fields)}, got {bad}"
            )
        return value

    @field_validator("seeds")
    @classmethod
    def _distinct(cls, value: list[int]) -> list[int]:
        if len(set(value)) != len(value) or any(s < 0 for s in value):
            raise ValueError(f"seeds must be distinct and non-negative, got {value}")
        return value
