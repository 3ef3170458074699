"""The two-branch speech + text fusion network."""

from __future__ import annotations

import keras
from keras import layers

from emotion_aware_loss.config import ModelConfig
from emotion_aware_loss.models.layers import FrameStd


def _speech_vector_branch(config: ModelConfig, n_features: int):
    """Dense blocks over an utterance-level vector (no time axis to convolve)."""
    inputs = keras.Input(shape=(n_features,), name="speech")
    x = inputs
    for i, block in enumerate(config.speech.blocks):
        x = layers.Dense(block.filters, activation="relu", name=f"speech_dense_{i}")(x)
        x = layers.BatchNormalization(name=f"speech_bn_{i}")(x)
        x = layers.Dropout(block.dropout, name=f"speech_dropout_{i}")(x)
    # One "token" for the attention fusion; pooled back to the vector otherwise.
    return inputs, layers.Reshape((1, x.shape[-1]), name="speech_as_token")(x)


def _speech_branch(config: ModelConfig, n_frames: int, n_features: int):
    if n_frames == 0:
        return _speech_vector_branch(config, n_features)
    inputs = keras.Input(shape=(n_frames, n_features), name="speech")
    x = inputs
    for i, block in enumerate(config.speech.blocks):
        x = layers.Conv1D(
            block.filters,
            block.kernel_size,
            padding="same",
            activation="relu",
            name=f"speech_conv_{i}",
        )(x)
        if block.pool_size > 1:
            x = layers.MaxPooling1D(
                block.pool_size, padding="same", name=f"speech_pool_{i}"
            )(x)
        x = layers.BatchNormalization(name=f"speech_bn_{i}")(x)
        x = layers.Dropout(block.dropout, name=f"speech_dropout_{i}")(x)
    return inputs, x


def _text_branch(config: ModelConfig, max_tokens: int, vocab_size: int):
    inputs = keras.Input(shape=(max_tokens,), dtype="int32", name="text")
    cfg = config.text
    x = layers.Embedding(
        vocab_size,
        cfg.embedding_dim,
        trainable=cfg.trainable_embeddings,
        name="text_embedding",
    )(inputs)
    x = layers.Conv1D(
        cfg.filters,
        cfg.kernel_size,
        padding="same",
        activation="relu",
        name="text_conv",
    )(x)
    if cfg.pool_size > 1:
        x = layers.MaxPooling1D(cfg.pool_size, padding="same", name="text_pool")(x)
    x = layers.Dropout(cfg.dropout, name="text_dropout")(x)
    return inputs, x


def _wide_inputs(
    config: ModelConfig, inputs: dict[str, keras.KerasTensor], vocab_size: int
) -> list[keras.KerasTensor]:
    """Linear ("wide") views of the inputs, fed to the fusion layers unchanged.

    Token ids give their bag of words (which ids occur); a sequence of vectors
    (acoustic frames, encoder token embeddings) gives the mean and standard
    deviation of each standardised feature over the sequence; a vector is its own
    view. A linear model on such views is a strong reference on small corpora (the
    ``baselines`` pipeline); with them beside the deep branches the network can
    always fall back on it.
    """
    views = []
    for name, tensor in inputs.items():
        if "int" in str(tensor.dtype):
            views.append(
                layers.CategoryEncoding(
                    vocab_size, output_mode="multi_hot", name=f"{name}_bag_of_words"
                )(tensor)
            )
        elif len(tensor.shape) == 3:
            views.append(
                layers.Concatenate(name=f"{name}_statistics")(
                    [
                        layers.GlobalAveragePooling1D(name=f"{name}_frame_mean")(
                            tensor
                        ),
                        FrameStd(name=f"{name}_frame_std")(tensor),
                    ]
                )
            )
        else:
            views.append(tensor)
    return [
        layers.Dropout(config.wide.dropout, name=f"wide_dropout_{i}")(view)
        for i, view in enumerate(views)
    ]


def _text_vector_branch(config: ModelConfig, text_frames: int, text_features: int):
    """The text branch over a frozen encoder's embeddings instead of token ids.

    Batch normalisation standardises the embeddings with training-data statistics
    (pre-trained encoders' dimensions differ widely in scale). A pooled vector
    (``text_frames`` 0) gets one dense block and becomes one "token" for the
    fusion; a token sequence gets the convolution of :func:`_text_branch`.
    """
    cfg = config.text
    shape = (text_frames, text_features) if text_frames else (text_features,)
    inputs = keras.Input(shape=shape, name="text")
    x = layers.BatchNormalization(name="text_input_norm")(inputs)
    if text_frames:
        x = layers.Conv1D(
            cfg.filters,
            cfg.kernel_size,
            padding="same",
            activation="relu",
            name="text_conv",
        )(x)
        if cfg.pool_size > 1:
            x = layers.MaxPooling1D(cfg.pool_size, padding="same", name="text_pool")(x)
    else:
        x = layers.Dense(cfg.filters, activation="relu", name="text_dense")(x)
        x = layers.Reshape((1, cfg.filters), name="text_as_token")(x)
    x = layers.Dropout(cfg.dropout, name="text_dropout")(x)
    return inputs, x


def _l2(strength: float) -> keras.regularizers.Regularizer | None:
    return keras.regularizers.L2(strength) if strength > 0 else None


