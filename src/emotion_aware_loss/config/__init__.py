"""Typed parameter blocks, and what the parameters make of a run.

Each node that takes a ``params:`` input annotates it with one of these Pydantic
models, so Kedro (>= 1.3) validates the YAML before the run starts: a wrong type,
an unknown key or an out-of-range value fails at start-up with the key named.

One module per parameters file (``config/<pipeline>.py`` for
``conf/base/parameters_<pipeline>.yml``); every block is importable from here. Two
more modules read the parameters as a whole: :mod:`.feature_sets` (the registry of
``preprocessing.acoustic.feature``, checked here) and :mod:`.layout` (which fold
pipelines, loss variants and baselines a run has).
"""

from __future__ import annotations

from emotion_aware_loss.config.baselines import (
    BaselinesConfig,
    TfidfConfig,
)
from emotion_aware_loss.config.evaluation import (
    SCALAR_METRICS,
    BootstrapConfig,
    EvaluationConfig,
)
from emotion_aware_loss.config.final_model import (
    FinalModelConfig,
    TrackingConfig,
)
from emotion_aware_loss.config.fold_generation import (
    CrossValidationConfig,
)
from emotion_aware_loss.config.model_building import (
    AttentionConfig,
    ConvBlockConfig,
    FusionConfig,
    ModelConfig,
    SpeechBranchConfig,
    TextBranchConfig,
    WideConfig,
)
from emotion_aware_loss.config.preprocessing import (
    AcousticConfig,
    LabelConfig,
    SpeechEncoderConfig,
    TextConfig,
    TextEncoderConfig,
)
from emotion_aware_loss.config.similarity import (
    SimilarityConfig,
    ValenceArousalConfig,
)
from emotion_aware_loss.config.study import (
    StudyConfig,
    StudyCorpusConfig,
    StudyTestsConfig,
)
from emotion_aware_loss.config.training import (
    LossConfig,
    TrainingConfig,
    validate_variants,
)

__all__ = [
    "AcousticConfig",
    "AttentionConfig",
    "BaselinesConfig",
    "BootstrapConfig",
    "ConvBlockConfig",
    "CrossValidationConfig",
    "EvaluationConfig",
    "FinalModelConfig",
    "FusionConfig",
    "LabelConfig",
    "LossConfig",
    "ModelConfig",
    "SCALAR_METRICS",
    "SimilarityConfig",
    "SpeechBranchConfig",
    "SpeechEncoderConfig",
    "StudyConfig",
    "StudyCorpusConfig",
    "StudyTestsConfig",
    "TextBranchConfig",
    "TextConfig",
    "TextEncoderConfig",
    "TfidfConfig",
    "TrackingConfig",
    "TrainingConfig",
    "ValenceArousalConfig",
    "WideConfig",
    "validate_variants",
]
