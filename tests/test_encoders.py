"""Frozen ONNX encoders as feature extractors, on tiny graphs built in the test."""

from __future__ import annotations

import dataclasses
import sys

import numpy as np
import pandas as pd
import pytest

from emotion_aware_loss.config import (
    AcousticConfig,
    LabelConfig,
    LossConfig,
    TextConfig,
)
from emotion_aware_loss.extras import MissingExtraError
from emotion_aware_loss.features import encoders
from emotion_aware_loss.features.acoustic import feature_dimension
from emotion_aware_loss.features.encoders import (
    EncoderError,
    check_extractors,
    encode_texts_with_encoder,
    encode_waveform,
    extractor_record,
    speech_encoder_dimension,
)
from emotion_aware_loss.models.network import build_fusion_model

from . import tiny_encoders
from .conftest import CLASSES, SEED_MATRIX, run_pipeline

WAVE = (0.1 * np.random.default_rng(0).standard_normal(16000)).astype(np.float32)


@pytest.fixture(scope="module")
def speech_path(tmp_path_factory):
    return tiny_encoders.speech_encoder(
        tmp_path_factory.mktemp("speech") / "encoder.onnx"
    )


@pytest.fixture(scope="module")
def text_paths(tmp_path_factory):
    words = "i am so happy sad angry what a lovely day leave me alone".split()
    return tiny_encoders.text_encoder_with_tokenizer(
        tmp_path_factory.mktemp("text"), words
    )


def _speech(path, **encoder) -> AcousticConfig:
    return AcousticConfig(feature="encoder", encoder={"path": str(path), **encoder})


def _text(paths, **encoder) -> TextConfig:
    model, tokenizer = paths
    return TextConfig(
        encoder={"path": str(model), "tokenizer": str(tokenizer), **encoder}
    )


@pytest.mark.parametrize(
    ("pooling", "shape"), [("mean", (1, 8)), ("mean_std", (1, 16)), ("frames", (49, 8))]
)
def test_speech_encoder_pools_frames_every_20_ms(speech_path, pooling, shape):
    config = _speech(speech_path, pooling=pooling)
    out = encode_waveform(WAVE, config)
    assert out.shape == shape and out.dtype == np.float32 and np.isfinite(out).all()
    assert feature_dimension(config) == speech_encoder_dimension(config) == shape[1]
    assert config.utterance_level == (pooling != "frames")


def test_speech_layers_are_averaged_or_concatenated(speech_path):
    frames = {
        layer: encode_waveform(
            WAVE, _speech(speech_path, outputs=[layer], pooling="frames")
        )
        for layer in (0, "hidden_state_1")
    }
    assert not np.allclose(frames[0], frames["hidden_state_1"])
    both = _speech(speech_path, outputs=[0, "hidden_state_1"], pooling="frames")
    np.testing.assert_allclose(
        encode_waveform(WAVE, both),
        (frames[0] + frames["hidden_state_1"]) / 2,
        rtol=1e-5,
        atol=1e-6,
    )
    concat = both.model_copy(
        update={"encoder": both.encoder.model_copy(update={"combine": "concat"})}
    )
    assert encode_waveform(WAVE, concat).shape == (49, 16)


def test_speech_input_is_normalised_and_short_audio_padded(speech_path):
    config = _speech(speech_path)
    np.testing.assert_allclose(
        encode_waveform(WAVE, config), encode_waveform(10 * WAVE, config), rtol=1e-4
    )
    raw = _speech(speech_path, normalize=False)
    assert not np.allclose(encode_waveform(WAVE, raw), encode_waveform(10 * WAVE, raw))
    assert np.isfinite(encode_waveform(WAVE[:50], config)).all()


def test_an_attention_mask_input_is_fed(tmp_path):
    path = tiny_encoders.speech_encoder(tmp_path / "m.onnx", attention_mask=True)
    plain = tiny_encoders.speech_encoder(tmp_path / "p.onnx")
    np.testing.assert_allclose(
        encode_waveform(WAVE, _speech(path)), encode_waveform(WAVE, _speech(plain))
    )


