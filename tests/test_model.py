import numpy as np
import pytest

from emotion_aware_loss.config import ModelConfig
from emotion_aware_loss.models.network import build_fusion_model


def _config(**overrides):
    base = {
        "speech": {"blocks": [{"filters": 4, "kernel_size": 3}] * 2},
        "text": {"embedding_dim": 4, "filters": 4},
        "fusion": {"dense_units": [8]},
    }
    return ModelConfig.model_validate(base | overrides)


@pytest.mark.parametrize(
    ("overrides", "inputs"),
    [
        ({}, ["speech", "text"]),
        (
            {"attention": {"enabled": True, "num_heads": 2, "key_dim": 4}},
            ["speech", "text"],
        ),
        ({"modalities": ["speech"]}, ["speech"]),
        ({"modalities": ["text"]}, ["text"]),
    ],
    ids=["concat", "attention", "speech-only", "text-only"],
)
def test_model_shapes(overrides, inputs):
    model = build_fusion_model(
        _config(**overrides),
        n_frames=20,
        n_features=6,
        max_tokens=5,
        vocab_size=30,
        n_classes=5,
    )
    assert [t.name.split(":")[0] for t in model.inputs] == inputs
    batch = {
        "speech": np.zeros((3, 20, 6), "float32"),
        "text": np.ones((3, 5), "int32"),
    }
    out = model.predict({k: batch[k] for k in inputs}, verbose=0)
    assert out.shape == (3, 5)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)


def test_speech_branch_has_the_documented_layers():
    model = build_fusion_model(
        _config(), n_frames=20, n_features=6, max_tokens=5, vocab_size=30, n_classes=5
    )
    kinds = [
        type(layer).__name__
        for layer in model.layers
        if layer.name.startswith("speech_")
    ]
    assert kinds[:4] == ["Conv1D", "MaxPooling1D", "BatchNormalization", "Dropout"]


def test_invalid_model_config_is_rejected():
    with pytest.raises(ValueError, match="dropout"):
        _config(fusion={"dense_units": [8], "dropout": 1.0})
    with pytest.raises(ValueError, match="repeat"):
        _config(modalities=["speech", "speech"])


@pytest.mark.parametrize("attention", [False, True])
def test_an_utterance_vector_gets_dense_blocks_not_convolutions(attention):
    config = _config(attention={"enabled": attention, "num_heads": 2, "key_dim": 4})
    model = build_fusion_model(
        config, n_frames=0, n_features=67, max_tokens=5, vocab_size=30, n_classes=5
    )
    speech = model.get_layer("speech")
    assert tuple(speech.output.shape) == (None, 67)
    names = [layer.name for layer in model.layers]
    assert "speech_dense_0" in names
    assert not any(n.startswith("speech_conv") for n in names)
    out = model.predict(
        {"speech": np.zeros((2, 67)), "text": np.zeros((2, 5), dtype="int32")},
        verbose=0,
    )
    assert out.shape == (2, 5)


@pytest.mark.parametrize("n_frames", [20, 0], ids=["frames", "vector"])
def test_seed_architecture_is_still_buildable(n_frames):
    model = build_fusion_model(
        _config(architecture="seed"),
        n_frames=n_frames,
        n_features=6,
        max_tokens=5,
        vocab_size=30,
        n_classes=5,
    )
    names = [layer.name for layer in model.layers]
    assert not any(n.startswith(("wide_", "text_bag", "speech_frame")) for n in names)
    assert model.get_layer("fusion_dense_0").input.shape[-1] == 4 + 4


def test_wide_deep_adds_the_linear_views_to_the_fusion():
    model = build_fusion_model(
        _config(), n_frames=20, n_features=6, max_tokens=5, vocab_size=30, n_classes=5
    )
    # pooled branches (4 + 4), speech mean and std per feature (6 + 6), bag of words
    assert model.get_layer("fusion_dense_0").input.shape[-1] == 4 + 4 + 12 + 30
    speech = np.random.default_rng(0).normal(size=(2, 20, 6)).astype("float32")
    statistics = model.get_layer("speech_statistics").output
    probe = type(model)(model.inputs, statistics)
    values = probe.predict(
        {"speech": speech, "text": np.zeros((2, 5), "int32")}, verbose=0
    )
    np.testing.assert_allclose(values[:, :6], speech.mean(axis=1), rtol=1e-5)
    np.testing.assert_allclose(values[:, 6:], speech.std(axis=1), rtol=1e-4)


def test_views_joining_the_output_go_straight_into_the_softmax_layer():
    model = build_fusion_model(
        _config(wide={"joins": "output"}),
        n_frames=20,
        n_features=6,
        max_tokens=5,
        vocab_size=30,
        n_classes=5,
    )
    # the first fusion layer reads the pooled branches only; the softmax layer
    # reads the last fusion layer's 8 units beside the views (12 + 30)
    assert model.get_layer("fusion_dense_0").input.shape[-1] == 4 + 4
    assert model.get_layer("emotion").input.shape[-1] == 8 + 12 + 30
    hidden = build_fusion_model(
        _config(), n_frames=20, n_features=6, max_tokens=5, vocab_size=30, n_classes=5
    )
    # (8 + 42) x 8 + 8 x 5 weights against 8 x 8 + (8 + 42) x 5
    assert hidden.count_params() - model.count_params() == (400 + 40) - (64 + 250)
    out = model.predict(
        {"speech": np.zeros((2, 20, 6)), "text": np.ones((2, 5), "int32")}, verbose=0
    )
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)


