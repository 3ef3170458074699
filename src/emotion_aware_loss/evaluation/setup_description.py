"""The report's account of a run: its corpus, inputs, protocol, model, losses,
baselines and machine, in words and numbers (the ``report_setup`` dataset)."""

from __future__ import annotations

import pandas as pd
from pydantic_core import to_jsonable_python

from emotion_aware_loss.config import (
    BaselinesConfig,
    CrossValidationConfig,
    LossConfig,
    ModelConfig,
    TrainingConfig,
)
from emotion_aware_loss.config.layout import (
    baseline_names,
    convex_name,
    reference_baseline,
)
from emotion_aware_loss.evaluation.provenance import (
    compute_environment,
    software_versions,
)
from emotion_aware_loss.models.inputs import InputSpec


def _linear_views(model: ModelConfig, input_spec: InputSpec) -> list[str]:
    views = []
    if "speech" in model.modalities:
        views.append(
            "speech feature mean and std over frames"
            if input_spec.n_frames
            else "the speech vector"
        )
    if "text" in model.modalities:
        views.append(
            "text embedding statistics" if input_spec.text_features else "bag of words"
        )
    return views


def _describe_model(model: ModelConfig, input_spec: InputSpec) -> str:
    if model.architecture == "linear":
        views = ", ".join(_linear_views(model, input_spec))
        return (
            f"softmax regression on {views} (dropout {model.wide.dropout:g}), "
            "trained with the variant's loss"
        )
    parts = []
    if "speech" in model.modalities:
        blocks = ", ".join(
            (
                f"Conv1D({b.filters}, {b.kernel_size})→MaxPool({b.pool_size})→BN→"
                if input_spec.n_frames
                else f"Dense({b.filters})→BN→"  # a vector has no time axis
            )
            + f"Dropout({b.dropout:g})"
            for b in model.speech.blocks
        )
        kind = "frames" if input_spec.n_frames else "utterance vector"
        parts.append(f"speech branch on {kind} [{blocks}]")
    if "text" in model.modalities and input_spec.text_features:
        t = model.text
        layer = (
            f"Conv1D({t.filters}, {t.kernel_size})→MaxPool({t.pool_size})"
            if input_spec.text_frames
            else f"Dense({t.filters})"
        )
        parts.append(
            f"text branch on encoder embeddings [BN→{layer}→Dropout({t.dropout:g})]"
        )
    elif "text" in model.modalities:
        t = model.text
        parts.append(
            f"text branch [Embedding({t.embedding_dim})→Conv1D({t.filters}, "
            f"{t.kernel_size})→MaxPool({t.pool_size})→Dropout({t.dropout:g})]"
        )
    fusion = "concatenation"
    if model.architecture == "wide_deep":
        views = _linear_views(model, input_spec)
        fusion += (
            f" with linear views ({', '.join(views)}; dropout {model.wide.dropout:g})"
        )
    fusion += " → " + " → ".join(f"Dense({u})" for u in model.fusion.dense_units)
    if model.attention.enabled:
        fusion += f" with {model.attention.num_heads}-head self-attention after fusion"
    return "; ".join(parts) + f"; {fusion} → softmax"


def _describe_baselines(
    baselines: BaselinesConfig, model: ModelConfig, input_spec: InputSpec
) -> dict[str, str]:
    """One line per linear baseline of the run (empty when they are off)."""
    if not baselines.enabled:
        return {}
    statistics = (
        "the utterance feature vector"
        if not input_spec.n_frames
        else "the mean and standard deviation of each acoustic feature over the frames"
    )
    grams = " and ".join(block.describe() for block in baselines.text)
    text = {
        "linear_speech": f"logistic regression on {statistics} (standardised)",
        "linear_text": f"logistic regression on TF-IDF of the transcripts ({grams})",
        "linear_fusion": "mean of the linear_speech and linear_text probabilities",
    }
    lines = {name: text[name] for name in baseline_names(model.modalities)}
    reference = reference_baseline(model.modalities)
    for variant in baselines.losses:
        lines[convex_name(variant)] = (
            f"{reference} with {variant}'s loss, hyper-parameters and similarity "
            "matrix: softmax regressions fitted like it (L-BFGS on the L2-penalised "
            "objective, C chosen the same way)"
        )
    return lines


