"""The saved final model: round trips, predict() and its errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from emotion_aware_loss.config import (
    AcousticConfig,
    LossConfig,
    ModelConfig,
    TextConfig,
)
from emotion_aware_loss.corpora.corpus import CorpusError
from emotion_aware_loss.features.acoustic import feature_dimension
from emotion_aware_loss.inference.prediction import predict
from emotion_aware_loss.inference.recognizer import EmotionRecognizer, RecognizerError
from emotion_aware_loss.losses.family import EmotionAware, make_loss
from emotion_aware_loss.models.inputs import InputSpec
from emotion_aware_loss.models.network import build_fusion_model

from .conftest import CLASSES, SEED_MATRIX

ACOUSTIC = AcousticConfig(n_mels=16, max_frames=40)
TEXT = TextConfig(max_tokens=6, max_vocab_size=20)


def _recognizer(modalities: list[str]) -> EmotionRecognizer:
    import keras

    config = ModelConfig.model_validate(
        {
            "modalities": modalities,
            "speech": {"blocks": [{"filters": 4, "kernel_size": 3}]},
            "text": {"embedding_dim": 4, "filters": 4},
            "fusion": {"dense_units": [4]},
        }
    )
    keras.utils.set_random_seed(0)
    n_features = feature_dimension(ACOUSTIC)
    vocabulary = ["calm", "angry", "happy", "sad"]
    spec = InputSpec(
        classes=CLASSES,
        n_frames=ACOUSTIC.max_frames,
        n_features=n_features,
        max_tokens=TEXT.max_tokens,
        vocab_size=TEXT.max_vocab_size + 2,
        acoustic_feature=ACOUSTIC.feature,
        speech="speech" in modalities,
    )
    model = build_fusion_model(config, ACOUSTIC.max_frames, n_features, 6, 22, 5)
    loss = LossConfig(loss="emotion_aware", alpha=2.0)
    model.compile(loss=make_loss("emotion_aware", np.array(SEED_MATRIX), alpha=2.0))
    rng = np.random.default_rng(0)
    return EmotionRecognizer(
        model=model,
        classes=list(CLASSES),
        feature_scaler={
            "mean": rng.normal(-40, 5, n_features).tolist(),
            "std": rng.uniform(5, 10, n_features).tolist(),
        },
        vocabulary=vocabulary,
        acoustic=ACOUSTIC,
        text=TEXT,
        input_spec=spec,
        similarity=np.array(SEED_MATRIX),
        variant="emotion_aware",
        loss=loss,
        details={"epochs": 3},
    )


@pytest.fixture(scope="module")
def recognizer() -> EmotionRecognizer:
    return _recognizer(["speech", "text"])


@pytest.fixture(scope="module")
def wavs(tmp_path_factory) -> list[str]:
    """Three short tones, one of them at 8 kHz (resampled like training audio)."""
    folder = tmp_path_factory.mktemp("wavs")
    paths = []
    for i, (freq, rate) in enumerate([(180, 16000), (260, 16000), (220, 8000)]):
        t = np.arange(int(0.3 * rate)) / rate
        wave = 0.3 * np.sin(2 * np.pi * freq * t) * (1 + 0.2 * i)
        path = folder / f"utt{i}.wav"
        sf.write(path, wave.astype(np.float32), rate)
        paths.append(str(path))
    return paths


TRANSCRIPTS = ["so ANGRY today", "a calm day", "happy happy unknownword"]


def test_round_trip_keeps_predictions_and_state(recognizer, wavs, tmp_path):
    before = predict(wavs, TRANSCRIPTS, model=recognizer)
    recognizer.save(tmp_path / "bundle")
    loaded = EmotionRecognizer.load(tmp_path / "bundle")
    after = predict(wavs, TRANSCRIPTS, model=tmp_path / "bundle")
    probs = [f"prob_{c}" for c in CLASSES]
    np.testing.assert_allclose(after[probs], before[probs], rtol=1e-5, atol=1e-6)
    pd.testing.assert_frame_equal(after.drop(columns=probs), before.drop(columns=probs))
    assert isinstance(loaded.model.loss, EmotionAware)
    assert loaded.model.loss.alpha == pytest.approx(2.0)
    assert loaded.vocabulary == recognizer.vocabulary
    assert loaded.acoustic == ACOUSTIC and loaded.text == TEXT
    assert loaded.loss == recognizer.loss and loaded.details == {"epochs": 3}
    np.testing.assert_array_equal(loaded.similarity, recognizer.similarity)
    assert loaded.modalities == ("speech", "text")


def test_predictions_have_probabilities_and_both_decisions(recognizer, wavs):
    table = predict(wavs, TRANSCRIPTS, model=recognizer)
    assert list(table.columns) == [
        "utterance_id",
        *(f"prob_{c}" for c in CLASSES),
        "predicted_argmax",
        "predicted_min_expected_cost",
    ]
    assert table["utterance_id"].tolist() == wavs
    probs = table[[f"prob_{c}" for c in CLASSES]].to_numpy()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    assert table["predicted_argmax"].tolist() == [
        CLASSES[i] for i in probs.argmax(axis=1)
    ]
    cost = probs @ (1.0 - np.array(SEED_MATRIX))
    assert table["predicted_min_expected_cost"].tolist() == [
        CLASSES[i] for i in cost.argmin(axis=1)
    ]


def test_transcripts_change_the_prediction_of_a_fusion_model(recognizer, wavs):
    """The text branch is fed: other words give other probabilities."""
    one = predict(wavs, TRANSCRIPTS, model=recognizer)
    other = predict(wavs, ["sad sad sad"] * 3, model=recognizer)
    assert not np.allclose(one["prob_anger"], other["prob_anger"])


def test_bundle_with_a_file_missing_is_refused(recognizer, tmp_path):
    recognizer.save(tmp_path / "bundle")
    (tmp_path / "bundle" / "recognizer.json").unlink()
    with pytest.raises(RecognizerError, match=r"recognizer\.json"):
        EmotionRecognizer.load(tmp_path / "bundle")


def test_versioned_dataset_saves_atomically_and_loads_the_latest(
    recognizer, wavs, tmp_path
):
    from kedro.io.core import Version

    from emotion_aware_loss.datasets.recognizer_dataset import (
        EmotionRecognizerDataset,
    )

    folder = tmp_path / "final_model"
    dataset = EmotionRecognizerDataset(
        filepath=str(folder), version=Version(None, None)
    )
    assert not dataset.exists()
    dataset.save(recognizer)
    (version,) = list(folder.iterdir())
    assert sorted(p.name for p in (version / "final_model").iterdir()) == [
        "model.keras",
        "recognizer.json",
    ]
    assert not list(folder.glob("*/*.partial"))
    loaded = EmotionRecognizerDataset(
        filepath=str(folder), version=Version(None, None)
    ).load()
    x = {
        "speech": np.zeros((2, 40, 16), dtype=np.float32),
        "text": np.ones((2, 6), dtype=np.int32),
    }
    np.testing.assert_allclose(
        loaded.model.predict(x, verbose=0), recognizer.model.predict(x, verbose=0)
    )
    # predict() also takes the versioned folder and uses its latest version
    from_folder = predict(wavs, TRANSCRIPTS, model=folder)
    direct = predict(wavs, TRANSCRIPTS, model=recognizer)
    np.testing.assert_allclose(
        from_folder["prob_anger"], direct["prob_anger"], rtol=1e-5, atol=1e-6
    )


def test_missing_audio_is_named_before_the_model_loads(tmp_path, wavs):
    missing = str(tmp_path / "nowhere.wav")
    with pytest.raises(CorpusError, match=r"nowhere\.wav.*does not exist"):
        predict([wavs[0], missing], ["a", "b"], model=tmp_path / "no_model_here")


@pytest.mark.parametrize(
    ("audio", "transcripts", "message"),
    [
        (None, None, "give audio_paths, transcripts or both"),
        ("two", ["one"], r"2 audio path\(s\) but 1 transcript"),
        ([], None, "no utterances to classify"),
    ],
)
def test_bad_inputs_are_explained(recognizer, wavs, audio, transcripts, message):
    paths = wavs[:2] if audio == "two" else audio
    with pytest.raises(CorpusError, match=message):
        predict(paths, transcripts, model=recognizer)


def test_a_speech_model_needs_audio(recognizer):
    with pytest.raises(CorpusError, match="takes speech"):
        predict(None, ["only words"], model=recognizer)


def test_a_text_only_model_takes_transcripts_without_audio(wavs):
    text_only = _recognizer(["text"])
    table = predict(transcripts=["so angry", "a calm day"], model=text_only)
    assert table["utterance_id"].tolist() == ["text_0", "text_1"]
    with pytest.raises(CorpusError, match="takes only transcripts"):
        predict(wavs, model=text_only)


def test_a_speech_only_model_ignores_missing_transcripts(wavs):
    speech_only = _recognizer(["speech"])
    table = predict(wavs, model=speech_only)
    assert len(table) == 3 and table["predicted_argmax"].isin(CLASSES).all()


def test_features_of_another_shape_are_refused(recognizer):
    with pytest.raises(RecognizerError, match=r"shape \(40, 16\)"):
        recognizer.model_inputs(np.zeros((1, 40, 13)), np.array([40]), ["a"])


def _speaker_normalised(corpus_mean: float) -> EmotionRecognizer:
    from dataclasses import replace  # noqa: PLC0415

    base = _recognizer(["speech"])
    n = base.input_spec.n_features
    acoustic = ACOUSTIC.model_copy(
        update={"speaker_normalisation": True, "speaker_min_utterances": 2}
    )
    return replace(
        base,
        acoustic=acoustic,
        speaker_statistics={
            "min_utterances": 2,
            "corpus": {"mean": [corpus_mean] * n, "std": [1.0] * n},
        },
    )


def test_speaker_normalisation_at_prediction_follows_the_rule(wavs, tmp_path):
    recognizer = _speaker_normalised(-50.0)
    # Utterances 0 and 1 share a speaker (own statistics); 2 stands alone.
    own = predict(wavs, model=recognizer, speakers=["s1", "s1", "s2"])
    # A corpus mean far from the audio's moves only what it normalises.
    other = predict(wavs, model=_speaker_normalised(0.0), speakers=["s1", "s1", "s2"])
    probs = [f"prob_{c}" for c in CLASSES]
    np.testing.assert_allclose(own[probs][:2], other[probs][:2], rtol=1e-5, atol=1e-6)
    assert not np.allclose(own[probs].iloc[2], other[probs].iloc[2])
    # Without speakers every utterance uses the training corpus's statistics.
    alone = predict(wavs, model=recognizer)
    assert not np.allclose(alone[probs][:2], own[probs][:2])
    recognizer.save(tmp_path / "bundle")
    loaded = EmotionRecognizer.load(tmp_path / "bundle")
    assert loaded.speaker_statistics == recognizer.speaker_statistics
    with pytest.raises(CorpusError, match=r"3 utterance\(s\) but 2 speaker"):
        predict(wavs, model=recognizer, speakers=["s1", "s2"])


def test_a_bundle_without_speaker_statistics_loads_or_is_refused(recognizer, tmp_path):
    import json  # noqa: PLC0415

    recognizer.save(tmp_path / "old")
    state_file = tmp_path / "old" / "recognizer.json"
    state = json.loads(state_file.read_text())
    # A bundle written before speaker normalisation and broad functionals existed.
    del state["speaker_statistics"]
    for key in ("speaker_normalisation", "speaker_min_utterances", "active_db"):
        del state["acoustic"][key]
    state_file.write_text(json.dumps(state))
    old = EmotionRecognizer.load(tmp_path / "old")
    assert old.speaker_statistics == {} and not old.acoustic.speaker_normalisation
    state["acoustic"]["speaker_normalisation"] = True
    state_file.write_text(json.dumps(state))
    with pytest.raises(RecognizerError, match="no corpus statistics"):
        EmotionRecognizer.load(tmp_path / "old")


def test_a_missing_file_is_named_with_what_predict_can_do(tmp_path, wavs):
    with pytest.raises(CorpusError, match="leave it out of audio_paths") as error:
        predict([wavs[0], str(tmp_path / "gone.wav")], model=tmp_path / "none")
    assert "on_bad_audio" not in str(error.value)
