"""A stack's state on the device: its variables, its data and its traced steps.

Every weight and optimiser slot is a variable with a leading axis over all jobs
(:class:`Device`); each traced call (an epoch of training, a validation or an
embedding pass) takes the positions of the jobs it works on, so stopped models
leave the computation without anything being traced again.

Longer than most modules: :class:`Device` is one object whose variables, data and
traced steps share state and change together (a stopped model leaves every traced
step at once).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from emotion_aware_loss.features.store import RowReader, npy_layout
from emotion_aware_loss.losses.family import LOSS_REGISTRY
from emotion_aware_loss.training.jobs import Corpus, Job, Settings, bucket_size
from emotion_aware_loss.training.stacked_network import Pass, StackedNetwork

logger = logging.getLogger(__name__)

# Adam's constants (Keras' defaults, which the project has always used).
BETA_1, BETA_2, EPSILON = 0.9, 0.999, 1e-7
# Rows of a validation or embedding pass computed at once, per model, scaled down
# for wide inputs so that one pass holds about this many floats per model.
PASS_FLOATS = 2**20


@tf.function(jit_compile=True)
def _adam_update(
    weights: list[tf.Tensor],
    gradients: list[tf.Tensor],
    moments: list[tf.Tensor],
    velocities: list[tf.Tensor],
    alpha: tf.Tensor,
    applied: tf.Tensor,
) -> list[tuple[tf.Tensor, tf.Tensor, tf.Tensor]]:
    """Adam on ``(A, ...)`` weights, ``alpha`` ``(A,)`` each model's step size
    (learning rate with its bias correction); models not ``applied`` keep theirs.

    One fused pass per weight (XLA): the update reads the weight, its gradient and
    both moments and writes three arrays, the least memory traffic Adam can have;
    as separate TensorFlow operations it makes about four times as many passes,
    and on a stack of networks of a few hundred thousand weights each, Adam's
    memory traffic is most of a training step. Compiled once per stack size and
    shared by every stack of the process.
    """
    out = []
    for w, g, m, v in zip(weights, gradients, moments, velocities, strict=True):
        shape = [-1] + [1] * (len(w.shape) - 1)
        keep = tf.reshape(applied, shape)
        m_new = m + (g - m) * (1 - BETA_1)
        v_new = v + (tf.square(g) - v) * (1 - BETA_2)
        w_new = w - m_new * tf.reshape(alpha, shape) / (tf.sqrt(v_new) + EPSILON)
        out.append(
            (
                tf.where(keep, w_new, w),
                tf.where(keep, m_new, m),
                tf.where(keep, v_new, v),
            )
        )
    return out


# --- the stack's state on the device -------------------------------------------------
_ROWS = tf.TensorSpec([None, None], tf.int32)
_SLOTS = tf.TensorSpec([None], tf.int32)


class Device:
    """Variables, data and traced functions of one stack (one architecture).

    Every weight and optimiser slot is a variable with a leading axis over all
    jobs. Each traced call takes the positions of the jobs it works on (those
    still training), gathers their weights, computes, and writes them back, so
    models that have stopped cost nothing and change nothing, and no call is
    traced again as their number falls.
    """

    def __init__(
        self,
        model: keras.Model,
        corpus: Corpus,
        jobs: Sequence[Job],
        settings: Settings,
    ) -> None:
        self.jobs = jobs
        self.settings = settings
        self.n = len(jobs)
        # One slot more than jobs: the padding slot. An epoch's slots are padded
        # to a few sizes (bucket_size) with it, so that the optimiser update is
        # compiled once per size rather than once per number of models still
        # training; it trains nothing (its batches are all padding).
        self.slot_jobs = [*jobs, jobs[0]]
        # the stack size an epoch of m models runs at, by m (0 for none)
        self.stack_sizes = np.array(
            [0, *(bucket_size(m, self.n) for m in range(1, self.n + 1))]
        )
        self.network = StackedNetwork(model)
        stacked = self.network.stack([job.weights for job in self.slot_jobs])
        self.weights = [tf.Variable(value) for value in stacked]
        self.trainable = [i for i, t in enumerate(self.network.trainable) if t]
        self.moments = [
            tf.Variable(tf.zeros_like(self.weights[i])) for i in self.trainable
        ]
        self.velocities = [
            tf.Variable(tf.zeros_like(self.weights[i])) for i in self.trainable
        ]
        self.steps_done = tf.Variable(tf.zeros([self.n + 1]))
        self.best = [tf.Variable(value) for value in stacked]
        self.epoch_start = [tf.Variable(value) for value in stacked]
        del stacked  # a refit restacks the jobs' own initial weights

        self.regularised = self.network.regularised()
        self.n_classes = int(model.output_shape[-1])
        self._inputs(model, corpus)
        self._losses()
        self.seed_list = sorted({job.seed for job in jobs})
        self.seed_of_model = tf.constant(
            [self.seed_list.index(j.seed) for j in self.slot_jobs], tf.int32
        )
        self.class_weights = tf.constant(
            np.stack([np.asarray(j.class_weights, np.float32) for j in self.slot_jobs])
        )
        width = max(
            int(np.prod([d or 1 for d in layer.output.shape[1:]]))
            for layer in model.layers
        )
        self.pass_rows = int(min(512, max(16, PASS_FLOATS // max(width, 1))))
        jit = settings.jit_compile and self.reader is None
        self.jit = jit
        if settings.jit_compile and not jit:
            logger.warning(
                "training.jit_compile: the acoustic features are read from disk a "
                "batch at a time (above training.max_resident_mb), which XLA cannot "
                "compile; the epochs run without it"
            )
        batch = settings.batch_size  # static: fewer shape operations per step
        self.train_epoch = tf.function(
            self._train_epoch,
            input_signature=[
                _SLOTS,
                tf.TensorSpec([None, None, batch], tf.int32),
                tf.TensorSpec([None, None, batch], tf.float32),
                tf.TensorSpec([], tf.int64),
            ],
            jit_compile=jit,
        )
        self.evaluate = tf.function(
            self._evaluate, input_signature=[_SLOTS, _ROWS, _ROWS]
        )
        self.embed = tf.function(self._embed, input_signature=[_SLOTS, _ROWS])
        self.predict = tf.function(self._predict, input_signature=[_SLOTS, _ROWS])

    # --- inputs ---------------------------------------------------------------------
    def _inputs(self, model: keras.Model, corpus: Corpus) -> None:
        names = {t.name.split(":")[0]: t for t in model.inputs}
        self.labels = tf.constant(np.asarray(corpus.labels, np.int32))
        self.view_of_model = tf.constant([j.view for j in self.slot_jobs], tf.int32)
        self.reader = None
        self.speech = None
        self.has_speech = "speech" in names
        if self.has_speech:
            if corpus.speech is None:
                raise ValueError("the model takes speech, the corpus has none")
            speech = corpus.speech
            self.speech_vector = len(names["speech"].shape) == 2
            self.speech_shape = tuple(int(d) for d in speech.shape[1:])
            if npy_layout(speech) is not None and speech.nbytes > corpus.resident_bytes:
                self.reader = RowReader(speech)  # read a batch at a time
            else:
                self.speech = tf.constant(np.asarray(speech, np.float32))
            self.n_frames = tf.constant(np.asarray(corpus.n_frames, np.int32))
            self.mean = tf.constant(
                np.stack([np.asarray(v.mean, np.float32) for v in corpus.views])
            )
            self.std = tf.constant(
                np.stack([np.asarray(v.std, np.float32) for v in corpus.views])
            )
        self.tokens = None
        self.text_features = None
        if "text" in names:
            if "int" in str(names["text"].dtype):
                self.tokens = tf.constant(
                    np.stack([np.asarray(v.tokens, np.int32) for v in corpus.views])
                )
            else:
                self.text_features = tf.constant(
                    np.asarray(corpus.text_features, np.float32)
                )

    def _read_speech(self, rows: tf.Tensor) -> tf.Tensor:
        if self.reader is None:
            return tf.gather(self.speech, rows)
        flat = tf.numpy_function(
            lambda r: self.reader(r.astype(np.int64)).astype(np.float32),
            [tf.reshape(rows, [-1])],
            tf.float32,
            stateful=False,
        )
        return tf.reshape(flat, tf.concat([tf.shape(rows), self.speech_shape], 0))

    def inputs_of(self, views: tf.Tensor, rows: tf.Tensor) -> dict[str, tf.Tensor]:
        """``(A, B, ...)`` model inputs of row positions ``rows`` ``(A, B)``, each
        model reading through its fold's view (``views`` ``(A,)``)."""
        inputs = {}
        if self.has_speech:
            raw = self._read_speech(rows)  # (A, B, frames, features)
            mean = tf.gather(self.mean, views)[:, None, None, :]
            std = tf.gather(self.std, views)[:, None, None, :]
            frames = tf.range(self.speech_shape[0])[None, None, :]
            valid = frames < tf.gather(self.n_frames, rows)[:, :, None]
            scaled = tf.where(valid[..., None], (raw - mean) / std, 0.0)
            inputs["speech"] = scaled[:, :, 0, :] if self.speech_vector else scaled
        if self.tokens is not None:
            per_row = tf.broadcast_to(views[:, None], tf.shape(rows))
            inputs["text"] = tf.gather_nd(self.tokens, tf.stack([per_row, rows], -1))
        if self.text_features is not None:
            inputs["text"] = tf.gather(self.text_features, rows)
        return inputs

    # --- losses ---------------------------------------------------------------------
    def _losses(self) -> None:
        """Each job's loss as an index into the kinds present, and the tables of
        the hyper-parameters (per job; 0 where a loss takes none)."""
        self.similarity = tf.Variable(
            np.stack(
                [np.asarray(j.loss.similarity, np.float32) for j in self.slot_jobs]
            )
        )
        self.kinds = list(dict.fromkeys(j.loss.name for j in self.slot_jobs))
        self.kind_of_model = tf.constant(
            [self.kinds.index(j.loss.name) for j in self.slot_jobs], tf.int32
        )
        keys = {key for name in self.kinds for key in LOSS_REGISTRY[name].hyper}
        self.hyper = {
            key: tf.constant(
                [float(j.loss.hyper.get(key, 0.0)) for j in self.slot_jobs], tf.float32
            )
            for key in sorted(keys)
        }

    def per_sample_loss(
        self, slots: tf.Tensor, labels: tf.Tensor, logits: tf.Tensor
    ) -> tf.Tensor:
        """``(A, B)`` each utterance's loss under its model's loss (jobs ``slots``).

        Every loss of the stack is computed for every model and each model keeps
        its own (the losses are a few operations on ``(A, B, classes)``; selecting
        keeps shapes static, which XLA needs). With finite hyper-parameters every
        loss is finite where the logits are, so the unused ones add no NaN to the
        gradients.
        """
        # one softmax for every loss: Keras' losses find the logits behind it (a
        # numerically stable cross-entropy), and the losses share that part
        probabilities = keras.activations.softmax(logits)
        if len(self.kinds) == 1:
            return self._loss_of(self.kinds[0], slots, labels, probabilities)
        kinds = tf.gather(self.kind_of_model, slots)[:, None]
        total = tf.zeros(tf.shape(labels))
        for k, name in enumerate(self.kinds):
            values = self._loss_of(name, slots, labels, probabilities)
            total = tf.where(kinds == k, values, total)
        return total

    def _loss_of(
        self,
        name: str,
        slots: tf.Tensor,
        labels: tf.Tensor,
        probabilities: tf.Tensor,
    ) -> tf.Tensor:
        entry = LOSS_REGISTRY[name]
        hyper = {key: tf.gather(self.hyper[key], slots) for key in entry.hyper}
        similarity = tf.gather(self.similarity, slots)
        return entry.function(labels, probabilities, similarity, **hyper)

    def penalty(self, weights: Sequence[tf.Tensor]) -> tf.Tensor:
        """``(A,)`` the L2 penalties of each model's weights."""
        total = tf.zeros(tf.shape(weights[0])[:1])
        for position, l2 in self.regularised:
            value = weights[position]
            axes = list(range(1, len(value.shape)))
            total += l2 * tf.reduce_sum(tf.square(value), axes)
        return total

    # --- dropout --------------------------------------------------------------------
    def dropout_of(self, seeds: tf.Tensor, key: tf.Tensor) -> Callable:
        """Dropout whose masks follow each model's seed (``seeds`` ``(A,)``, indices
        into ``seed_list``) and ``key`` (epoch, step), not its place in the
        stack: models with one seed (a fold's variants) share their masks.

        One uniform draw per seed and step covers every dropping layer (a block
        of it each), which keeps the traced step small.
        """
        shapes = self.network.dropout_shapes()
        if not shapes:
            return lambda x, rate, layer: x
        batch = self.settings.batch_size
        sizes = [batch * math.prod(shape) for shape in shapes]
        offsets = np.cumsum([0, *sizes])
        noise = tf.stack(
            [
                tf.random.stateless_uniform(
                    [int(offsets[-1])], tf.stack([tf.constant(seed, tf.int64), key])
                )
                for seed in self.seed_list
            ]
        )

        def dropout(x: tf.Tensor, rate: float, layer: int) -> tf.Tensor:
            block = noise[:, int(offsets[layer]) : int(offsets[layer + 1])]
            block = tf.reshape(block, [-1, batch, *shapes[layer]])
            keep = tf.gather(block, seeds) >= rate
            return tf.where(keep, x * (1.0 / (1.0 - rate)), tf.zeros_like(x))

        return dropout

    # --- one epoch ------------------------------------------------------------------
    def _gather(self, variables: Sequence[tf.Variable], slots: tf.Tensor) -> list:
        return [tf.gather(v, slots) for v in variables]

    def _scatter(
        self, variables: Sequence[tf.Variable], slots: tf.Tensor, values: Sequence
    ) -> None:
        for variable, value in zip(variables, values, strict=True):
            variable.scatter_nd_update(slots[:, None], value)

    def _train_epoch(
        self, slots: tf.Tensor, orders: tf.Tensor, valid: tf.Tensor, key: tf.Tensor
    ) -> dict[str, tf.Tensor]:
        """Every step of one epoch for the jobs ``slots`` ``(A,)``.

        The jobs' weights and optimiser state are gathered, carried through the
        steps as tensors and written back at the end (tensors, not variables: a
        variable read and then updated in the same step is copied first).

        Args:
            slots: Positions of the jobs still training.
            orders: ``(A, steps, batch)`` row positions of each step's batch.
            valid: ``(A, steps, batch)`` 1.0 for real rows, 0.0 for padding.
            key: The epoch, for the dropout masks.

        Returns:
            Per job: summed weighted loss, rows, weighted correct predictions and
            weights, weighted confusions, and whether its loss turned non-finite.
        """
        a, c = tf.shape(slots)[0], self.n_classes
        context = {
            "slots": slots,
            "views": tf.gather(self.view_of_model, slots),
            "seeds": tf.gather(self.seed_of_model, slots),
            "class_weights": tf.gather(self.class_weights, slots),
        }
        state = {
            "weights": self._gather(self.weights, slots),
            "moments": self._gather(self.moments, slots),
            "velocities": self._gather(self.velocities, slots),
            "steps": tf.gather(self.steps_done, slots),
        }
        sums = {
            "loss": tf.zeros([a]),
            "rows": tf.zeros([a]),
            "correct": tf.zeros([a]),
            "weight": tf.zeros([a]),
            "confusion": tf.zeros([a, c, c]),
            "non_finite": tf.zeros([a], tf.bool),
        }
        for step in tf.range(tf.shape(orders)[1]):
            state, sums = self._step(
                context,
                state,
                sums,
                orders[:, step],
                valid[:, step],
                key * 2**32 + tf.cast(step, tf.int64),
            )
        self._scatter(self.weights, slots, state["weights"])
        self._scatter(self.moments, slots, state["moments"])
        self._scatter(self.velocities, slots, state["velocities"])
        self.steps_done.scatter_nd_update(slots[:, None], state["steps"])
        return sums

    def _step(
        self,
        context: dict[str, tf.Tensor],
        state: dict[str, Any],
        sums: dict[str, tf.Tensor],
        rows: tf.Tensor,
        valid: tf.Tensor,
        key: tf.Tensor,
    ) -> tuple[dict[str, Any], dict[str, tf.Tensor]]:
        count = tf.reduce_sum(valid, axis=1)
        updating = ~sums["non_finite"] & (count > 0)
        labels = tf.gather(self.labels, rows)
        weight = tf.gather(context["class_weights"], labels, batch_dims=1) * valid
        inputs = self.inputs_of(context["views"], rows)
        weights = state["weights"]
        trainable = [weights[i] for i in self.trainable]
        with tf.GradientTape() as tape:
            tape.watch(trainable)
            run = Pass(True, valid, self.jit, self.dropout_of(context["seeds"], key))
            logits, _, moved = self.network(weights, inputs, run)
            values = self.per_sample_loss(context["slots"], labels, logits)
            loss = tf.reduce_sum(values * weight, axis=1) / tf.maximum(count, 1.0)
            loss += self.penalty(weights)
            finite = tf.math.is_finite(loss)
            applied = updating & finite
            total = tf.reduce_sum(tf.where(applied, loss, 0.0))
        gradients = tape.gradient(total, trainable)
        state = self._adam(state, moved, gradients, applied)
        predicted = tf.argmax(logits, axis=-1, output_type=tf.int32)
        truth = tf.one_hot(labels, self.n_classes) * weight[..., None]
        guess = tf.one_hot(predicted, self.n_classes)
        kept = tf.cast(applied, tf.float32)
        correct = tf.cast(predicted == labels, tf.float32) * weight
        sums = {
            "loss": sums["loss"] + tf.where(applied, loss * count, 0.0),
            "rows": sums["rows"] + count * kept,
            "correct": sums["correct"] + tf.reduce_sum(correct, 1) * kept,
            "weight": sums["weight"] + tf.reduce_sum(weight, 1) * kept,
            "confusion": sums["confusion"]
            + tf.einsum("mbc,mbd->mcd", truth, guess) * kept[:, None, None],
            "non_finite": sums["non_finite"] | (updating & ~finite),
        }
        return state, sums

    def _adam(
        self,
        state: dict[str, Any],
        moved: dict[int, tf.Tensor],
        gradients: list[tf.Tensor],
        applied: tf.Tensor,
    ) -> dict[str, Any]:
        """Keras' Adam update, per model; models not ``applied`` stay unchanged
        (their batch-normalisation statistics too)."""
        steps = state["steps"] + tf.cast(applied, tf.float32)
        lr = self.settings.learning_rate
        alpha = (
            lr * tf.sqrt(1.0 - tf.pow(BETA_2, steps)) / (1.0 - tf.pow(BETA_1, steps))
        )
        old = state["weights"]
        new_weights = list(old)
        for position, value in moved.items():
            keep = tf.reshape(applied, [-1] + [1] * (len(value.shape) - 1))
            new_weights[position] = tf.where(keep, value, old[position])
        present = [k for k, g in enumerate(gradients) if g is not None]
        moments, velocities = list(state["moments"]), list(state["velocities"])
        updated = _adam_update(
            [old[self.trainable[k]] for k in present],
            [tf.convert_to_tensor(gradients[k]) for k in present],
            [moments[k] for k in present],
            [velocities[k] for k in present],
            alpha,
            applied,
        )
        for k, (w, m, v) in zip(present, updated, strict=True):
            new_weights[self.trainable[k]] = w
            moments[k], velocities[k] = m, v
        return {
            "weights": new_weights,
            "moments": moments,
            "velocities": velocities,
            "steps": steps,
        }

    # --- passes without training ------------------------------------------------------
    def _evaluate(
        self, slots: tf.Tensor, rows: tf.Tensor, lengths: tf.Tensor
    ) -> dict[str, tf.Tensor]:
        """Unweighted loss sum, correct count and confusions of each job's rows
        (``rows`` ``(A, n)``, the first ``lengths`` ``(A, 1)`` real), in inference
        mode, and each job's L2 penalty."""
        a, c = tf.shape(slots)[0], self.n_classes
        weights = self._gather(self.weights, slots)
        views = tf.gather(self.view_of_model, slots)
        sums = {
            "loss": tf.zeros([a]),
            "rows": tf.zeros([a]),
            "correct": tf.zeros([a]),
            "confusion": tf.zeros([a, c, c]),
        }
        size = self.pass_rows
        for start in tf.range(0, tf.shape(rows)[1], size):
            part = rows[:, start : start + size]
            position = start + tf.range(tf.shape(part)[1])[None, :]
            mask = tf.cast(position < lengths, tf.float32)
            labels = tf.gather(self.labels, part)
            logits, _, _ = self.network(weights, self.inputs_of(views, part), Pass())
            values = self.per_sample_loss(slots, labels, logits)
            predicted = tf.argmax(logits, axis=-1, output_type=tf.int32)
            truth = tf.one_hot(labels, c) * mask[..., None]
            correct = tf.cast(predicted == labels, tf.float32) * mask
            sums = {
                "loss": sums["loss"]
                + tf.reduce_sum(tf.where(mask > 0, values, 0.0), 1),
                "rows": sums["rows"] + tf.reduce_sum(mask, 1),
                "correct": sums["correct"] + tf.reduce_sum(correct, 1),
                "confusion": sums["confusion"]
                + tf.einsum("mbc,mbd->mcd", truth, tf.one_hot(predicted, c)),
            }
        sums["penalty"] = self.penalty(weights)
        return sums

    def _embed(self, slots: tf.Tensor, rows: tf.Tensor) -> tf.Tensor:
        """``(A, n, hidden)`` the softmax layer's inputs for ``rows``, inference mode."""
        return self._inference(slots, rows, 1)

    def _predict(self, slots: tf.Tensor, rows: tf.Tensor) -> tf.Tensor:
        """``(A, n, classes)`` class probabilities for ``rows``, inference mode."""
        return tf.nn.softmax(self._inference(slots, rows, 0))

    def _inference(self, slots: tf.Tensor, rows: tf.Tensor, output: int) -> tf.Tensor:
        """``(A, n, ...)`` the network's ``output`` (0 logits, 1 the softmax layer's
        inputs) for each job's ``rows`` ``(A, n)``, a pass of rows at a time."""
        weights = self._gather(self.weights, slots)
        views = tf.gather(self.view_of_model, slots)
        size = self.pass_rows
        chunks = (tf.shape(rows)[1] + size - 1) // size
        parts = tf.TensorArray(tf.float32, size=chunks, infer_shape=False)
        for i in tf.range(chunks):
            part = rows[:, i * size : (i + 1) * size]
            values = self.network(weights, self.inputs_of(views, part), Pass())[output]
            parts = parts.write(i, tf.transpose(values, [1, 0, 2]))
        return tf.transpose(parts.concat(), [1, 0, 2])

    # --- copies of the weights --------------------------------------------------------
    def copy(self, slots: np.ndarray, source: str, target: str) -> None:
        """Copy the weights of jobs ``slots`` between ``weights``, ``best`` and
        ``epoch_start``."""
        if not len(slots):
            return
        index = tf.constant(np.asarray(slots, np.int32))
        for a, b in zip(getattr(self, source), getattr(self, target), strict=True):
            b.scatter_nd_update(index[:, None], tf.gather(a, index))

    def reset(self) -> None:
        """Initial weights, similarity and a fresh optimiser for every job (a refit)."""
        initial = self.network.stack([job.weights for job in self.slot_jobs])
        for variable, value in zip(self.weights, initial, strict=True):
            variable.assign(value)
        for slot in [*self.moments, *self.velocities]:
            slot.assign(tf.zeros_like(slot))
        self.steps_done.assign(tf.zeros_like(self.steps_done))
        self.similarity.assign(
            np.stack(
                [np.asarray(j.loss.similarity, np.float32) for j in self.slot_jobs]
            )
        )

    def padded(self, slots: np.ndarray) -> np.ndarray:
        """``slots`` and, after them, the padding slot up to :func:`bucket_size`."""
        size = self.stack_sizes[len(slots)]
        return np.concatenate([slots, np.full(size - len(slots), self.n, np.int32)])

    def model_weights(self) -> list[list[np.ndarray]]:
        """Every job's weights, in ``model.get_weights()`` order."""
        return self.network.unstack([v.numpy()[: self.n] for v in self.weights])
