"""Nodes of the baselines pipeline (one instance per fold)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from emotion_aware_loss.config import (
    BaselinesConfig,
    CrossValidationConfig,
    EvaluationConfig,
    ModelConfig,
    validate_variants,
)
from emotion_aware_loss.config.layout import (
    FUSION,
    SPEECH,
    TEXT,
    baseline_names,
    convex_name,
    reference_baseline,
)
from emotion_aware_loss.evaluation.baselines import (
    SPARSE_ROW_SPACE,
    FoldData,
    acoustic_statistics,
    design,
    speech_features,
    tfidf_features,
)
from emotion_aware_loss.evaluation.scoring import (
    score_test_predictions,
    temperature_fit,
)
from emotion_aware_loss.evaluation.selection import Design, Fitted, fit_each
from emotion_aware_loss.features.store import iter_row_chunks
from emotion_aware_loss.folds.cross_validation import (
    CHUNK_ROWS,
    TEST,
    TRAIN,
    VALIDATION,
    rows_of,
)
from emotion_aware_loss.losses.family import own_hyper_parameters
from emotion_aware_loss.models.calibration import TemperatureFit, apply_temperature
from emotion_aware_loss.models.inputs import InputSpec
from emotion_aware_loss.models.softmax_regression import SoftmaxRegression

logger = logging.getLogger(__name__)


def _statistics(
    features: np.ndarray, n_frames: np.ndarray, rows: np.ndarray
) -> np.ndarray:
    """Utterance statistics of ``rows``, read a chunk of utterances at a time."""
    chunks = [
        acoustic_statistics(chunk, n_frames[rows[start : start + CHUNK_ROWS]])
        for start, chunk in zip(
            range(0, len(rows), CHUNK_ROWS),
            iter_row_chunks(features, rows, CHUNK_ROWS),
            strict=True,
        )
    ]
    width = features.shape[2] * (1 if features.shape[1] == 1 else 2)
    return np.concatenate(chunks) if chunks else np.empty((0, width))


@dataclass(frozen=True)
class _Fold:
    """One fold's rows by role, labels and (speaker-independent folds) speakers."""

    roles: list[np.ndarray]
    labels: FoldData
    speakers: FoldData | None


def _fold(
    model_input_table: pd.DataFrame,
    split: pd.DataFrame,
    cross_validation: CrossValidationConfig,
) -> _Fold:
    roles = [
        rows_of(model_input_table, split, role) for role in (TRAIN, VALIDATION, TEST)
    ]
    label_ids = model_input_table["label_id"].to_numpy(dtype=np.int64)
    speakers = None
    if cross_validation.speaker_independent:
        speaker_ids = model_input_table["speaker"].astype(str).to_numpy()
        speakers = FoldData(*(speaker_ids[rows] for rows in roles))
    return _Fold(roles, FoldData(*(label_ids[rows] for rows in roles)), speakers)


def _modality_inputs(
    fold: _Fold,
    model_input_table: pd.DataFrame,
    acoustic_features: np.ndarray,
    modalities: list[str],
) -> dict[str, FoldData]:
    """The fold's inputs of each linear model by role: the utterance statistics
    (``linear_speech``) and the transcripts (``linear_text``), read once for every
    model fitted on them."""
    inputs: dict[str, FoldData] = {}
    names = baseline_names(modalities)
    if SPEECH in names:
        n_frames = model_input_table["n_frames"].to_numpy(dtype=np.int64)
        inputs[SPEECH] = FoldData(
            *(_statistics(acoustic_features, n_frames, rows) for rows in fold.roles)
        )
    if TEXT in names:
        tokens = model_input_table["tokens"].astype(str).to_numpy()
        inputs[TEXT] = FoldData(*(tokens[rows] for rows in fold.roles))
    return inputs


@dataclass(frozen=True)
class _Scores:
    """A linear model's test probabilities as fitted, the temperature that
    calibrates them, (for a mean of calibrated models) the uncalibrated ones, and
    its calibrated held-out probabilities with their rows' positions in the fold's
    training and validation parts (concatenated); ``converged``: whether its
    final fits met their solver's criterion (None: the solver does not say)."""

    probabilities: np.ndarray
    temperature: float = 1.0
    uncalibrated: np.ndarray | None = None
    held_out: np.ndarray | None = None
    held_out_rows: np.ndarray | None = None
    converged: bool | None = None


def _temperature(fitted: Fitted, calibrate: TemperatureFit | None) -> float:
    if calibrate is None or fitted.held_out is None:
        return 1.0
    return calibrate(*fitted.held_out)


def _single(fitted: Fitted, calibrate: TemperatureFit | None) -> _Scores:
    temperature = _temperature(fitted, calibrate)
    if fitted.held_out is None:
        return _Scores(fitted.test, temperature, converged=fitted.converged)
    return _Scores(
        fitted.test,
        temperature,
        held_out=apply_temperature(fitted.held_out[0], temperature),
        held_out_rows=fitted.held_out_rows,
        converged=fitted.converged,
    )


