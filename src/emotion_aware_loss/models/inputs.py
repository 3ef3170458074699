"""What every model of a run is built for: its inputs' shapes and its classes.

Preprocessing writes one :class:`InputSpec` per corpus (the catalog's
``input_spec``, a JSON file read and written by
:class:`emotion_aware_loss.datasets.InputSpecDataset`); model building, training,
the baselines, evaluation, the final model and the saved recognizer read it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

TextInput = Literal["tokens", "embeddings"]
_COUNTS = (
    "n_frames",
    "n_features",
    "max_tokens",
    "vocab_size",
    "text_features",
    "text_frames",
)
_FILE_ORDER = (
    "speech",
    "n_frames",
    "n_features",
    "acoustic_feature",
    "max_tokens",
    "vocab_size",
    "classes",
    "text_input",
    "text_features",
    "text_frames",
    "extractors",
)


@dataclass(frozen=True)
class InputSpec:
    """The shapes of a run's model inputs and its classes.

    Attributes:
        classes: The emotion classes, in the order of the models' outputs.
        n_frames: Acoustic frames per utterance; 0 for one vector per utterance.
        n_features: Acoustic features per frame (or per utterance vector).
        max_tokens: Token ids per transcript (padded or cut).
        vocab_size: Token ids in use, the reserved ones included.
        acoustic_feature: The feature set (``preprocessing.acoustic.feature``), or
            ``precomputed`` for features read from files.
        speech: Whether the corpus has audio (False: text only).
        text_input: ``tokens`` (ids into a vocabulary) or ``embeddings`` (a frozen
            text encoder's output).
        text_features: Values per text embedding (0 without a text encoder).
        text_frames: Embeddings per transcript (0: one per transcript).
        extractors: The feature extractors' provenance (``speech``, ``text``),
            checked again when the saved model predicts.
    """

    classes: tuple[str, ...]
    n_frames: int
    n_features: int
    max_tokens: int
    vocab_size: int
    acoustic_feature: str
    speech: bool = True
    text_input: TextInput = "tokens"
    text_features: int = 0
    text_frames: int = 0
    extractors: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "classes", tuple(str(c) for c in self.classes))
        for name in _COUNTS:
            object.__setattr__(self, name, int(getattr(self, name)))
        object.__setattr__(self, "extractors", dict(self.extractors or {}))
        if self.text_input not in ("tokens", "embeddings"):
            raise ValueError(
                f"input_spec: text_input must be 'tokens' or 'embeddings', got "
                f"{self.text_input!r}"
            )

    @property
    def embedded_text(self) -> bool:
        """Whether the text input is a frozen encoder's embeddings."""
        return self.text_input == "embeddings"

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``input_spec.json``, the recognizer's state), its keys in
        the order the files have always had them."""
        data = dataclasses.asdict(self)
        data["classes"] = list(self.classes)
        return {key: data[key] for key in _FILE_ORDER}

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "input_spec") -> InputSpec:
        """Read the JSON form; keys written by earlier versions take their defaults.

        Raises:
            ValueError: If a required key is missing or a key is unknown (named,
                with ``source``).
        """
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(
                f"{source}: unknown key(s) {unknown}; expected {sorted(known)}"
            )
        required = [
            f.name
            for f in dataclasses.fields(cls)
            if f.default is dataclasses.MISSING
            and f.default_factory is dataclasses.MISSING
        ]
        missing = [name for name in required if name not in data]
        if missing:
            raise ValueError(f"{source}: missing key(s) {missing}")
        return cls(**data)