def test_encoder_problems_name_the_key_and_file(tmp_path, speech_path):
    missing = tmp_path / "nowhere" / "wavlm.onnx"
    with pytest.raises(EncoderError, match=r"acoustic\.encoder\.path: .*nowhere.*"):
        encode_waveform(WAVE, _speech(missing))
    with pytest.raises(EncoderError, match="Pre-trained encoders"):
        feature_dimension(_speech(missing))
    with pytest.raises(
        EncoderError, match=r"'layer_9' is not an output.*hidden_state_1"
    ):
        encode_waveform(WAVE, _speech(speech_path, outputs=["layer_9"]))
    with pytest.raises(EncoderError, match="position 5 is out of range"):
        encode_waveform(WAVE, _speech(speech_path, outputs=[5]))
    not_onnx = tmp_path / "model.onnx"
    not_onnx.write_text("not a graph")
    with pytest.raises(EncoderError, match="cannot load"):
        encode_waveform(WAVE, _speech(not_onnx))
    odd = tiny_encoders.speech_encoder(tmp_path / "odd.onnx", extra_input="speaker")
    with pytest.raises(EncoderError, match="input 'speaker'"):
        encode_waveform(WAVE, _speech(odd))
    with pytest.raises(ValueError, match="encoder.path"):
        AcousticConfig(feature="encoder")
    with pytest.raises(ValueError, match="tokenizer"):
        TextConfig(encoder={"path": "model.onnx"})


def test_a_missing_onnxruntime_names_the_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if not installed
    encoders._cached_session.cache_clear()
    path = tiny_encoders.speech_encoder(tmp_path / "e.onnx")
    try:
        with pytest.raises(MissingExtraError, match=r'pip install -e "\.\[encoders\]"'):
            encode_waveform(WAVE, _speech(path))
    finally:
        encoders._cached_session.cache_clear()


def test_text_encoder_pools_attended_tokens_only(text_paths):
    texts = ["so happy", "what a lovely day i am so happy", ""]
    mean = encode_texts_with_encoder(texts, _text(text_paths).encoder)
    assert mean.shape == (3, 8) and np.isfinite(mean).all()
    # padding in a batch with longer transcripts does not change an embedding
    alone = encode_texts_with_encoder(texts[:1], _text(text_paths).encoder)
    np.testing.assert_allclose(mean[:1], alone, rtol=1e-5, atol=1e-6)
    cls = encode_texts_with_encoder(texts, _text(text_paths, pooling="cls").encoder)
    np.testing.assert_allclose(cls[0], cls[1])  # both start with [CLS]
    frames = encode_texts_with_encoder(
        texts, _text(text_paths, pooling="frames", max_length=5).encoder
    )
    assert frames.shape == (3, 5, 8)
    assert np.all(frames[0, 4:] == 0) and np.all(frames[2, 2:] == 0)  # padding
    small = _text(text_paths, batch_size=1).encoder
    np.testing.assert_allclose(encode_texts_with_encoder(texts, small), mean, atol=1e-6)


def test_extractors_are_recorded_and_a_different_file_is_refused(
    tmp_path, speech_path, text_paths
):
    acoustic, text = _speech(speech_path), _text(text_paths)
    record = extractor_record(acoustic, text)
    assert record["speech"]["file"]["path"] == str(speech_path)
    assert len(record["text"]["tokenizer"]["sha256"]) == 64
    check_extractors(record, acoustic, text, "the model")  # the same files pass
    other = tiny_encoders.speech_encoder(tmp_path / "other.onnx", seed=1)
    with pytest.raises(
        EncoderError, match=r"the model was trained on .*different file"
    ):
        check_extractors(record, _speech(other), text, "the model")
    with pytest.raises(EncoderError, match=r"differ in \['pooling'\]"):
        check_extractors(record, _speech(speech_path, pooling="frames"), text, "m")
    with pytest.raises(EncoderError, match="trained on encoder features"):
        check_extractors(record, AcousticConfig(), text, "the model")
    with pytest.raises(EncoderError, match="no such file is configured"):
        check_extractors(record, acoustic, TextConfig(), "the model")
    librosa_only = extractor_record(AcousticConfig(), TextConfig())
    with pytest.raises(EncoderError, match="trained on token ids"):
        check_extractors(librosa_only, AcousticConfig(), text, "the model")


