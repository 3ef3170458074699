"""A trained model bundled with everything that turns raw inputs into its inputs.

An :class:`EmotionRecognizer` holds the Keras network and its preprocessing state:
the class list, the feature scaler and vocabulary fitted on the training data, the
acoustic and text settings that produced its inputs, the hand-set similarity used by
the minimum-expected-cost decision, and the loss variant it was trained with. It is
saved as a folder (``model.keras`` and ``recognizer.json``) and loads without Kedro:

    >>> from emotion_aware_loss.inference.recognizer import EmotionRecognizer
    >>> recognizer = EmotionRecognizer.load(
    ...     "data/06_models/final_model/<v>/final_model"
    ... )

Importing this module registers the project's custom losses and metrics, which the
``.keras`` file refers to by name.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pandas as pd

import emotion_aware_loss.losses.family  # noqa: F401  (registers the custom losses)
from emotion_aware_loss.config import AcousticConfig, LossConfig, TextConfig
from emotion_aware_loss.features.encoders import EncoderError, check_extractors
from emotion_aware_loss.features.text import encode_texts, normalise_text
from emotion_aware_loss.folds.cross_validation import apply_scaler
from emotion_aware_loss.folds.speakers import normalise_speakers
from emotion_aware_loss.losses.metrics import predicted_labels
from emotion_aware_loss.models.inputs import InputSpec
from emotion_aware_loss.training.fitting import select_inputs

MODEL_FILE = "model.keras"
STATE_FILE = "recognizer.json"
FORMAT_VERSION = 1


class RecognizerError(ValueError):
    """A saved recognizer is incomplete, or inputs do not fit the model."""


@dataclass(frozen=True)
class EmotionRecognizer:
    """A trained fusion network and its preprocessing state.

    Attributes:
        model: The trained Keras model (inputs ``speech`` and/or ``text``).
        classes: Class names in the order of the model's outputs.
        feature_scaler: Per-feature ``mean`` and ``std`` for the acoustic frames.
        vocabulary: Token list; token id ``i + 2`` is ``vocabulary[i]``.
        acoustic: The acoustic-feature settings the model's speech input came from.
        text: The transcript normalisation and sequence length.
        input_spec: Input shapes the model was built for (``n_frames``,
            ``n_features``, ``max_tokens``, the text input's kind) and
            ``extractors``: the feature library and any encoder files (path,
            size, SHA-256) that made its inputs, checked when it is loaded.
        similarity: Hand-set ``(K, K)`` similarity for the min-expected-cost rule.
        variant: Name of the loss variant.
        loss: The variant's loss configuration.
        details: Free-form training facts (epochs, utterances), saved as they are.
        speaker_statistics: With ``acoustic.speaker_normalisation``, its
            ``min_utterances`` and the training corpus's ``corpus`` statistics (for
            new speakers with fewer utterances; :mod:`emotion_aware_loss.folds.speakers`).
    """

    model: keras.Model
    classes: list[str]
    feature_scaler: dict[str, list[float]]
    vocabulary: list[str]
    acoustic: AcousticConfig
    text: TextConfig
    input_spec: InputSpec
    similarity: np.ndarray
    variant: str
    loss: LossConfig
    details: dict[str, Any] = field(default_factory=dict)
    speaker_statistics: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.acoustic.speaker_normalisation and not self.speaker_statistics.get(
            "corpus"
        ):
            raise RecognizerError(
                "the model was trained on speaker-normalised features "
                "(preprocessing.acoustic.speaker_normalisation) but its bundle has "
                "no corpus statistics to normalise new speakers with; retrain it "
                "with this version (kedro run --pipelines=final_model)"
            )

    def normalise_speakers(
        self, features: np.ndarray, table: pd.DataFrame
    ) -> np.ndarray:
        """Per-speaker normalisation of new utterances, as in training.

        A speaker with at least ``min_utterances`` utterances in ``table`` is
        standardised with their own statistics; the others (and utterances
        without a speaker) with the training corpus's. Without
        ``speaker_normalisation`` the features are returned as they are.

        Args:
            features: Unscaled acoustic features of ``table``'s utterances.
            table: ``speaker`` and ``n_frames`` per utterance.
        """
        if not self.acoustic.speaker_normalisation:
            return features
        acoustic = self.acoustic.model_copy(
            update={"speaker_min_utterances": self.speaker_statistics["min_utterances"]}
        )
        normalised, _ = normalise_speakers(
            features, table, acoustic, self.speaker_statistics["corpus"]
        )
        return normalised

    @property
    def modalities(self) -> tuple[str, ...]:
        """The inputs the model takes: ``speech``, ``text`` or both."""
        return tuple(t.name.split(":")[0] for t in self.model.inputs)

    def tokens(self, transcripts: list[str]) -> list[str]:
        """Transcripts normalised the way the training transcripts were."""
        keep = self.text.punctuation == "keep"
        return [normalise_text(str(t), self.text.lowercase, keep) for t in transcripts]

    @property
    def text_embeddings(self) -> bool:
        """Whether the text input is a frozen text encoder's embeddings."""
        return self.input_spec.embedded_text

    def model_inputs(
        self,
        features: np.ndarray | None,
        n_frames: np.ndarray,
        tokens: list[str],
        text_features: np.ndarray | None = None,
    ) -> dict[str, np.ndarray]:
        """The model's inputs from raw acoustic features and normalised tokens.

        Args:
            features: ``(n, frames, n_features)`` unscaled features (``None`` for a
                text-only model).
            n_frames: Valid frames per utterance.
            tokens: Normalised transcripts (see :meth:`tokens`).
            text_features: The text encoder's embeddings of the raw transcripts,
                for a model whose text input they are (:attr:`text_embeddings`).

        Raises:
            RecognizerError: If the features' shape is not the one the model was
                trained on.
        """
        inputs = {}
        if "speech" in self.modalities:
            expected = (
                max(self.input_spec.n_frames, 1),
                self.input_spec.n_features,
            )
            if features is None or features.shape[1:] != expected:
                got = None if features is None else features.shape[1:]
                raise RecognizerError(
                    f"the model takes acoustic features of shape {expected} "
                    f"(frames, features), got {got}"
                )
            inputs["speech"] = apply_scaler(
                features, np.asarray(n_frames), self.feature_scaler
            )
        if "text" in self.modalities and self.text_embeddings:
            frames = self.input_spec.text_frames
            width = self.input_spec.text_features
            expected = (frames, width) if frames else (width,)
            if text_features is None or text_features.shape[1:] != expected:
                got = None if text_features is None else text_features.shape[1:]
                raise RecognizerError(
                    f"the model takes text-encoder embeddings of shape {expected}, "
                    f"got {got}"
                )
            inputs["text"] = text_features
        elif "text" in self.modalities:
            inputs["text"] = encode_texts(
                tokens, self.vocabulary, self.input_spec.max_tokens
            )
        return select_inputs(self.model, inputs)

    def prediction_table(
        self, utterance_ids: list[str], inputs: dict[str, np.ndarray]
    ) -> pd.DataFrame:
        """Class probabilities and the prediction under each decision rule.

        Returns:
            ``utterance_id, prob_<class>..., predicted_argmax,
            predicted_min_expected_cost``, one row per utterance.
        """
        probabilities = self.model.predict(inputs, verbose=0, batch_size=256)
        table = pd.DataFrame({"utterance_id": list(utterance_ids)})
        for j, name in enumerate(self.classes):
            table[f"prob_{name}"] = probabilities[:, j].astype(float)
        for column, labels in predicted_labels(
            probabilities, self.similarity, self.classes
        ).items():
            table[column] = labels
        return table

    def state(self) -> dict[str, Any]:
        """Everything but the network, JSON-ready."""
        return {
            "format": FORMAT_VERSION,
            "variant": self.variant,
            "loss": self.loss.model_dump(),
            "classes": list(self.classes),
            "feature_scaler": self.feature_scaler,
            "vocabulary": list(self.vocabulary),
            "acoustic": self.acoustic.model_dump(),
            "text": self.text.model_dump(),
            "input_spec": self.input_spec.to_dict(),
            "similarity": np.asarray(self.similarity, dtype=float).tolist(),
            "details": self.details,
            "speaker_statistics": self.speaker_statistics,
        }

    def save(self, path: str | Path) -> None:
        """Write ``model.keras`` and ``recognizer.json`` into the folder ``path``."""
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        keras.models.save_model(self.model, folder / MODEL_FILE)
        (folder / STATE_FILE).write_text(
            json.dumps(self.state(), indent=1, ensure_ascii=False), encoding="utf-8"
        )

    @classmethod
    def load(
        cls, path: str | Path, encoder_paths: dict[str, str] | None = None
    ) -> EmotionRecognizer:
        """Read a recognizer saved by :meth:`save`.

        A model trained on a pre-trained encoder's features needs that encoder to
        make new inputs. The bundle records the file's path and SHA-256 (not the
        file, which may be large); it must be at that path, or at the one given
        in ``encoder_paths``, and be the same file.

        Args:
            path: The bundle folder.
            encoder_paths: New locations of moved files: ``speech`` (the speech
                encoder), ``text`` (the text encoder), ``tokenizer``.

        Raises:
            RecognizerError: If the folder lacks either file, the state is not a
                recognizer's, or an encoder file is missing or not the one the
                model was trained with.
        """
        import emotion_aware_loss.losses.metrics  # noqa: F401, PLC0415  (registers metrics)
        import emotion_aware_loss.models.layers  # noqa: F401, PLC0415  (and layers)

        folder = Path(path)
        missing = [n for n in (MODEL_FILE, STATE_FILE) if not (folder / n).is_file()]
        if missing:
            raise RecognizerError(
                f"{folder} is not a saved recognizer: {missing} missing (expected "
                f"{MODEL_FILE} and {STATE_FILE}, written by the final_model pipeline)"
            )
        state = json.loads((folder / STATE_FILE).read_text(encoding="utf-8"))
        if state.get("format") != FORMAT_VERSION:
            raise RecognizerError(
                f"{folder / STATE_FILE} has format {state.get('format')!r}; "
                f"this version reads format {FORMAT_VERSION}"
            )
        acoustic, text = _relocated(
            AcousticConfig.model_validate(state["acoustic"]),
            # bundles written before the option existed dropped punctuation
            TextConfig.model_validate({"punctuation": "drop"} | state["text"]),
            encoder_paths or {},
        )
        input_spec = InputSpec.from_dict(
            state["input_spec"], source=f"{folder / STATE_FILE}: input_spec"
        )
        try:
            check_extractors(
                input_spec.extractors,
                acoustic,
                text,
                f"the model at {folder}",
            )
        except EncoderError as exc:
            raise RecognizerError(
                f"{exc} (EmotionRecognizer.load(..., encoder_paths=...) points at "
                "moved files)"
            ) from exc
        return cls(
            model=keras.models.load_model(folder / MODEL_FILE),
            classes=list(state["classes"]),
            feature_scaler=state["feature_scaler"],
            vocabulary=list(state["vocabulary"]),
            acoustic=acoustic,
            text=text,
            input_spec=input_spec,
            similarity=np.asarray(state["similarity"], dtype=float),
            variant=state["variant"],
            loss=LossConfig.model_validate(state["loss"]),
            details=state.get("details", {}),
            # bundles written before speaker normalisation existed have none
            speaker_statistics=state.get("speaker_statistics", {}),
        )


def _relocated(
    acoustic: AcousticConfig, text: TextConfig, paths: dict[str, str]
) -> tuple[AcousticConfig, TextConfig]:
    """The settings with moved encoder files at their new paths."""
    unknown = sorted(set(paths) - {"speech", "text", "tokenizer"})
    if unknown:
        raise RecognizerError(
            f"encoder_paths takes the keys speech, text and tokenizer, got {unknown}"
        )
    if "speech" in paths:
        encoder = acoustic.encoder.model_copy(update={"path": str(paths["speech"])})
        acoustic = acoustic.model_copy(update={"encoder": encoder})
    moved = {
        field: str(paths[key])
        for key, field in (("text", "path"), ("tokenizer", "tokenizer"))
        if key in paths
    }
    if moved:
        text = text.model_copy(
            update={"encoder": text.encoder.model_copy(update=moved)}
        )
    return acoustic, text
