"""The ``loss_variants`` and ``training`` blocks (``parameters_training.yml``)."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field, field_validator, model_validator

from emotion_aware_loss.config._base import _IDENTIFIER, _Strict
from emotion_aware_loss.losses.family import (
    own_hyper_parameter,
    own_hyper_parameters,
    registered,
)
from emotion_aware_loss.losses.similarity import SIMILARITY_SOURCES
from emotion_aware_loss.registry import lookup


class LossConfig(_Strict):
    """One loss variant: which loss (a name of
    :data:`emotion_aware_loss.losses.family.LOSS_REGISTRY`) and its hyper-parameters.

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
        description="a source of emotion_aware_loss.losses.similarity.SIMILARITY_SOURCES",
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
        lookup(SIMILARITY_SOURCES, "similarity source", value)
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
            if (problem := declared[key].check(value)) is not None:
                raise ValueError(f"{key}: {problem} for loss {self.loss!r}")
        if self.dynamic and not registered(self.loss).uses_similarity:
            raise ValueError("dynamic similarity needs a similarity-aware loss")
        return self

    def hyper_parameters(self) -> dict[str, float]:
        """The loss's hyper-parameters, its declared defaults filled in (keyword
        arguments for ``losses.family.make_loss``)."""
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