def test_wide_deep_model_round_trips_through_keras_files(tmp_path):
    import keras  # noqa: PLC0415

    import emotion_aware_loss.losses.family  # noqa: F401, PLC0415  (registers custom objects)

    model = build_fusion_model(
        _config(), n_frames=20, n_features=6, max_tokens=5, vocab_size=30, n_classes=5
    )
    batch = {
        "speech": np.random.default_rng(1).normal(size=(3, 20, 6)).astype("float32"),
        "text": np.array([[2, 3, 0, 0, 0], [4, 1, 0, 0, 0], [5, 5, 6, 0, 0]], "int32"),
    }
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(
        loaded.predict(batch, verbose=0), model.predict(batch, verbose=0), rtol=1e-6
    )


@pytest.mark.parametrize("n_frames", [0, 20])
def test_the_linear_architecture_is_a_softmax_regression_on_the_views(n_frames):
    model = build_fusion_model(
        _config(architecture="linear"),
        n_frames=n_frames,
        n_features=6,
        max_tokens=5,
        vocab_size=30,
        n_classes=5,
    )
    dense = [layer for layer in model.layers if "Dense" in type(layer).__name__]
    assert [layer.name for layer in dense] == ["emotion"]
    # speech vector (6) or its mean and std (12), and the bag of words (30)
    width = (12 if n_frames else 6) + 30
    assert model.get_layer("emotion").input.shape[-1] == width
    assert model.count_params() == (width + 1) * 5
    speech_only = build_fusion_model(
        _config(architecture="linear", modalities=["speech"]),
        n_frames=0,
        n_features=6,
        max_tokens=5,
        vocab_size=30,
        n_classes=5,
    )
    assert [t.name.split(":")[0] for t in speech_only.inputs] == ["speech"]
    assert speech_only.count_params() == 7 * 5


@pytest.mark.parametrize(
    "loss",
    [
        "cross_entropy",
        "emotion_aware",
        "seed_weighted",
        "soft_target",
        "expected_cost",
        "sim_loss",
    ],
)
def test_the_linear_architecture_trains_with_every_loss(loss):
    from emotion_aware_loss.config import TrainingConfig  # noqa: PLC0415
    from emotion_aware_loss.losses.family import make_loss  # noqa: PLC0415
    from emotion_aware_loss.training.fitting import fit  # noqa: PLC0415

    rng = np.random.default_rng(2)
    labels = np.arange(60) % 3
    speech = rng.normal(size=(60, 6)).astype("float32") + 2.0 * labels[:, None]
    text = rng.integers(2, 30, size=(60, 5)).astype("int32")
    model = build_fusion_model(
        _config(architecture="linear"),
        n_frames=0,
        n_features=6,
        max_tokens=5,
        vocab_size=30,
        n_classes=3,
    )
    similarity = np.array([[1.0, 0.6, 0.1], [0.6, 1.0, 0.3], [0.1, 0.3, 1.0]])
    inputs = {"speech": speech, "text": text}
    trained, history = fit(
        model,
        make_loss(loss, similarity),
        ({k: v[:45] for k, v in inputs.items()}, labels[:45]),
        ({k: v[45:] for k, v in inputs.items()}, labels[45:]),
        TrainingConfig(epochs=6, batch_size=8, learning_rate=0.05, patience=6),
        seed=0,
    )
    assert len(history["loss"]) == 6 and np.isfinite(history["loss"]).all()
    assert history["loss"][-1] < history["loss"][0]
    assert max(history["val_accuracy"]) > 0.5  # three classes, chance 0.33


@pytest.mark.parametrize(
    ("architecture", "joins", "layer"),
    [
        ("linear", "hidden", "emotion"),
        ("wide_deep", "hidden", "fusion_dense_0"),
        ("wide_deep", "output", "emotion"),
    ],
)
def test_wide_l2_penalises_the_layer_reading_the_views(
    architecture, joins, layer, tmp_path
):
    import keras  # noqa: PLC0415

    def build(l2):
        keras.utils.set_random_seed(0)
        return build_fusion_model(
            _config(
                architecture=architecture,
                wide={"dropout": 0.0, "l2": l2, "joins": joins},
            ),
            n_frames=0,
            n_features=6,
            max_tokens=5,
            vocab_size=30,
            n_classes=5,
        )

    plain, penalised = build(0.0), build(0.5)
    assert plain.get_layer(layer).kernel_regularizer is None
    assert penalised.get_layer(layer).kernel_regularizer.l2 == pytest.approx(0.5)
    kernel = penalised.get_layer(layer).kernel.numpy()
    assert float(sum(penalised.losses)) == pytest.approx(
        0.5 * float(np.sum(kernel**2)), rel=1e-5
    )
    # only that layer: the rest of the network is not penalised
    assert len(penalised.losses) == 1
    penalised.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert loaded.get_layer(layer).kernel_regularizer.l2 == pytest.approx(0.5)


def test_a_negative_l2_is_refused():
    with pytest.raises(ValueError, match="l2"):
        _config(wide={"l2": -0.1})
