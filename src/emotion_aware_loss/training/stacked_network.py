"""A Keras functional model and M sets of its weights as one stacked network.

Every weight of the model becomes one variable with a leading model axis
(``(M, *shape)``); every activation carries it too (``(M, batch, ...)``). Layers
with weights are computed for all M models at once (batched matrix products,
gathers per model); layers without weights (pooling, reshapes, concatenation, the
bag of words, ...) are the Keras layers themselves, applied to the M batches side
by side as one larger batch. The model's own graph decides the order, so any
network :func:`emotion_aware_loss.models.network.build_fusion_model` builds (the default
``wide_deep``, the seed's convolutional branches, attention, the linear model, a
frozen encoder's inputs) stacks without a second description of it.

Numerics follow Keras' own layers (``Dense``, ``Conv1D``, ``Embedding``,
``BatchNormalization``, ``LayerNormalization``, ``MultiHeadAttention``,
``Dropout``), so a model trained in a stack matches the same model trained alone
to float tolerance (``tests/test_stacked_training.py``).

Longer than most modules: every kind of Keras layer the fusion network uses has its
stacked counterpart here, and its check (the ``_check_*`` functions refuse what
cannot be stacked before training starts); all of them read one forward-pass
structure (:class:`_Forward`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from keras import layers

OUTPUT_LAYER = "emotion"  # the softmax layer (``model.build_fusion_model``)


class StackError(ValueError):
    """The model cannot be stacked (a layer or setting this module does not cover)."""


@dataclass(frozen=True)
class Pass:
    """How one forward pass runs.

    Attributes:
        training: Training mode (batch statistics, dropout) or inference.
        rows: ``(M, batch)`` 1.0 for real utterances, 0.0 for padding (partial
            batches); ``None`` when every row is real. Batch statistics leave
            padding out.
        jit: The pass is compiled with XLA (operations it can compile).
        dropout: ``dropout(x, rate, layer_index)`` for training passes: ``x``
            with units dropped per model (the trainer seeds the masks); ``None``
            turns dropout off.
    """

    training: bool = False
    rows: tf.Tensor | None = None
    jit: bool = False
    dropout: Callable[[tf.Tensor, float, int], tf.Tensor] | None = None


def _dims(x: tf.Tensor, start: int, stop: int | None = None) -> list:
    """Dimensions ``start:stop`` of ``x``: static where known (fewer operations in
    the traced step), else dynamic."""
    dynamic = None
    out = []
    for i, size in enumerate(x.shape[start:stop], start):
        if size is None:
            dynamic = tf.shape(x) if dynamic is None else dynamic
        out.append(dynamic[i] if size is None else size)
    return out


def _merged(x: Any) -> Any:
    """``(M, B, ...)`` -> ``(M * B, ...)`` (anything but a tensor as it is)."""
    if not tf.is_tensor(x):
        return x
    return tf.reshape(x, [-1, *_dims(x, 2)])


def _split(x: tf.Tensor, batch: Any) -> tf.Tensor:
    """``(M * B, ...)`` -> ``(M, B, ...)``."""
    return tf.reshape(x, [-1, batch, *_dims(x, 1)])


def _per_model(value: tf.Tensor, rank: int) -> tf.Tensor:
    """A ``(M, C)`` per-model vector broadcastable against ``(M, B, ..., C)``."""
    return tf.reshape(value, [-1] + [1] * (rank - 2) + _dims(value, 1))


def _batched_matmul(x: tf.Tensor, kernel: tf.Tensor) -> tf.Tensor:
    """``x`` ``(M, B, ..., I)`` times ``kernel`` ``(M, I, O)`` per model."""
    inner = _dims(x, 1, -1)
    if all(isinstance(d, int) for d in inner):
        flat = tf.reshape(x, [-1, math.prod(inner), x.shape[-1]])
    else:
        flat = tf.reshape(x, [tf.shape(x)[0], -1, x.shape[-1]])
    out = tf.matmul(flat, kernel)
    return tf.reshape(out, [-1, *inner, kernel.shape[-1]])


class StackedNetwork:
    """The forward pass of M copies of ``model``, each with its own weights.

    Functional: the weights are arguments (one ``(M, *shape)`` tensor per weight
    of ``model``, in ``model.weights`` order), so a caller can hand it any subset
    of its models (those still training) without tracing anything again.

    Args:
        model: The (uncompiled or compiled) Keras functional model; it is only
            read, never changed.

    Raises:
        StackError: If the model holds a layer or a setting that cannot be
            stacked (named in the message).
    """

    def __init__(self, model: keras.Model):
        self.model = model
        self._dropout_index: dict[int, int] = {}
        self._check(model)
        self._lazy = _lazy_concatenations(model)
        split = _split_kernels(model, self._lazy)
        trainable = {id(v) for v in model.trainable_weights}
        # The stacked arrays ("units"): one per weight, except the kernel of a
        # dense layer that reads a concatenation, kept as one block of rows per
        # concatenated input, so that the backward pass computes no gradient for
        # an input that has no weights upstream (the linear views).
        self.units: list[tuple[int, int | None, int | None]] = []
        self._unit: dict[int, int | list[int]] = {}
        for i, variable in enumerate(model.weights):
            widths = split.get(id(variable))
            if widths is None:
                self._unit[id(variable)] = len(self.units)
                self.units.append((i, None, None))
                continue
            starts = np.cumsum([0, *widths])
            self._unit[id(variable)] = list(
                range(len(self.units), len(self.units) + len(widths))
            )
            self.units.extend(
                (i, int(a), int(b))
                for a, b in zip(starts[:-1], starts[1:], strict=True)
            )
        self.trainable = [id(model.weights[i]) in trainable for i, _, _ in self.units]

    def stack(self, weights: Sequence[Sequence[np.ndarray]]) -> list[np.ndarray]:
        """M models' weights (each in ``model.get_weights()`` order) as the
        stacked arrays the forward pass takes (:attr:`units`).

        Raises:
            StackError: If a model's weights do not fit the architecture.
        """
        if not weights:
            raise StackError("a stack needs at least one model")
        for i, variable in enumerate(self.model.weights):
            shapes = {np.shape(w[i]) for w in weights}
            if shapes != {tuple(variable.shape)}:
                raise StackError(
                    f"weights of {variable.path} have shapes {sorted(shapes)}, the "
                    f"model's is {tuple(variable.shape)}"
                )
        dtypes = [v.dtype for v in self.model.weights]
        return [
            np.stack([np.asarray(w[i][a:b], dtype=dtypes[i]) for w in weights])
            for i, a, b in self.units
        ]

    def unstack(self, units: Sequence[np.ndarray]) -> list[list[np.ndarray]]:
        """Each model's weights, in ``model.get_weights()`` order, from the stacked
        arrays."""
        parts: list[list[np.ndarray]] = [[] for _ in self.model.weights]
        for (i, _, _), value in zip(self.units, units, strict=True):
            parts[i].append(value)
        whole = [p[0] if len(p) == 1 else np.concatenate(p, axis=1) for p in parts]
        return [[w[m] for w in whole] for m in range(len(whole[0]))]

    # --- structure ------------------------------------------------------------------
    def _check(self, model: keras.Model) -> None:
        try:
            output = model.get_layer(OUTPUT_LAYER)
        except ValueError as error:
            raise StackError(
                f"the model has no layer named {OUTPUT_LAYER!r} (its softmax layer)"
            ) from error
        if not isinstance(output, layers.Dense) or output.activation is not (
            keras.activations.softmax
        ):
            raise StackError(f"layer {OUTPUT_LAYER!r} must be a softmax Dense layer")
        for layer in model.layers:
            if isinstance(layer, layers.InputLayer):
                continue
            check = _CHECKS.get(type(layer))
            if check is not None:
                check(layer)
            elif layer.weights:
                raise StackError(
                    f"layer {layer.name!r} ({type(layer).__name__}) has weights and "
                    "cannot be stacked; train without stacking "
                    "(training.stacked: false)"
                )
            if isinstance(layer, layers.Dropout):
                self._dropout_index[id(layer)] = len(self._dropout_index)
            if isinstance(layer, layers.MultiHeadAttention):
                self._dropout_index[id(layer)] = len(self._dropout_index)

    @property
    def n_dropout_layers(self) -> int:
        return len(self._dropout_index)

    def dropout_index(self, op: Any) -> int:
        """A number per layer that drops units (its masks' own random stream)."""
        return self._dropout_index[id(op)]

    def dropout_shapes(self) -> list[tuple[int, ...]]:
        """Per utterance, the shape of the units each dropping layer drops (in
        :meth:`dropout_index` order): a layer's input, or attention's scores."""
        shapes: list[tuple[int, ...]] = [()] * len(self._dropout_index)
        for layer in self.model.layers:
            if id(layer) not in self._dropout_index:
                continue
            if isinstance(layer, layers.MultiHeadAttention):
                query, value = (
                    n.shape for n in layer._inbound_nodes[0].input_tensors[:2]
                )  # noqa: SLF001
                shape = (layer.num_heads, query[1], value[1])
            else:
                shape = tuple(layer.input.shape[1:])
            shapes[self._dropout_index[id(layer)]] = tuple(int(d) for d in shape)
        return shapes

    def position(self, keras_variable: Any) -> int | list[int]:
        """Where one of the model's weights is among the stacked arrays (a list
        of row blocks for a kernel that reads a concatenation)."""
        return self._unit[id(keras_variable)]

    def is_lazy(self, op: Any) -> bool:
        """Whether a concatenation stays a list of its inputs (read by dense
        layers only, block by block)."""
        return id(op) in self._lazy

    def regularised(self) -> list[tuple[int, float]]:
        """``(array, l2)`` of every stacked array with an L2 regulariser.

        Raises:
            StackError: For any other regulariser.
        """
        found = []
        for layer in self.model.layers:
            for attribute in ("kernel_regularizer", "bias_regularizer"):
                regulariser = getattr(layer, attribute, None)
                if regulariser is None:
                    continue
                if type(regulariser) is not keras.regularizers.L2:
                    raise StackError(
                        f"layer {layer.name!r}: only L2 regularisers can be stacked, "
                        f"got {type(regulariser).__name__}"
                    )
                weight = (
                    layer.kernel if attribute == "kernel_regularizer" else layer.bias
                )
                units = self.position(weight)
                for unit in units if isinstance(units, list) else [units]:
                    found.append((unit, float(regulariser.l2)))
        return found

    # --- forward --------------------------------------------------------------------
    def __call__(
        self, weights: Sequence[tf.Tensor], inputs: dict[str, tf.Tensor], run: Pass
    ) -> tuple[tf.Tensor, tf.Tensor, dict[int, tf.Tensor]]:
        """Logits ``(M, B, classes)``, the softmax layer's input ``(M, B, H)`` and
        the new values of the weights a training pass moves (batch-normalisation
        statistics), by position.

        Args:
            weights: ``(M, *shape)`` per weight of the model, in its order.
            inputs: ``(M, B, ...)`` per model input name.
            run: Training or inference, padding, dropout.
        """
        state = _Forward(self, weights, run)
        flat = [inputs[t.name.split(":")[0]] for t in self.model.inputs]
        state.batch = _dims(flat[0], 1, 2)[0]
        self.model._run_through_graph(  # noqa: SLF001 (Keras' own graph walk)
            flat, operation_fn=state.operation
        )
        return state.logits, state.hidden, state.updates


class _Forward:
    """One forward pass: the weights it reads and what it captures."""

    def __init__(
        self, network: StackedNetwork, weights: Sequence[tf.Tensor], run: Pass
    ):
        self.network = network
        self.weights = weights
        self.run = run
        self.batch: Any = None  # the batch size, from the first input
        self.updates: dict[int, tf.Tensor] = {}
        self.logits: tf.Tensor | None = None
        self.hidden: tf.Tensor | None = None

    def variable(self, keras_variable: Any) -> Any:
        """The stacked array (or list of row blocks) of one of the model's weights."""
        unit = self.network.position(keras_variable)
        if isinstance(unit, list):
            return [self.weights[u] for u in unit]
        return self.weights[unit]

    def operation(self, op: Any) -> Callable:
        kind = type(op)
        if kind is layers.MultiHeadAttention:
            return lambda query, value, key=None, **kwargs: self._attention(
                op, query, value, value if key is None else key
            )
        single = {
            layers.Dense: lambda x: self._dense(op, x),
            layers.Conv1D: lambda x: self._conv1d(op, x),
            layers.Embedding: lambda x: tf.gather(
                self.variable(op.embeddings), tf.cast(x, tf.int32), batch_dims=1
            ),
            layers.BatchNormalization: lambda x: self._batch_norm(op, x),
            layers.LayerNormalization: lambda x: self._layer_norm(op, x),
            layers.Dropout: lambda x: self._dropout(op, op.rate, x),
            layers.CategoryEncoding: lambda x: self._category_encoding(op, x),
        }.get(kind)
        if single is not None:
            return lambda x, **kwargs: single(x)  # Keras passes mask=None
        if self.network.is_lazy(op):
            return lambda inputs, **kwargs: _Pieces.of(inputs)
        return lambda *args, **kwargs: self._weightless(op, args, kwargs)

    def _weightless(self, op: Any, args: tuple, kwargs: dict) -> tf.Tensor:
        """A layer without weights, on the M batches as one batch."""
        merged = tf.nest.map_structure(_merged, (args, kwargs))
        return _split(op(*merged[0], **merged[1]), self.batch)

    def _category_encoding(
        self, op: layers.CategoryEncoding, x: tf.Tensor
    ) -> tf.Tensor:
        """The bag of words. Keras' layer counts with ``bincount``, which XLA cannot
        compile (its batch size is not a constant); under XLA it is a sum of one-hot
        rows instead, which materialises ``(models, batch, tokens, vocabulary)``."""
        if not self.run.jit:
            return self._weightless(op, (x,), {})
        hot = tf.one_hot(tf.cast(x, tf.int32), op.num_tokens, dtype=tf.float32)
        if len(x.shape) == 2:  # (M, B): one id per utterance
            return hot
        if op.output_mode == "multi_hot":
            return tf.reduce_max(hot, axis=-2)
        return tf.reduce_sum(hot, axis=-2)

    def _dense(self, op: layers.Dense, x: Any) -> tf.Tensor:
        kernel = self.variable(op.kernel)
        if isinstance(x, _Pieces):
            out = tf.add_n(
                [_batched_matmul(p, k) for p, k in zip(x.parts, kernel, strict=True)]
            )
            if op.name == OUTPUT_LAYER:
                self.hidden = tf.concat(x.parts, axis=-1)
            rank = len(x.parts[0].shape)
        else:
            out = _batched_matmul(x, kernel)
            if op.name == OUTPUT_LAYER:
                self.hidden = x
            rank = len(x.shape)
        if op.use_bias:
            out = out + _per_model(self.variable(op.bias), rank)
        if op.name == OUTPUT_LAYER:
            self.logits = out
        return op.activation(out)

    def _conv1d(self, op: layers.Conv1D, x: tf.Tensor) -> tf.Tensor:
        """Convolution as one product of the kernel with the frames' patches."""
        width = op.kernel_size[0]
        if op.padding == "same":
            left = (width - 1) // 2
            x = tf.pad(x, [[0, 0], [0, 0], [left, width - 1 - left], [0, 0]])
        steps = _dims(x, 2, 3)[0] - width + 1
        # The patches as one gather of (steps, width) frame positions, whose
        # gradient is one scatter-add; as ``width`` slices concatenated, each
        # slice's gradient was a zero-filled copy of the whole input (a quarter of
        # a default training step, measured).
        positions = tf.range(steps)[:, None] + tf.range(width)[None, :]
        patches = tf.gather(x, positions, axis=2)  # (M, B, steps, width, C)
        patches = tf.reshape(
            patches, [-1, *_dims(patches, 1, 3), width * _dims(x, 3, 4)[0]]
        )
        kernel = self.variable(op.kernel)
        flat = tf.reshape(kernel, [-1, width * kernel.shape[2], op.filters])
        out = _batched_matmul(patches, flat)
        if op.use_bias:
            out = out + _per_model(self.variable(op.bias), 4)
        return op.activation(out)

    def _batch_norm(self, op: layers.BatchNormalization, x: tf.Tensor) -> tf.Tensor:
        run = self.run
        rank = len(x.shape)
        moving_mean = self.variable(op.moving_mean)
        moving_variance = self.variable(op.moving_variance)
        if run.training and op.trainable:
            axes = list(range(1, rank - 1))
            if run.rows is None:
                mean, variance = tf.nn.moments(x, axes)
            else:
                weight = tf.reshape(
                    run.rows, tf.concat([tf.shape(run.rows), [1] * (rank - 2)], 0)
                )
                count = tf.reduce_sum(weight * tf.ones_like(x), axes)
                count = tf.maximum(count, 1.0)
                mean = tf.reduce_sum(x * weight, axes) / count
                centred = (x - _per_model(mean, rank)) * weight
                variance = tf.reduce_sum(tf.square(centred), axes) / count
            momentum = op.momentum
            new_mean = moving_mean * momentum + mean * (1.0 - momentum)
            new_variance = moving_variance * momentum + variance * (1.0 - momentum)
            self.updates[self.network.position(op.moving_mean)] = new_mean
            self.updates[self.network.position(op.moving_variance)] = new_variance
        else:
            mean, variance = moving_mean, moving_variance
        return tf.nn.batch_normalization(
            x,
            _per_model(mean, rank),
            _per_model(variance, rank),
            _per_model(self.variable(op.beta), rank) if op.center else None,
            _per_model(self.variable(op.gamma), rank) if op.scale else None,
            op.epsilon,
        )

    def _layer_norm(self, op: layers.LayerNormalization, x: tf.Tensor) -> tf.Tensor:
        rank = len(x.shape)
        mean, variance = tf.nn.moments(x, axes=[-1], keepdims=True)
        inv = tf.math.rsqrt(variance + op.epsilon)
        if op.scale:
            inv = inv * _per_model(self.variable(op.gamma), rank)
        shift = -mean * inv
        if op.center:
            shift = shift + _per_model(self.variable(op.beta), rank)
        return x * inv + shift

    def _attention(
        self,
        op: layers.MultiHeadAttention,
        query: tf.Tensor,
        value: tf.Tensor,
        key: tf.Tensor,
    ) -> tf.Tensor:
        """Keras' multi-head attention over ``(M, B, T, width)`` sequences."""

        def project(dense: Any, x: tf.Tensor) -> tf.Tensor:  # -> (M, B, T, H, D)
            out = tf.einsum("mbti,mihd->mbthd", x, self.variable(dense.kernel))
            if dense.bias is not None:
                out = out + self.variable(dense.bias)[:, None, None]
            return out

        q = project(op._query_dense, query) * op._inverse_sqrt_key_dim  # noqa: SLF001
        k = project(op._key_dense, key)  # noqa: SLF001
        v = project(op._value_dense, value)  # noqa: SLF001
        scores = tf.nn.softmax(tf.einsum("mbshd,mbthd->mbhts", k, q), axis=-1)
        scores = self._dropout(op, op._dropout, scores)  # noqa: SLF001
        attended = tf.einsum("mbhts,mbshd->mbthd", scores, v)
        output = op._output_dense  # noqa: SLF001
        out = tf.einsum("mbthd,mhdo->mbto", attended, self.variable(output.kernel))
        if output.bias is not None:
            out = out + self.variable(output.bias)[:, None, None]
        return out

    def _dropout(self, op: Any, rate: float, x: tf.Tensor) -> tf.Tensor:
        run = self.run
        if not (run.training and rate > 0 and run.dropout is not None):
            return x
        return run.dropout(x, float(rate), self.network.dropout_index(op))


@dataclass(frozen=True)
class _Pieces:
    """A concatenation along the last axis kept as its inputs."""

    parts: tuple[tf.Tensor, ...]

    @staticmethod
    def of(inputs: Sequence[Any]) -> _Pieces:
        parts: list[tf.Tensor] = []
        for x in inputs:
            parts.extend(x.parts if isinstance(x, _Pieces) else [x])
        return _Pieces(tuple(parts))


def _consumers(layer: Any) -> list[Any]:
    return [node.operation for node in layer._outbound_nodes]  # noqa: SLF001


def _last_axis(layer: layers.Concatenate) -> bool:
    rank = len(layer.output.shape)
    return layer.axis % rank == rank - 1


def _lazy_concatenations(model: keras.Model) -> set[int]:
    """Concatenations along the last axis read only by dense layers (directly or
    through other such concatenations)."""
    concatenations = [
        layer
        for layer in model.layers
        if type(layer) is layers.Concatenate and _last_axis(layer)
    ]
    lazy = {id(c) for c in concatenations}
    changed = True
    while changed:
        changed = False
        for c in concatenations:
            if id(c) in lazy and not all(
                type(op) is layers.Dense or id(op) in lazy for op in _consumers(c)
            ):
                lazy.discard(id(c))
                changed = True
    return lazy


def _split_kernels(model: keras.Model, lazy: set[int]) -> dict[int, list[int]]:
    """Kernel -> the widths of the concatenated inputs its dense layer reads."""

    def widths(tensor: Any) -> list[int]:
        producer = tensor._keras_history.operation  # noqa: SLF001
        if id(producer) in lazy:
            nested = producer._inbound_nodes[0].input_tensors  # noqa: SLF001
            return [w for t in nested for w in widths(t)]
        return [int(tensor.shape[-1])]

    split = {}
    for layer in model.layers:
        if type(layer) is layers.Dense:
            found = widths(layer.input)
            if len(found) > 1:
                split[id(layer.kernel)] = found
    return split


# --- what each stackable layer must look like ------------------------------------------
def _refuse(layer: Any, what: str) -> None:
    raise StackError(
        f"layer {layer.name!r} ({type(layer).__name__}): {what} cannot be stacked; "
        "train without stacking (training.stacked: false)"
    )


def _check_conv(layer: layers.Conv1D) -> None:
    if tuple(layer.strides) != (1,) or tuple(layer.dilation_rate) != (1,):
        _refuse(layer, "strides or dilation other than 1")
    if layer.padding not in ("same", "valid") or layer.groups != 1:
        _refuse(layer, f"padding {layer.padding!r} or groups {layer.groups}")
    if layer.data_format != "channels_last":
        _refuse(layer, "channels_first")


def _check_embedding(layer: layers.Embedding) -> None:
    if layer.mask_zero:
        _refuse(layer, "mask_zero")


def _check_last_axis(layer: Any) -> None:
    rank = len(layer.input.shape)
    axes = [layer.axis] if isinstance(layer.axis, int) else list(layer.axis)
    if [a % rank for a in axes] != [rank - 1]:
        _refuse(layer, f"normalisation over axis {layer.axis}")


def _check_batch_norm(layer: layers.BatchNormalization) -> None:
    _check_last_axis(layer)
    if layer.renorm or layer.synchronized:
        _refuse(layer, "renorm or synchronized statistics")


def _check_attention(layer: layers.MultiHeadAttention) -> None:
    if getattr(layer, "_use_gate", False):
        _refuse(layer, "gated attention")
    if layer._attention_axes not in (None, (1,)):  # noqa: SLF001
        _refuse(layer, "attention over other axes")


def _check_category_encoding(layer: layers.CategoryEncoding) -> None:
    if layer.output_mode not in ("multi_hot", "count", "one_hot") or layer.sparse:
        _refuse(layer, f"output_mode {layer.output_mode!r} or sparse output")


def _check_dropout(layer: layers.Dropout) -> None:
    if layer.noise_shape is not None:
        _refuse(layer, "a noise shape")


_CHECKS: dict[type, Callable[[Any], None]] = {
    layers.Dense: lambda layer: None,
    layers.Conv1D: _check_conv,
    layers.Embedding: _check_embedding,
    layers.BatchNormalization: _check_batch_norm,
    layers.LayerNormalization: _check_last_axis,
    layers.MultiHeadAttention: _check_attention,
    layers.Dropout: _check_dropout,
    layers.CategoryEncoding: _check_category_encoding,
}
