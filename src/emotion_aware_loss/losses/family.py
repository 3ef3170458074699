"""Similarity-aware losses, written the way Keras writes its own.

Each loss is a pure function on ``keras.ops`` plus a registered, serialisable
``keras.losses.Loss`` class, so a saved ``.keras`` model reloads with its loss once
this module has been imported. The similarity matrix ``S`` (classes x classes, values
in [0, 1], unit diagonal) is a constructor argument, never a global.

Notation: ``p`` the predicted class probabilities, ``y`` the true class,
``y_hat = argmax p`` and ``CE = -log p_y``.

* ``cross_entropy``: ``CE``.
* ``emotion_aware``: ``CE * (1 + alpha * (1 - S[y, y_hat]))``. A correct prediction
  costs plain CE; a mistake costs more the *less* similar the predicted class is to
  the true one.
* ``seed_weighted``: ``CE * S[y, y_hat]``, the seed project's literal formula, kept
  only as a named baseline. It penalises *distant* mistakes *less* than close ones,
  the opposite of its stated intent.
* ``soft_target``: cross-entropy against similarity-smoothed targets
  ``q_j ∝ exp(-beta * (1 - S[y, j]))`` (soft labels, Bertinetto et al. CVPR 2020;
  SORD, Díaz & Marathe CVPR 2019). ``beta -> inf`` gives plain CE.
* ``expected_cost``: ``CE + lam * sum_j p_j (1 - S[y, j])``, cross-entropy plus the
  differentiable expected semantic cost of the prediction. ``lam = 0`` gives CE.
* ``sim_loss``: ``-log sum_j S'[y, j] p_j`` (Kobs et al. 2020): probability mass on
  classes similar to the true one counts partly as correct; ``S'`` is ``S`` with
  similarities up to ``lower_bound`` set to 0 and the rest rescaled (their lower
  bound). ``lower_bound -> 1`` gives plain CE.

The weights of ``emotion_aware`` and ``seed_weighted`` depend on ``argmax p`` and
carry no gradient; they rescale the cross-entropy gradient of each sample. The other
three are smooth in ``p``. See ``docs/losses.md`` for how to choose.

Longer than most modules: the family is read as one table; each loss is a function
and its registered Keras class side by side, with the helpers they share and the
registry. A new loss may live in any module (docs/losses.md, "Adding a loss").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from keras import ops
from scipy.special import softmax

# The Keras metrics compiled into saved models; importing this module registers them
# too (the custom layers register with :mod:`emotion_aware_loss.models.layers`).
from emotion_aware_loss.losses import metrics as _metrics  # noqa: F401
from emotion_aware_loss.registry import check_new_name, lookup

_PACKAGE = "emotion_aware_loss"


def _sparse_labels(y_true: Any, y_pred: Any) -> Any:
    """Integer class ids from integer or one-hot labels."""
    y_true = ops.convert_to_tensor(y_true)
    n_classes = y_pred.shape[-1]
    if len(y_true.shape) == len(y_pred.shape) and y_true.shape[-1] == n_classes:
        return ops.argmax(y_true, axis=-1)
    if len(y_true.shape) == len(y_pred.shape) and y_true.shape[-1] == 1:
        y_true = ops.squeeze(y_true, axis=-1)
    return ops.cast(y_true, "int32")


def _similarity_rows(y_true: Any, y_pred: Any, similarity: Any) -> Any:
    """``S[y, :]`` per sample, shape ``(..., K)``, in the dtype of ``y_pred``.

    ``similarity`` is one ``(K, K)`` matrix, or one per model ``(M, K, K)`` for
    labels and predictions with a leading model axis (``(M, batch)``, a stack of
    networks trained at once, :mod:`emotion_aware_loss.training`).
    """
    similarity = ops.cast(ops.convert_to_tensor(similarity), y_pred.dtype)
    labels = ops.cast(_sparse_labels(y_true, y_pred), "int32")
    if len(similarity.shape) == 3:
        return tf.gather(similarity, labels, batch_dims=1)
    return ops.take(similarity, labels, axis=0)


def _pair_similarity(y_true: Any, y_pred: Any, similarity: Any) -> Any:
    """``S[y, argmax p]`` per sample, in the dtype of ``y_pred``."""
    rows = _similarity_rows(y_true, y_pred, similarity)
    predicted = ops.expand_dims(ops.cast(ops.argmax(y_pred, axis=-1), "int32"), -1)
    return ops.stop_gradient(ops.take_along_axis(rows, predicted, axis=-1)[..., 0])


def per_model(value: Any, like: Any) -> Any:
    """A hyper-parameter against ``like``: a number as it is, or one value per
    model (``(M,)``, a stack) broadcast over ``like``'s other axes.

    A loss function of the family combines each hyper-parameter with a per-sample
    tensor through this: the stacked training calls it with one value per model."""
    if isinstance(value, (int, float)):
        return value
    value = ops.cast(value, like.dtype)
    return ops.reshape(value, (-1,) + (1,) * (len(like.shape) - 1))


def cross_entropy(y_true: Any, y_pred: Any, from_logits: bool = False) -> Any:
    """Per-sample categorical cross-entropy for integer or one-hot labels."""
    y_pred = ops.convert_to_tensor(y_pred)
    labels = _sparse_labels(y_true, y_pred)
    return keras.losses.sparse_categorical_crossentropy(
        labels, y_pred, from_logits=from_logits
    )


def emotion_aware(
    y_true: Any,
    y_pred: Any,
    similarity: Any,
    alpha: float = 1.0,
    from_logits: bool = False,
) -> Any:
    """Emotion-Aware Loss: ``CE * (1 + alpha * (1 - S[y, argmax p]))``.

    Args:
        y_true: Integer class ids ``(batch,)`` / ``(batch, 1)`` or one-hot labels.
        y_pred: Probabilities (or logits with ``from_logits=True``), ``(batch, K)``.
        similarity: ``(K, K)`` similarity matrix in [0, 1] with unit diagonal.
        alpha: How much more a maximally distant mistake costs than a correct
            prediction (``alpha = 0`` gives plain cross-entropy).
        from_logits: Whether ``y_pred`` holds logits.

    Returns:
        Per-sample loss values, shape ``(batch,)``.
    """
    y_pred = ops.convert_to_tensor(y_pred)
    ce = cross_entropy(y_true, y_pred, from_logits=from_logits)
    distance = 1.0 - _pair_similarity(y_true, y_pred, similarity)
    weight = 1.0 + per_model(alpha, distance) * distance
    return ce * ops.cast(weight, ce.dtype)


def seed_weighted(
    y_true: Any, y_pred: Any, similarity: Any, from_logits: bool = False
) -> Any:
    """The seed's literal ``CE * S[y, argmax p]`` (a baseline, not a recommendation).

    With the seed's matrix a correct prediction is weighted 1.0, anger -> sadness
    (S = 0.6) 0.6 and anger -> happiness (S = 0.2) 0.2: distant mistakes are
    penalised *less* than close ones.
    """
    y_pred = ops.convert_to_tensor(y_pred)
    ce = cross_entropy(y_true, y_pred, from_logits=from_logits)
    return ce * ops.cast(_pair_similarity(y_true, y_pred, similarity), ce.dtype)


def _probabilities(y_pred: Any, from_logits: bool) -> Any:
    return ops.softmax(y_pred, axis=-1) if from_logits else y_pred


def soft_target(
    y_true: Any,
    y_pred: Any,
    similarity: Any,
    beta: float = 5.0,
    from_logits: bool = False,
) -> Any:
    """Cross-entropy against targets ``q_j ∝ exp(-beta * (1 - S[y, j]))``.

    Args:
        y_true: Integer class ids or one-hot labels.
        y_pred: Probabilities (or logits with ``from_logits=True``).
        similarity: ``(K, K)`` similarity matrix.
        beta: Sharpness; large values approach one-hot targets (plain CE).
        from_logits: Whether ``y_pred`` holds logits.

    Returns:
        Per-sample loss values.
    """
    y_pred = ops.convert_to_tensor(y_pred)
    rows = _similarity_rows(y_true, y_pred, similarity)
    targets = ops.softmax(-per_model(beta, rows) * (1.0 - rows), axis=-1)
    return keras.losses.categorical_crossentropy(
        targets, y_pred, from_logits=from_logits
    )


def expected_cost(
    y_true: Any,
    y_pred: Any,
    similarity: Any,
    lam: float = 1.0,
    from_logits: bool = False,
) -> Any:
    """``CE + lam * sum_j p_j (1 - S[y, j])``: CE plus the expected semantic cost.

    Args:
        y_true: Integer class ids or one-hot labels.
        y_pred: Probabilities (or logits with ``from_logits=True``).
        similarity: ``(K, K)`` similarity matrix.
        lam: Weight of the expected cost (``lam = 0`` gives CE).
        from_logits: Whether ``y_pred`` holds logits.

    Returns:
        Per-sample loss values.
    """
    y_pred = ops.convert_to_tensor(y_pred)
    ce = cross_entropy(y_true, y_pred, from_logits=from_logits)
    rows = _similarity_rows(y_true, y_pred, similarity)
    probs = _probabilities(y_pred, from_logits)
    cost = ops.sum(probs * (1.0 - rows), axis=-1)
    cost = ops.cast(cost, ce.dtype)
    return ce + per_model(lam, cost) * cost


def sim_loss(
    y_true: Any,
    y_pred: Any,
    similarity: Any,
    lower_bound: float = 0.0,
    from_logits: bool = False,
) -> Any:
    """``-log sum_j S'[y, j] p_j`` (Kobs et al., 2020), ``S' = max(0, (S - b) /
    (1 - b))`` with ``b`` = ``lower_bound``: similarities at or below the bound count
    as unrelated classes, the others are stretched back to ``[0, 1]``.

    Args:
        y_true: Integer class ids or one-hot labels.
        y_pred: Probabilities (or logits with ``from_logits=True``).
        similarity: ``(K, K)`` similarity matrix.
        lower_bound: ``b`` in ``[0, 1)``; 0 uses ``S`` as it is, ``b`` above every
            off-diagonal similarity gives plain CE.
        from_logits: Whether ``y_pred`` holds logits.

    Returns:
        Per-sample loss values.
    """
    y_pred = ops.convert_to_tensor(y_pred)
    rows = _similarity_rows(y_true, y_pred, similarity)
    bound = per_model(lower_bound, rows)
    rows = ops.maximum((rows - bound) / (1.0 - bound), 0.0)
    mass = ops.sum(rows * _probabilities(y_pred, from_logits), axis=-1)
    epsilon = keras.config.epsilon()
    return -ops.log(ops.clip(mass, epsilon, 1.0))


@dataclass(frozen=True)
class HyperParameter:
    """A loss's hyper-parameter: its default and what it does (the variant's
    parameters entry may set it; it must be at least ``minimum`` and below
    ``below``)."""

    default: float
    description: str
    minimum: float = 0.0
    below: float = float("inf")

    def check(self, value: float) -> str | None:
        """Why ``value`` cannot be this hyper-parameter (None: it can)."""
        if value < self.minimum:
            return f"must be >= {self.minimum:g}, got {value:g}"
        if value >= self.below:
            return f"must be < {self.below:g}, got {value:g}"
        return None


@dataclass(frozen=True)
class RegisteredLoss:
    """A loss of the family as every part of the project uses it.

    Attributes:
        name: Its name in ``loss_variants.<variant>.loss``.
        cls: The serialisable Keras loss (what a saved model keeps).
        function: ``(y_true, y_pred, similarity, from_logits=..., **hyper)`` per
            utterance (what a stack of networks and the convex fit compute).
        hyper: Its hyper-parameters by name, in the parameters' spelling.
        prediction_weight: For a loss that is cross-entropy times a weight of the
            true and the predicted class with no gradient through the weight
            (``emotion_aware``, ``seed_weighted``): ``(similarity, **hyper)`` ->
            that weight as a ``(K, K)`` matrix, true class by predicted class;
            None for the others. The convex fit solves such a loss as a fixed
            point of its predictions (a test holds the matrix to the function).
        targets: For a loss that is cross-entropy against a fixed distribution
            of the true class (``cross_entropy``, ``soft_target``):
            ``(similarity, **hyper)`` -> those distributions as a ``(K, K)``
            matrix, one row per true class, each summing to 1; None for the
            others. The convex fit evaluates such a loss in NumPy, without a
            TensorFlow call per step (a test holds the matrix to the function).
        expected_cost: With ``targets``, for a loss that adds to that
            cross-entropy the expected cost ``Σ_j p_j M[y, j]`` of its
            predicted distribution (``expected_cost``): ``(similarity, **hyper)``
            -> ``M`` as a ``(K, K)`` matrix, true class by class; None for none.
        mass: For a loss that is ``-log Σ_j M[y, j] p_j``, the log of the
            predicted probability mass weighted by a row of ``M`` (``sim_loss``,
            ``M = S``; the sum clipped below at Keras' epsilon):
            ``(similarity, **hyper)`` -> ``M`` as a ``(K, K)`` matrix, true class
            by class; None for the others. The convex fit evaluates it in NumPy
            (a test holds the matrix to the function).
    """

    name: str
    cls: type[keras.losses.Loss]
    function: Callable[..., Any]
    hyper: dict[str, HyperParameter] = field(default_factory=dict)
    prediction_weight: Callable[..., np.ndarray] | None = None
    targets: Callable[..., np.ndarray] | None = None
    expected_cost: Callable[..., np.ndarray] | None = None
    mass: Callable[..., np.ndarray] | None = None

    @property
    def uses_similarity(self) -> bool:
        return issubclass(self.cls, SimilarityLoss)


# Every loss of the family by name: configuration validation, dispatch, the
# sweeps, the documentation's checks and the tests' parametrisation read it. A loss
# joins it with :func:`register_loss` (its class, its function and its
# hyper-parameters, declared once).
LOSS_REGISTRY: dict[str, RegisteredLoss] = {}


def register_loss(
    name: str,
    function: Callable[..., Any],
    *,
    prediction_weight: Callable[..., np.ndarray] | None = None,
    targets: Callable[..., np.ndarray] | None = None,
    expected_cost: Callable[..., np.ndarray] | None = None,
    mass: Callable[..., np.ndarray] | None = None,
    **hyper: HyperParameter,
) -> Callable[[type], type]:
    """Class decorator: ``cls`` becomes the loss ``name`` of the family.

    Registers ``cls`` with Keras' serialisation (so a saved model reloads with it)
    and with :data:`LOSS_REGISTRY`. A subclass of :class:`SimilarityLoss` takes
    ``(similarity, **hyper)``, its defaults those declared here. ``function`` is
    ``(y_true, y_pred, similarity, from_logits=False, **hyper)`` -> per-sample
    values, written with ``keras.ops``; the stacked training passes each
    hyper-parameter as one value per model, so it meets a per-sample tensor through
    :func:`per_model`. ``prediction_weight``, ``targets``, ``expected_cost``,
    ``mass``: see :class:`RegisteredLoss`.

        @register_loss("focal_similarity", focal_similarity,
                       gamma=HyperParameter(2.0, "focusing strength"))
        class FocalSimilarity(SimilarityLoss):
            "..."

    Raises:
        ValueError: If ``name`` is taken or not a lower-case identifier, or an
            expected cost is declared without targets.
    """
    check_new_name(LOSS_REGISTRY, "loss", name)
    if expected_cost is not None and targets is None:
        raise ValueError(
            f"loss {name!r}: an expected_cost adds to a cross-entropy against "
            "targets; declare its targets too"
        )

    def decorate(cls: type) -> type:
        keras.saving.register_keras_serializable(package=_PACKAGE, name=cls.__name__)(
            cls
        )
        LOSS_REGISTRY[name] = RegisteredLoss(
            name,
            cls,
            function,
            dict(hyper),
            prediction_weight,
            targets,
            expected_cost,
            mass,
        )
        cls.loss_name = name
        return cls

    return decorate


def registered(loss: str) -> RegisteredLoss:
    """The registered loss ``loss``.

    Raises:
        ValueError: If no loss has that name, listing those that have.
    """
    return lookup(LOSS_REGISTRY, "loss", loss)


def own_hyper_parameter(loss: str) -> str | None:
    """The hyper-parameter a sweep of ``loss`` varies (its first), None if none."""
    return next(iter(registered(loss).hyper), None)


class SimilarityLoss(keras.losses.Loss):
    """A registered loss function of ``(y_true, y_pred, similarity, **hyper)`` as a
    Keras Loss.

    Stores the similarity matrix and the hyper-parameters, and serialises both, the
    way ``keras.losses.LossFunctionWrapper`` does for Keras' own losses. Its
    function, name and hyper-parameters (with their defaults) are those its
    :func:`register_loss` declares; each hyper-parameter is also an attribute.
    """

    loss_name: str = ""

    def __init__(
        self,
        similarity: Sequence[Sequence[float]] | np.ndarray,
        from_logits: bool = False,
        reduction: str = "sum_over_batch_size",
        name: str | None = None,
        dtype: str | None = None,
        **hyper: float,
    ) -> None:
        entry = registered(self.loss_name)
        super().__init__(name=name or entry.name, reduction=reduction, dtype=dtype)
        matrix = np.asarray(similarity, dtype="float32")
        if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
            raise ValueError(
                f"similarity must be a square matrix, got shape {matrix.shape}"
            )
        unknown = sorted(set(hyper) - set(entry.hyper))
        if unknown:
            raise TypeError(
                f"{type(self).__name__} takes {list(entry.hyper) or 'no hyper-parameters'}"
                f", not {unknown}"
            )
        values = {
            key: float(hyper.get(key, h.default)) for key, h in entry.hyper.items()
        }
        for key, value in values.items():
            if (problem := entry.hyper[key].check(value)) is not None:
                raise ValueError(f"{key} {problem}")
        self.fn = entry.function
        # A non-trainable variable, so a callback (DynamicSimilarity) can update the
        # matrix between epochs without recompiling the model.
        self.similarity_variable = keras.Variable(
            matrix, trainable=False, dtype="float32", name=f"{self.name}_similarity"
        )
        self.from_logits = from_logits
        self.hyper = values

    def __getattr__(self, key: str) -> Any:
        hyper = self.__dict__.get("hyper", {})
        if key in hyper:
            return hyper[key]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {key!r}")

    @property
    def similarity(self) -> np.ndarray:
        """The current similarity matrix as a NumPy array."""
        return np.asarray(keras.ops.convert_to_numpy(self.similarity_variable))

    def call(self, y_true: Any, y_pred: Any) -> Any:
        return self.fn(
            y_true,
            y_pred,
            self.similarity_variable,
            from_logits=self.from_logits,
            **self.hyper,
        )

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            similarity=self.similarity.tolist(),
            from_logits=self.from_logits,
            **self.hyper,
        )
        return config


def _emotion_aware_weight(similarity: np.ndarray, alpha: float) -> np.ndarray:
    """:func:`emotion_aware`'s weight, ``1 + alpha (1 - S[y, ŷ])``."""
    return 1.0 + alpha * (1.0 - np.asarray(similarity))


def _seed_weight(similarity: np.ndarray) -> np.ndarray:
    """:func:`seed_weighted`'s weight, ``S[y, ŷ]``."""
    return np.asarray(similarity, dtype=np.float64)


@register_loss(
    "emotion_aware",
    emotion_aware,
    prediction_weight=_emotion_aware_weight,
    alpha=HyperParameter(1.0, "extra cost of a maximally distant mistake"),
)
class EmotionAware(SimilarityLoss):
    """Emotion-Aware Loss, ``CE * (1 + alpha * (1 - S[y, argmax p]))``.

    Args:
        similarity: ``(K, K)`` similarity matrix in [0, 1] with unit diagonal.
        alpha: Extra cost of a maximally distant mistake, ``>= 0``.
        from_logits: Whether predictions are logits.
        reduction: Keras reduction.
        name: Loss name.
        dtype: Loss computation dtype.
    """


@register_loss("seed_weighted", seed_weighted, prediction_weight=_seed_weight)
class SeedWeighted(SimilarityLoss):
    """The seed's literal ``CE * S[y, argmax p]``, kept as a named baseline."""


def _one_hot_targets(similarity: np.ndarray, **hyper: float) -> np.ndarray:
    """Cross-entropy's targets: the true class alone (whatever the loss's
    hyper-parameters)."""
    return np.eye(np.shape(similarity)[0])


def _soft_targets(similarity: np.ndarray, beta: float) -> np.ndarray:
    """:func:`soft_target`'s targets, row ``y``: ``softmax(-beta (1 - S[y]))``."""
    return softmax(-beta * (1.0 - np.asarray(similarity, dtype=np.float64)), axis=1)


@register_loss(
    "soft_target",
    soft_target,
    targets=_soft_targets,
    beta=HyperParameter(5.0, "target sharpness (larger: closer to one-hot)"),
)
class SoftTarget(SimilarityLoss):
    """Cross-entropy against targets ``q_j ∝ exp(-beta * (1 - S[y, j]))``."""


def _semantic_cost(similarity: np.ndarray, lam: float) -> np.ndarray:
    """:func:`expected_cost`'s cost of predicting ``j`` for ``y``: ``lam (1 - S)``."""
    return lam * (1.0 - np.asarray(similarity, dtype=np.float64))


@register_loss(
    "expected_cost",
    expected_cost,
    targets=_one_hot_targets,
    expected_cost=_semantic_cost,
    lam=HyperParameter(1.0, "weight of the expected semantic cost (λ)"),
)
class ExpectedCost(SimilarityLoss):
    """``CE + lam * sum_j p_j (1 - S[y, j])``."""


def _similarity_mass(similarity: np.ndarray, lower_bound: float) -> np.ndarray:
    """:func:`sim_loss`'s weights of the predicted mass: the similarity above its
    lower bound, rescaled, ``max(0, (S - b) / (1 - b))``."""
    similarity = np.asarray(similarity, dtype=np.float64)
    return np.maximum((similarity - lower_bound) / (1.0 - lower_bound), 0.0)


@register_loss(
    "sim_loss",
    sim_loss,
    mass=_similarity_mass,
    lower_bound=HyperParameter(
        0.0,
        "similarities up to it count as 0, the rest rescaled to [0, 1] "
        "(larger: closer to one-hot)",
        below=1.0,
    ),
)
class SimLoss(SimilarityLoss):
    """``-log sum_j S'[y, j] p_j``, ``S' = max(0, (S - b) / (1 - b))`` (Kobs et
    al., 2020)."""


def _cross_entropy_of(
    y_true: Any, y_pred: Any, similarity: Any, from_logits: bool = False
) -> Any:
    """Cross-entropy with the signature of the similarity-aware losses."""
    return cross_entropy(y_true, y_pred, from_logits)


@register_loss("cross_entropy", _cross_entropy_of, targets=_one_hot_targets)
class CrossEntropy(keras.losses.Loss):
    """Categorical cross-entropy accepting integer or one-hot labels."""

    def __init__(
        self,
        from_logits: bool = False,
        reduction: str = "sum_over_batch_size",
        name: str = "cross_entropy",
        dtype: str | None = None,
    ) -> None:
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.from_logits = from_logits

    def call(self, y_true: Any, y_pred: Any) -> Any:
        return cross_entropy(y_true, y_pred, self.from_logits)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(from_logits=self.from_logits)
        return config


def own_hyper_parameters(loss: str, hyper: dict[str, float]) -> dict[str, float]:
    """Of ``hyper`` (a variant's hyper-parameters), those ``loss`` takes, each
    defaulting to its registered default."""
    entry = registered(loss)
    return {name: float(hyper.get(name, h.default)) for name, h in entry.hyper.items()}


def make_loss(loss: str, similarity: np.ndarray, **hyper: float) -> keras.losses.Loss:
    """Build the loss object a variant names.

    Args:
        loss: A name in :data:`LOSS_REGISTRY`.
        similarity: ``(K, K)`` similarity matrix (ignored by ``cross_entropy``).
        **hyper: Hyper-parameters; only those the loss takes are used.

    Returns:
        A serialisable Keras loss.

    Raises:
        ValueError: If ``loss`` is not a registered name.
    """
    entry = registered(loss)
    if not entry.uses_similarity:
        return entry.cls()
    return entry.cls(similarity, **own_hyper_parameters(loss, hyper))


def describe_loss(
    loss: keras.losses.Loss, n_classes: int
) -> tuple[str, dict[str, float], np.ndarray]:
    """A loss object of this module as ``(name, hyper-parameters, similarity)``,
    what a stack of networks trains it with (cross-entropy: the identity matrix).

    Raises:
        ValueError: If ``loss`` is not a registered loss.
    """
    for name, entry in LOSS_REGISTRY.items():
        if type(loss) is entry.cls:
            if not entry.uses_similarity:
                return name, {}, np.eye(n_classes, dtype=np.float32)
            return name, dict(loss.hyper), loss.similarity
    raise ValueError(
        f"{type(loss).__name__} is not a registered loss; expected one of "
        f"{sorted(e.cls.__name__ for e in LOSS_REGISTRY.values())}"
    )


def pair_costs(
    loss: keras.losses.Loss, n_classes: int, confidence: float = 0.7
) -> np.ndarray:
    """The loss a variant charges for each (true, predicted) pair of classes.

    Entry ``[i, j]`` is the per-utterance loss when the true class is ``i`` and the
    model puts ``confidence`` on class ``j`` and spreads the rest evenly over the
    other classes: the diagonal is a confident correct prediction, an off-diagonal
    entry a confident mistake. Cross-entropy charges every mistake alike; the
    similarity-aware losses charge a mistake between similar emotions less.

    Args:
        loss: A loss built by :func:`make_loss` (with its current similarity).
        n_classes: Number of classes ``K``.
        confidence: Probability of the predicted class, in ``(1/K, 1)``.

    Returns:
        A ``(K, K)`` array of losses.

    Raises:
        ValueError: If ``confidence`` is outside ``(1/K, 1)``.
    """
    if not 1.0 / n_classes < confidence < 1.0:
        raise ValueError(f"confidence must be in (1/{n_classes}, 1), got {confidence}")
    rest = (1.0 - confidence) / (n_classes - 1)
    predicted = np.full((n_classes, n_classes), rest, dtype="float32")
    np.fill_diagonal(predicted, confidence)  # row j: the model predicts class j
    y_true = np.repeat(np.arange(n_classes), n_classes)
    y_pred = np.tile(predicted, (n_classes, 1))
    values = keras.ops.convert_to_numpy(loss.call(y_true, y_pred))
    return np.asarray(values, dtype=float).reshape(n_classes, n_classes)