def _all_converged(*members: _Scores) -> bool | None:
    """Whether every member's fits converged (None if no member says)."""
    said = [m.converged for m in members if m.converged is not None]
    return all(said) if said else None


def _fusion(
    speech: _Scores,
    text: _Scores,
    labels: np.ndarray | None,
    calibrate: TemperatureFit | None,
) -> _Scores:
    """The mean of the two models' (calibrated) probabilities, and the temperature
    that calibrates the mean on their held-out rows (``labels``; the same inner
    folds: the labels, seed and speakers are the same)."""
    members = (speech, text)
    test = np.mean(
        [apply_temperature(m.probabilities, m.temperature) for m in members], axis=0
    )
    uncalibrated = (
        None if calibrate is None else (speech.probabilities + text.probabilities) / 2.0
    )
    converged = _all_converged(*members)
    if labels is None or speech.held_out is None or text.held_out is None:
        return _Scores(test, 1.0, uncalibrated, converged=converged)
    if not np.array_equal(speech.held_out_rows, text.held_out_rows):
        raise ValueError(
            "linear_fusion: the speech and text models were held out on different "
            "rows; their mean cannot be calibrated"
        )
    held = (speech.held_out + text.held_out) / 2.0
    temperature = 1.0 if calibrate is None else calibrate(held, labels)
    return _Scores(
        test,
        temperature,
        uncalibrated,
        apply_temperature(held, temperature),
        speech.held_out_rows,
        converged,
    )


def _designs(
    fold: _Fold,
    inputs: dict[str, FoldData],
    config: BaselinesConfig,
    seed: int,
    text_density: float = 0.0,
) -> dict[str, Design]:
    """Each modality's inputs transformed for every split that chooses ``C`` and
    for the final fit: once per fold, for every linear model fitted on them
    (``text_density``: TF-IDF in row-space coordinates up to that density, see
    :func:`tfidf_features`)."""
    features = {
        SPEECH: speech_features,
        TEXT: lambda: tfidf_features(config.text, text_density),
    }
    return {
        modality: design(
            features[modality](),
            data,
            fold.labels,
            config,
            seed,
            modality,
            fold.speakers,
        )
        for modality, data in inputs.items()
    }


def _probabilities(
    designs: dict[str, Design],
    config: BaselinesConfig,
    n_classes: int,
    seed: int,
    calibrate: TemperatureFit | None,
    model: BaseEstimator | None = None,
    name: str | None = None,
    threads: int = 1,
) -> dict[str, _Scores]:
    """Test-part probabilities of the linear model of each modality in
    ``designs``, and of their mean for both, with the temperatures that calibrate
    them (``calibrate``: how temperatures are fitted, None for none; ``model``: the
    classifier to fit instead of scikit-learn's logistic regression; ``name`` names
    it in messages; ``threads``: fitted on so many, see :func:`fit_each`)."""
    fitted = fit_each(designs, config, n_classes, seed, model, threads, name)
    scores = {modality: _single(f, calibrate) for modality, f in fitted.items()}
    if len(fitted) == 2:
        held = fitted[SPEECH].held_out
        scores[FUSION] = _fusion(
            scores[SPEECH], scores[TEXT], None if held is None else held[1], calibrate
        )
    return scores


def _held_out_table(
    scores: _Scores, fold: _Fold, model_input_table: pd.DataFrame, classes: list[str]
) -> pd.DataFrame:
    """``utterance_id, label, prob_<class>...``: the model's calibrated
    probabilities on the rows held out while its C was chosen (inner folds of the
    training and validation parts, or the validation part), from models that did
    not train on them; what an ensemble's weights are chosen on."""
    columns = ["utterance_id", "label", *(f"prob_{c}" for c in classes)]
    if scores.held_out is None:
        return pd.DataFrame(columns=columns)
    rows = np.concatenate(fold.roles[:2])[scores.held_out_rows]
    table = pd.DataFrame(
        {
            "utterance_id": model_input_table["utterance_id"].to_numpy()[rows],
            "label": [
                classes[i] for i in model_input_table["label_id"].to_numpy()[rows]
            ],
        }
    )
    for j, name in enumerate(classes):
        table[f"prob_{name}"] = scores.held_out[:, j]
    return table