def _baseline_selection(
    baselines: BaselinesConfig, cross_validation: CrossValidationConfig
) -> str:
    """How the linear baselines were fitted and their regularisation chosen."""
    grid = ", ".join(f"{c:g}" for c in baselines.c_grid)
    if baselines.selection == "validation":
        return (
            "The linear baselines are fitted on each fold's training part, their "
            f"regularisation (C in {grid}) chosen by UAR on its validation part, and "
            "scored on the same test part as the network."
        )
    grouped = ", grouped by speaker" if cross_validation.speaker_independent else ""
    return (
        "The linear baselines choose their regularisation (C in "
        f"{grid}) by UAR over {baselines.inner_folds} inner folds of each fold's "
        f"training and validation parts{grouped}, are refitted on both parts, and "
        "are scored on the same test part as the network."
    )


def _extractor_note(speech: dict | None) -> str:
    """Which library (and encoder file) made the acoustic features."""
    if not speech:
        return ""
    if "file" in speech:
        return f" from the frozen speech encoder {speech['file']['path']}"
    return f" ({speech['library']} {speech.get('version', '')})".replace(" )", ")")


def describe_run(
    model_input_table: pd.DataFrame,
    input_spec: InputSpec,
    classes: list[str],
    seed: int,
    cross_validation: CrossValidationConfig,
    training: TrainingConfig,
    model: ModelConfig,
    preprocessing: dict,
    loss_variants: dict,
    baselines: BaselinesConfig,
) -> dict:
    """The run's setup for the report: corpus, protocol, model, losses, machine.

    The machine part is the software versions and the hardware settings that
    floating-point results depend on (CPU, vector extensions, thread counts).

    Returns:
        A JSON-ready dictionary (saved as ``report_setup``).
    """
    counts = model_input_table["label"].value_counts()
    speakers = (
        int(model_input_table["speaker"].nunique())
        if "speaker" in model_input_table
        else None
    )
    inputs = []
    if input_spec.speech and "speech" in model.modalities:
        inputs.append(
            f"{input_spec.acoustic_feature} acoustic features "
            f"({input_spec.n_features} per "
            + (
                f"frame, up to {input_spec.n_frames} frames"
                if input_spec.n_frames
                else "utterance"
            )
            + ")"
            + _extractor_note(input_spec.extractors.get("speech"))
        )
    text_encoder = input_spec.extractors.get("text")
    if "text" in model.modalities and text_encoder:
        inputs.append(
            f"transcripts as {input_spec.text_features}-value embeddings "
            + (
                f"of up to {input_spec.text_frames} tokens "
                if input_spec.text_frames
                else ""
            )
            + f"from the frozen text encoder {text_encoder['file']['path']}"
        )
    elif "text" in model.modalities:
        inputs.append(
            f"transcripts as up to {input_spec.max_tokens} token ids (vocabulary "
            "fitted per fold)"
        )
    return {
        "classes": list(classes),
        "corpus": {
            "n_utterances": len(model_input_table),
            "n_speakers": speakers,
            "class_counts": {c: int(counts.get(c, 0)) for c in classes},
        },
        "inputs": "; ".join(inputs),
        "protocol": cross_validation.model_dump(),
        "training": training.model_dump(),
        "model": _describe_model(model, input_spec),
        "model_parameters": model.model_dump(),
        # Kedro may hand nested blocks over as their typed (Pydantic) models.
        "preprocessing": to_jsonable_python(preprocessing),
        "seed": seed,
        "losses": {
            name: LossConfig.model_validate(raw).describe()
            for name, raw in loss_variants.items()
        },
        "loss_parameters": to_jsonable_python(loss_variants),
        "baselines": _describe_baselines(baselines, model, input_spec),
        "baseline_selection": _baseline_selection(baselines, cross_validation),
        "software": software_versions(),
        "hardware": compute_environment(),
    }
