"""The ``model`` block (``parameters_model_building.yml``): the fusion network."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from emotion_aware_loss.config._base import _Strict


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