def _scored(
    probabilities: dict[str, _Scores],
    fold: _Fold,
    model_input_table: pd.DataFrame,
    split: pd.DataFrame,
    similarity_matrix: pd.DataFrame,
    classes: list[str],
    evaluation: EvaluationConfig,
) -> dict[str, object]:
    """``<name>_metrics`` and ``<name>_predictions`` of each model's test part,
    scored exactly like a network's (calibrated, both decision rules, the same
    metrics), and ``<name>_held_out``, its held-out predictions."""
    outputs: dict[str, object] = {}
    for name, scores in probabilities.items():
        metrics, predictions = score_test_predictions(
            scores.probabilities,
            fold.labels.test,
            fold.roles[2],
            model_input_table,
            split,
            similarity_matrix,
            classes,
            evaluation.ece_bins,
            scores.temperature,
            scores.uncalibrated,
        )
        if scores.converged is not None:
            metrics["converged"] = scores.converged
        outputs[f"{name}_metrics"] = metrics
        outputs[f"{name}_predictions"] = predictions
        outputs[f"{name}_held_out"] = _held_out_table(
            scores, fold, model_input_table, classes
        )
        logger.info(
            "%s, fold %d: accuracy %.4f, UAR %.4f, temperature %.3f",
            name,
            metrics["fold"],
            metrics["decisions"]["argmax"]["accuracy"],
            metrics["decisions"]["argmax"]["uar"],
            scores.temperature,
        )
    return outputs


def fit_linear_baselines(
    model_input_table: pd.DataFrame,
    acoustic_features: np.ndarray,
    split: pd.DataFrame,
    similarity_matrix: pd.DataFrame,
    input_spec: InputSpec,
    baselines: BaselinesConfig,
    model: ModelConfig,
    evaluation: EvaluationConfig,
    cross_validation: CrossValidationConfig,
    seed: int,
) -> dict[str, object]:
    """Fit and score the linear references of one fold.

    Each is fitted on the fold's training and validation parts with ``C`` chosen
    by inner folds of them (grouped by speaker when the folds are
    speaker-independent), or on the training part with ``C`` chosen on the
    validation part (``baselines.selection``), and scored on its test part
    exactly like a network (both decision rules, the same metrics and prediction
    table).

    Returns:
        ``<baseline>_metrics`` and ``<baseline>_predictions`` for every baseline of
        ``model.modalities`` (``linear_speech``, ``linear_text``, ``linear_fusion``).
    """
    classes = list(input_spec.classes)
    fold = _fold(model_input_table, split, cross_validation)
    inputs = _modality_inputs(
        fold, model_input_table, acoustic_features, model.modalities
    )
    calibrate = temperature_fit(evaluation)
    probabilities = _probabilities(
        _designs(fold, inputs, baselines, seed),
        baselines,
        len(classes),
        seed,
        calibrate,
    )
    return _scored(
        probabilities,
        fold,
        model_input_table,
        split,
        similarity_matrix,
        classes,
        evaluation,
    )


def fit_linear_family(
    model_input_table: pd.DataFrame,
    acoustic_features: np.ndarray,
    split: pd.DataFrame,
    similarity_matrix: pd.DataFrame,
    input_spec: InputSpec,
    baselines: BaselinesConfig,
    model: ModelConfig,
    evaluation: EvaluationConfig,
    cross_validation: CrossValidationConfig,
    seed: int,
    loss_variants: dict,
    **similarities: pd.DataFrame,
) -> dict[str, object]:
    """The linear models of one fold fitted with the losses of
    ``baselines.losses``: for each, the reference baseline of ``model.modalities``
    (acoustic statistics, TF-IDF, their mean) with scikit-learn's logistic
    regression replaced by a :class:`SoftmaxRegression` with the variant's loss,
    hyper-parameters and similarity matrix (``similarities``: variant -> its
    matrix in this fold), ``C`` chosen the same way; scored like the baselines.

    Returns:
        ``linear_<variant>_metrics`` and ``_predictions`` per variant.
    """
    classes = list(input_spec.classes)
    fold = _fold(model_input_table, split, cross_validation)
    inputs = _modality_inputs(
        fold, model_input_table, acoustic_features, model.modalities
    )
    variants = validate_variants(loss_variants)
    reference = reference_baseline(model.modalities)
    # the same models as on sparse TF-IDF, in half the L-BFGS iterations
    designs = _designs(fold, inputs, baselines, seed, SPARSE_ROW_SPACE)
    probabilities: dict[str, _Scores] = {}
    calibrate = temperature_fit(evaluation)
    for variant, matrix in similarities.items():
        loss = variants[variant]
        regression = SoftmaxRegression(
            loss.loss,
            matrix.to_numpy(dtype=np.float64),
            own_hyper_parameters(loss.loss, loss.hyper_parameters()),
            max_iter=baselines.max_iter,
            warm_start=True,
            solver=baselines.solver,
        )
        threads = baselines.fitting_threads(regression.runs_compiled())
        name = convex_name(variant)
        probabilities[name] = _probabilities(
            designs,
            baselines,
            len(classes),
            seed,
            calibrate,
            regression,
            name,
            threads,
        )[reference]
    return _scored(
        probabilities,
        fold,
        model_input_table,
        split,
        similarity_matrix,
        classes,
        evaluation,
    )