def _linear_model(
    config: ModelConfig,
    n_frames: int,
    n_features: int,
    max_tokens: int,
    vocab_size: int,
    n_classes: int,
    text_features: int,
    text_frames: int,
) -> keras.Model:
    """Softmax regression on the linear views of the inputs (``architecture: linear``).

    The speech vector (or the mean and standard deviation of each frame feature),
    the bag of words (or the text encoder's embeddings), with dropout
    ``wide.dropout`` on them, straight into the softmax: the model family of the
    linear baselines, trained with the run's loss, optimiser and early stopping,
    so the loss family can be compared on it.
    """
    named = {}
    if "speech" in config.modalities:
        shape = (n_frames, n_features) if n_frames else (n_features,)
        named["speech"] = keras.Input(shape=shape, name="speech")
    if "text" in config.modalities:
        if text_features:
            shape = (text_frames, text_features) if text_frames else (text_features,)
            named["text"] = keras.Input(shape=shape, name="text")
        else:
            named["text"] = keras.Input(shape=(max_tokens,), dtype="int32", name="text")
    views = _wide_inputs(config, named, vocab_size)
    x = layers.Concatenate(name="linear_inputs")(views) if len(views) > 1 else views[0]
    outputs = layers.Dense(
        n_classes,
        activation="softmax",
        kernel_regularizer=_l2(config.wide.l2),
        name="emotion",
    )(x)
    return keras.Model(list(named.values()), outputs, name="emotion_linear")


def build_fusion_model(
    config: ModelConfig,
    n_frames: int,
    n_features: int,
    max_tokens: int,
    vocab_size: int,
    n_classes: int,
    text_features: int = 0,
    text_frames: int = 0,
) -> keras.Model:
    """Build the (uncompiled) fusion model.

    Each branch turns its input sequence into a sequence of feature vectors with
    convolution blocks (``architecture: seed``, the seed project's network).
    ``architecture: wide_deep`` adds linear views of the inputs beside the
    branches (utterance statistics of the speech input, the bag of words of the
    text), concatenated with the fused vector before the dense layers.

    Without attention, each branch is max-pooled over time and the two vectors
    are concatenated. With attention, both sequences are projected
    to a common width, concatenated along time and passed through multi-head
    self-attention (with a residual connection and layer normalisation), so every
    speech frame can attend to every word and back; the result is average-pooled.
    Dense layers and a softmax over the classes follow.

    Args:
        config: Architecture parameters.
        n_frames: Frames per speech input; 0 for an utterance-level feature vector,
            which gets dense blocks (units = each block's ``filters``) instead of
            convolutions.
        n_features: Acoustic features per frame.
        max_tokens: Tokens per text input.
        vocab_size: Size of the token-id space (including padding and OOV ids).
        n_classes: Number of emotion classes.
        text_features: 0 for token ids; otherwise the width of a frozen text
            encoder's embeddings, which are then the text input.
        text_frames: Tokens per text input for embedding sequences; 0 for one
            pooled embedding per utterance.

    ``architecture: linear`` is a softmax regression on the linear views alone
    (:func:`_linear_model`).

    Returns:
        A Keras model with inputs named ``speech`` and/or ``text``.
    """
    if config.architecture == "linear":
        return _linear_model(
            config,
            n_frames,
            n_features,
            max_tokens,
            vocab_size,
            n_classes,
            text_features,
            text_frames,
        )
    inputs, sequences = [], []
    if "speech" in config.modalities:
        speech_in, speech_seq = _speech_branch(config, n_frames, n_features)
        inputs.append(speech_in)
        sequences.append(speech_seq)
    if "text" in config.modalities:
        text_in, text_seq = (
            _text_vector_branch(config, text_frames, text_features)
            if text_features
            else _text_branch(config, max_tokens, vocab_size)
        )
        inputs.append(text_in)
        sequences.append(text_seq)

    att = config.attention
    if att.enabled:
        width = att.num_heads * att.key_dim
        projected = [
            layers.Dense(width, name=f"{name}_projection")(seq)
            for name, seq in zip(config.modalities, sequences, strict=True)
        ]
        joint = (
            layers.Concatenate(axis=1, name="fusion")(projected)
            if len(projected) > 1
            else projected[0]
        )
        attended = layers.MultiHeadAttention(
            att.num_heads, att.key_dim, dropout=att.dropout, name="fusion_attention"
        )(joint, joint)
        joint = layers.LayerNormalization(name="fusion_norm")(
            layers.Add(name="fusion_residual")([joint, attended])
        )
        x = layers.GlobalAveragePooling1D(name="fusion_pool")(joint)
    else:
        pooled = [
            layers.GlobalMaxPooling1D(name=f"{name}_pool_time")(seq)
            for name, seq in zip(config.modalities, sequences, strict=True)
        ]
        x = layers.Concatenate(name="fusion")(pooled) if len(pooled) > 1 else pooled[0]
    # where the linear views join: before the fusion layers, or at the softmax
    # layer (a linear model on them plus the deep part, with a fraction of the
    # weights of a fusion layer reading them: 2,286 statistics x 5 classes instead
    # of x 64 units)
    joins = config.wide.joins if config.architecture == "wide_deep" else None
    named = dict(zip(config.modalities, inputs, strict=True))

    def with_views(x: keras.KerasTensor) -> keras.KerasTensor:
        return layers.Concatenate(name="wide_and_deep")(
            [x, *_wide_inputs(config, named, vocab_size)]
        )

    if joins == "hidden":
        x = with_views(x)
    for i, units in enumerate(config.fusion.dense_units):
        reads_views = i == 0 and joins == "hidden"
        x = layers.Dense(
            units,
            activation="relu",
            kernel_regularizer=_l2(config.wide.l2) if reads_views else None,
            name=f"fusion_dense_{i}",
        )(x)
        x = layers.Dropout(config.fusion.dropout, name=f"fusion_dropout_{i}")(x)
    if joins == "output":
        x = with_views(x)
    outputs = layers.Dense(
        n_classes,
        activation="softmax",
        kernel_regularizer=_l2(config.wide.l2) if joins == "output" else None,
        name="emotion",
    )(x)
    return keras.Model(inputs, outputs, name="emotion_fusion")