def test_text_vector_branch_takes_pooled_or_token_embeddings(model_config):
    pooled = build_fusion_model(model_config, 120, 16, 12, 200, 5, text_features=8)
    assert tuple(pooled.get_layer("text").output.shape) == (None, 8)
    frames = build_fusion_model(
        model_config, 120, 16, 12, 200, 5, text_features=8, text_frames=10
    )
    assert tuple(frames.get_layer("text").output.shape) == (None, 10, 8)
    x = {"speech": np.zeros((2, 120, 16), np.float32)}
    out = frames.predict(x | {"text": np.ones((2, 10, 8), np.float32)}, verbose=0)
    assert out.shape == (2, 5)


def test_pipeline_stages_run_on_encoder_features(
    tiny_corpus,
    text_config,
    model_config,
    cv_config,
    training_config,
    speech_path,
    text_paths,
    two_fold_layout,
):
    """Preprocessing to evaluation with both encoders, as the default run chains them."""
    from emotion_aware_loss.datasets import WordVectors
    from emotion_aware_loss.pipeline_registry import register_pipelines
    from emotion_aware_loss.pipelines.training import (
        create_pipeline as training_pipeline,
    )

    text = text_config.model_copy(update={"encoder": _text(text_paths).encoder})
    acoustic = _speech(speech_path, pooling="mean_std")
    pipes = register_pipelines()
    one_variant = dataclasses.replace(two_fold_layout, variants=("cross_entropy",))
    pipeline = (
        pipes["preprocessing"]
        + pipes["fold_generation"]
        + pipes["model_building"]
        + training_pipeline(one_variant)
    )
    outputs = run_pipeline(
        pipeline,
        {
            "corpus": tiny_corpus,
            "emotion_similarity": pd.DataFrame(SEED_MATRIX, CLASSES, CLASSES),
            "params:classes": CLASSES,
            "params:preprocessing.text": text,
            "params:preprocessing.labels": LabelConfig(),
            "params:preprocessing.acoustic": acoustic,
            "params:cross_validation": cv_config,
            "params:seed": 1,
            "params:model": model_config,
            "word_vectors": WordVectors(None),
            "params:training": training_config,
            "params:loss_variants.cross_entropy": LossConfig(loss="cross_entropy"),
        },
    )
    assert outputs["acoustic_features"].shape == (60, 1, 16)
    assert outputs["text_features"].shape == (60, 8)
    spec = outputs["input_spec"]
    assert (spec.n_frames, spec.n_features) == (0, 16)
    assert (spec.text_input, spec.text_features, spec.text_frames) == (
        "embeddings",
        8,
        0,
    )
    assert spec.extractors["text"]["file"]["path"] == str(text_paths[0])
    model = outputs["cross_entropy.fold_0.model"]
    assert [t.shape[1:] for t in model.inputs] == [(16,), (8,)]


@pytest.mark.parametrize(
    ("feature", "workers"),
    [("encoder", "threads"), ("encoder", "processes"), ("egemaps", "threads")],
)
def test_workers_extract_the_same_features(tiny_corpus, speech_path, feature, workers):
    from emotion_aware_loss.features.extraction import extract_acoustic_features

    table = tiny_corpus.manifest[["utterance_id"]].iloc[:6]
    config = (
        _speech(speech_path)
        if feature == "encoder"
        else AcousticConfig(feature=feature)
    )
    one, _ = extract_acoustic_features(tiny_corpus, table, config)
    two, _ = extract_acoustic_features(
        tiny_corpus,
        table,
        config.model_copy(update={"n_jobs": 2, "batch_size": 3, "workers": workers}),
    )
    assert one.shape[:2] == (6, 1) and np.isfinite(one).all()
    np.testing.assert_array_equal(one, two)
