"""Acoustic feature sets: one registry for ``preprocessing.acoustic.feature``.

The configuration's check, the extraction (which function runs per waveform, in
threads or processes), the feature dimension, whether the features are one vector
per utterance, and the provenance the final model keeps are all read from
:data:`FEATURE_SETS`. A new feature set is one :func:`register_feature_set` call:

    register_feature_set(
        "zero_crossings",
        extract=zero_crossing_statistics,       # (waveform, config) -> (1, 3) float32
        dimension=lambda config: 3,
        utterance_level=True,
    )

Functions are given as callables or as ``"module:attribute"`` references, resolved
on first use: the built-in sets name the modules that compute them, which import
the configuration themselves, so this module imports none of them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from emotion_aware_loss.registry import check_new_name, lookup

Reference = str | Callable[..., Any]


def _resolved(reference: Reference) -> Callable[..., Any]:
    if callable(reference):
        return reference
    module, _, attribute = reference.partition(":")
    return getattr(importlib.import_module(module), attribute)


@dataclass(frozen=True)
class FeatureSet:
    """One value of ``preprocessing.acoustic.feature``.

    Attributes:
        name: The value.
        extract: ``(waveform, AcousticConfig) -> (frames, features)`` float32 (one
            row for an utterance vector).
        dimension: ``(AcousticConfig) -> int``, the features per row.
        utterance_level: One vector per utterance (no time axis), or
            ``(AcousticConfig) -> bool``.
        record: ``(AcousticConfig) -> dict``: the provenance the final model keeps
            and checks at prediction time (library, version, settings); None: the
            name and the extracting function's module.
        processes: The extractor cannot be shared between threads (openSMILE):
            extraction workers are processes whatever ``workers`` says.
    """

    name: str
    extract: Reference
    dimension: Reference
    utterance_level: bool | Reference = False
    record: Reference | None = None
    processes: bool = False

    def extractor(self) -> Callable[..., Any]:
        return _resolved(self.extract)

    def dimension_of(self, config: Any) -> int:
        return int(_resolved(self.dimension)(config))

    def is_utterance_level(self, config: Any) -> bool:
        if isinstance(self.utterance_level, bool):
            return self.utterance_level
        return bool(_resolved(self.utterance_level)(config))

    def record_of(self, config: Any) -> dict[str, Any]:
        if self.record is not None:
            return dict(_resolved(self.record)(config))
        function = self.extractor()
        return {"feature": self.name, "library": function.__module__}


FEATURE_SETS: dict[str, FeatureSet] = {}


def register_feature_set(name: str, **settings: Any) -> FeatureSet:
    """Register the feature set ``name`` (``settings``: the fields of
    :class:`FeatureSet` but its name).

    Raises:
        ValueError: If ``name`` is taken or not a lower-case identifier.
    """
    check_new_name(FEATURE_SETS, "feature set", name)
    FEATURE_SETS[name] = FeatureSet(name, **settings)
    return FEATURE_SETS[name]


def feature_set(name: str) -> FeatureSet:
    """The registered feature set ``name``.

    Raises:
        ValueError: If none has that name, listing those that have.
    """
    return lookup(FEATURE_SETS, "feature", name)


_LIBROSA = "emotion_aware_loss.features.acoustic:librosa_record"
for _name in ("logmel", "mfcc"):
    register_feature_set(
        _name,
        extract="emotion_aware_loss.features.acoustic:frame_features",
        dimension="emotion_aware_loss.features.acoustic:frame_dimension",
        record=_LIBROSA,
    )
register_feature_set(
    "functionals",
    extract="emotion_aware_loss.features.acoustic:functional_frame",
    dimension="emotion_aware_loss.features.acoustic:functional_dimension",
    utterance_level=True,
    record=_LIBROSA,
)
register_feature_set(
    "broad_functionals",
    extract="emotion_aware_loss.features.descriptors:broad_functional_frame",
    dimension="emotion_aware_loss.features.descriptors:broad_functional_dimension",
    utterance_level=True,
    record=_LIBROSA,
)
for _name, _vector in (("egemaps", True), ("egemaps_lld", False), ("compare", True)):
    register_feature_set(
        _name,
        extract="emotion_aware_loss.features.opensmile:opensmile_features",
        dimension="emotion_aware_loss.features.opensmile:opensmile_dimension",
        utterance_level=_vector,
        record="emotion_aware_loss.features.opensmile:opensmile_record",
        processes=True,
    )
register_feature_set(
    "encoder",
    extract="emotion_aware_loss.features.encoders:encode_waveform",
    dimension="emotion_aware_loss.features.encoders:speech_encoder_dimension",
    utterance_level="emotion_aware_loss.features.encoders:pooled",
    record="emotion_aware_loss.features.encoders:speech_encoder_record",
)
