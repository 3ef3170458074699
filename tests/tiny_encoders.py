"""Tiny ONNX encoders and a tokenizer, built in the test itself (nothing downloaded).

They have the interfaces of real exports: a speech encoder takes a ``(batch,
samples)`` waveform and gives ``(batch, frames, dim)`` hidden states every 20 ms
(a strided convolution, like wav2vec 2.0's front end); a text encoder takes
``input_ids`` and ``attention_mask`` and gives ``(batch, tokens, dim)`` hidden
states (an embedding lookup); the tokenizer is a Hugging Face ``tokenizer.json``.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

OPSET = 17


def _tensor(name: str, values: np.ndarray):
    from onnx import numpy_helper

    return numpy_helper.from_array(values, name=name)


def _save(graph, path: Path) -> Path:
    import onnx
    from onnx import helper

    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8  # readable by every onnxruntime >= 1.14
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def speech_encoder(
    path: Path,
    dim: int = 8,
    seed: int = 0,
    attention_mask: bool = False,
    extra_input: str | None = None,
) -> Path:
    """A wav2vec 2.0-shaped encoder: 25 ms windows every 20 ms at 16 kHz.

    Outputs ``last_hidden_state`` and ``hidden_state_1`` (two "layers", both
    ``(batch, frames, dim)``). With ``attention_mask`` it also takes that input
    (int64, ``(batch, samples)``), as some exports do.
    """
    from onnx import TensorProto, helper

    rng = np.random.default_rng(seed)
    weights = (rng.normal(size=(dim, 1, 400)) / 20).astype(np.float32)
    mixing = (rng.normal(size=(dim, dim)) / np.sqrt(dim)).astype(np.float32)
    inputs = [
        helper.make_tensor_value_info(
            "input_values", TensorProto.FLOAT, ["batch", "samples"]
        )
    ]
    nodes = [
        helper.make_node("Unsqueeze", ["input_values", "axis1"], ["wave"]),
        helper.make_node(
            "Conv", ["wave", "conv_w"], ["conv"], strides=[320], kernel_shape=[400]
        ),
        helper.make_node("Transpose", ["conv"], ["frames"], perm=[0, 2, 1]),
    ]
    if attention_mask:
        inputs.append(
            helper.make_tensor_value_info(
                "attention_mask", TensorProto.INT64, ["batch", "samples"]
            )
        )
        # Scale by the mean of the mask (1 for unpadded audio): the input is used.
        nodes += [
            helper.make_node("Cast", ["attention_mask"], ["mask_f"], to=1),
            helper.make_node("ReduceMean", ["mask_f"], ["mask_mean"], keepdims=0),
            helper.make_node("Mul", ["frames", "mask_mean"], ["masked"]),
            helper.make_node("Tanh", ["masked"], ["last_hidden_state"]),
        ]
    else:
        nodes.append(helper.make_node("Tanh", ["frames"], ["last_hidden_state"]))
    if extra_input:
        inputs.append(
            helper.make_tensor_value_info(extra_input, TensorProto.FLOAT, ["batch"])
        )
    nodes += [
        helper.make_node("MatMul", ["last_hidden_state", "mixing"], ["mixed"]),
        helper.make_node("Tanh", ["mixed"], ["hidden_state_1"]),
    ]
    outputs = [
        helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", "t", dim])
        for name in ("last_hidden_state", "hidden_state_1")
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_speech_encoder",
        inputs,
        outputs,
        initializer=[
            _tensor("axis1", np.array([1], dtype=np.int64)),
            _tensor("conv_w", weights),
            _tensor("mixing", mixing),
        ],
    )
    return _save(graph, path)


def text_encoder(path: Path, vocab_size: int, dim: int = 8, seed: int = 0) -> Path:
    """A transformer-shaped text encoder: masked embedding lookup, then tanh.

    Takes ``input_ids``, ``attention_mask`` and ``token_type_ids`` (int64,
    ``(batch, tokens)``); outputs ``last_hidden_state`` ``(batch, tokens, dim)``.
    """
    from onnx import TensorProto, helper

    rng = np.random.default_rng(seed)
    table = rng.normal(size=(vocab_size, dim)).astype(np.float32)
    ids = ["batch", "tokens"]
    inputs = [
        helper.make_tensor_value_info(name, TensorProto.INT64, ids)
        for name in ("input_ids", "attention_mask", "token_type_ids")
    ]
    nodes = [
        helper.make_node("Gather", ["embeddings", "input_ids"], ["embedded"]),
        helper.make_node("Cast", ["attention_mask"], ["mask_f"], to=1),
        helper.make_node("Unsqueeze", ["mask_f", "axis2"], ["mask3"]),
        helper.make_node("Mul", ["embedded", "mask3"], ["masked"]),
        helper.make_node("Cast", ["token_type_ids"], ["types_f"], to=1),
        helper.make_node("Unsqueeze", ["types_f", "axis2"], ["types3"]),
        helper.make_node("Add", ["masked", "types3"], ["typed"]),
        helper.make_node("Tanh", ["typed"], ["last_hidden_state"]),
    ]
    outputs = [
        helper.make_tensor_value_info(
            "last_hidden_state", TensorProto.FLOAT, ["batch", "tokens", dim]
        )
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_text_encoder",
        inputs,
        outputs,
        initializer=[
            _tensor("embeddings", table),
            _tensor("axis2", np.array([2], dtype=np.int64)),
        ],
    )
    return _save(graph, path)


def tokenizer(path: Path, words: Iterable[str]) -> tuple[Path, int]:
    """A word-level ``tokenizer.json`` (lower-cased, ``[CLS] … [SEP]``).

    Returns:
        The file and its vocabulary size.
    """
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]
    vocab = {token: i for i, token in enumerate(specials)}
    for word in sorted({w.lower() for w in words}):
        vocab.setdefault(word, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B [SEP]",
        special_tokens=[("[CLS]", 2), ("[SEP]", 3)],
    )
    tok.save(str(path))
    return path, len(vocab)


def text_encoder_with_tokenizer(
    folder: Path, words: Iterable[str], dim: int = 8
) -> tuple[Path, Path]:
    """A text encoder and its tokenizer in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    tok_path, vocab_size = tokenizer(folder / "tokenizer.json", words)
    return text_encoder(folder / "text_encoder.onnx", vocab_size, dim), tok_path
