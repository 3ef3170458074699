"""Fold assignment and the per-fold transforms fitted on training data only."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

from emotion_aware_loss.features.store import RowReader, iter_row_chunks
from emotion_aware_loss.features.text import encode_texts, fit_vocabulary

TRAIN, VALIDATION, TEST = "train", "validation", "test"
REPEAT_SEED_STEP = 7919  # a prime: repeat shuffles stay apart from the per-fold seeds
CHUNK_ROWS = 64  # utterances read at a time when a whole part is scanned
logger = logging.getLogger(__name__)


class FoldError(ValueError):
    """The corpus cannot be split as configured."""


def _check_class_sizes(labels: pd.Series, n_folds: int) -> None:
    counts = labels.value_counts()
    small = counts[counts < n_folds]
    if len(small):
        cls, count = small.index[0], int(small.iloc[0])
        raise FoldError(
            f"class {cls!r} has {count} utterance(s), fewer than the {n_folds} folds; "
            "lower cross_validation.n_folds or drop the class"
        )


def _split_off_validation(
    train_idx: np.ndarray,
    labels: np.ndarray,
    groups: np.ndarray | None,
    fraction: float,
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Stratified (and, with ``groups``, grouped) validation split of a training fold."""
    n_splits = max(2, round(1.0 / fraction))
    y = labels[train_idx]
    if groups is None:
        # Every class needs one member per split; fall back to fewer splits if not.
        counts = np.bincount(y)
        n_splits = max(2, min(n_splits, int(counts[counts > 0].min())))
        splitter = StratifiedKFold(n_splits, shuffle=True, random_state=seed)
        fit_idx, val_idx = next(splitter.split(train_idx, y))
    else:
        n_splits = min(n_splits, len(np.unique(groups[train_idx])))
        splitter = StratifiedGroupKFold(n_splits, shuffle=True, random_state=seed)
        fit_idx, val_idx = next(splitter.split(train_idx, y, groups[train_idx]))
    # A class too small to be split keeps all its members for training (with their
    # speakers' other utterances when grouped): the model must see every class,
    # while early stopping can do without one.
    missing = np.setdiff1d(y, y[fit_idx])
    if len(missing):
        back = np.isin(y[val_idx], missing)
        if groups is not None:
            val_groups = groups[train_idx][val_idx]
            back = np.isin(val_groups, val_groups[back])
        fit_idx = np.sort(np.concatenate([fit_idx, val_idx[back]]))
        val_idx = val_idx[~back]
    return train_idx[fit_idx], train_idx[val_idx]


def assign_folds(
    utterances: pd.DataFrame,
    n_folds: int,
    seed: int,
    speaker_independent: bool = False,
    validation_fraction: float = 0.15,
    n_repeats: int = 1,
) -> pd.DataFrame:
    """Assign every utterance a role (train/validation/test) in every fold.

    Outer folds are stratified by label and shuffled with ``seed``; with
    ``speaker_independent`` they are also grouped by speaker, so no speaker is in
    both the training and the test part of a fold. Inside each training part a
    stratified validation split (grouped by speaker when speaker-independent) is
    held out for early stopping.

    Args:
        utterances: Table with ``utterance_id``, ``label_id`` and ``speaker``.
        n_folds: Number of outer folds.
        seed: Seed of the shuffles.
        speaker_independent: Group folds by speaker.
        validation_fraction: Approximate share of each training part held out.
        n_repeats: Repetitions of the k-fold split, each shuffled with its own
            seed (``seed + 7919 r``; repeat 0 uses ``seed``). Fold ``k`` of repeat
            ``r`` is numbered ``r * n_folds + k``.

    Returns:
        Long table ``utterance_id, fold, repeat, split`` with ``n_folds × n_repeats``
        rows per utterance.

    Raises:
        FoldError: If a class has fewer utterances than folds, or there are fewer
            speakers than folds for speaker-independent folds.
    """
    _check_class_sizes(utterances["label"], n_folds)
    labels = utterances["label_id"].to_numpy(dtype=np.int64)
    groups = None
    if speaker_independent:
        groups = utterances["speaker"].astype(str).to_numpy()
        n_speakers = len(np.unique(groups))
        if n_speakers < n_folds:
            raise FoldError(
                f"speaker-independent folds need at least {n_folds} speakers, "
                f"the corpus has {n_speakers}"
            )
    ids = utterances["utterance_id"].to_numpy()
    frames = []
    for repeat in range(n_repeats):
        shuffle_seed = seed + REPEAT_SEED_STEP * repeat
        if groups is not None:
            outer = StratifiedGroupKFold(
                n_folds, shuffle=True, random_state=shuffle_seed
            )
            splits = outer.split(labels, labels, groups)
        else:
            outer = StratifiedKFold(n_folds, shuffle=True, random_state=shuffle_seed)
            splits = outer.split(labels, labels)
        for k, (train_idx, test_idx) in enumerate(splits):
            fold = repeat * n_folds + k
            fit_idx, val_idx = _split_off_validation(
                train_idx, labels, groups, validation_fraction, seed + fold
            )
            if not len(val_idx):
                raise FoldError(
                    f"fold {fold}: no validation utterance is left for early "
                    "stopping (the validation speakers hold the only training "
                    f"utterances of a class); {len(ids)} utterances are too few for "
                    f"{n_folds} folds{' by speaker' if groups is not None else ''}: "
                    "use fewer folds (cross_validation.n_folds) or more utterances"
                )
            role = np.empty(len(ids), dtype=object)
            role[fit_idx], role[val_idx], role[test_idx] = TRAIN, VALIDATION, TEST
            frames.append(
                pd.DataFrame(
                    {"utterance_id": ids, "fold": fold, "repeat": repeat, "split": role}
                )
            )
    return pd.concat(frames, ignore_index=True)


def frame_mean_std(
    features: np.ndarray,
    n_frames: np.ndarray,
    rows: np.ndarray,
    chunk_rows: int = CHUNK_ROWS,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Per-feature mean and standard deviation over the valid frames of ``rows``.

    ``features`` may be memory-mapped: it is read ``chunk_rows`` utterances at a
    time, in two passes (mean, then squared deviations), with the running sums
    carried from chunk to chunk in the order ``numpy.mean`` and ``numpy.std`` add
    the frames up, so the result is that of those functions over all valid
    frames at once (bit for bit with two or more features).

    Returns:
        The mean, the standard deviation (float32) and the number of frames; with
        no frame, zeros and ones.
    """
    n_features = features.shape[2]
    valid_frames = np.minimum(n_frames[rows], features.shape[1])
    count = int(valid_frames.sum())
    if not count:  # a text-only corpus: nothing to standardise
        return np.zeros(n_features, np.float32), np.ones(n_features, np.float32), 0

    def frames() -> Iterator[np.ndarray]:
        positions = np.arange(features.shape[1])[None, :]
        for start, chunk in zip(
            range(0, len(rows), chunk_rows),
            iter_row_chunks(features, rows, chunk_rows),
            strict=True,
        ):
            lengths = n_frames[rows[start : start + chunk_rows], None]
            yield chunk[positions < lengths]

    def running_sum(parts: Iterator[np.ndarray]) -> np.ndarray:
        total = None
        for part in parts:
            stacked = part if total is None else np.concatenate([total[None], part])
            total = np.add.reduce(stacked, axis=0)
        return total

    mean = running_sum(frames()) / np.float32(count)
    squares = ((part - mean[None]) ** 2 for part in frames())
    std = np.sqrt(running_sum(squares) / np.float32(count))
    return mean, std, count


def fit_scaler(
    features: np.ndarray,
    n_frames: np.ndarray,
    rows: np.ndarray,
    chunk_rows: int = CHUNK_ROWS,
) -> dict[str, list[float]]:
    """Per-feature mean and standard deviation over the valid frames of ``rows``
    (:func:`frame_mean_std`); a constant feature gets standard deviation 1."""
    mean, std, count = frame_mean_std(features, n_frames, rows, chunk_rows)
    if not count:  # a text-only corpus: nothing to standardise
        return {"mean": mean.astype(float).tolist(), "std": std.astype(float).tolist()}
    constant = np.flatnonzero(std <= 1e-8)
    if len(constant):
        logger.warning(
            "acoustic feature(s) %s are constant on the training part; they carry "
            "no information and are left unscaled",
            constant.tolist(),
        )
    return {
        "mean": mean.astype(float).tolist(),
        # A constant feature is left unscaled rather than divided by zero.
        "std": np.where(std > 1e-8, std, 1.0).astype(float).tolist(),
    }


def apply_scaler(
    features: np.ndarray, n_frames: np.ndarray, scaler: dict[str, list[float]]
) -> np.ndarray:
    """Standardise frames with ``scaler``; padded frames stay at zero."""
    mean = np.asarray(scaler["mean"], dtype=np.float32)
    std = np.asarray(scaler["std"], dtype=np.float32)
    valid = np.arange(features.shape[1])[None, :] < n_frames[:, None]
    return np.where(valid[..., None], (features - mean) / std, 0.0).astype(np.float32)


def rows_of(utterances: pd.DataFrame, split: pd.DataFrame, role: str) -> np.ndarray:
    """Row positions in ``utterances`` of the utterances with ``role`` in ``split``."""
    wanted = set(split.loc[split["split"] == role, "utterance_id"].astype(str))
    return np.flatnonzero(
        utterances["utterance_id"].astype(str).isin(wanted).to_numpy()
    )


def fit_fold_transforms(
    utterances: pd.DataFrame,
    features: np.ndarray,
    split: pd.DataFrame,
    max_vocab_size: int,
    min_count: int,
) -> tuple[dict[str, list[float]], list[str]]:
    """Fit the feature scaler and the vocabulary on a fold's training part."""
    train = rows_of(utterances, split, TRAIN)
    n_frames = utterances["n_frames"].to_numpy(dtype=np.int64)
    scaler = fit_scaler(features, n_frames, train)
    texts = utterances["tokens"].astype(str).iloc[train]
    vocabulary = fit_vocabulary(texts, max_vocab_size, min_count)
    return scaler, vocabulary


@dataclass(frozen=True, eq=False)
class ScaledFeatures:
    """Standardised acoustic features of some utterances, read a batch at a time.

    Stands for ``apply_scaler(features[rows], n_frames[rows], scaler)`` without
    computing it: :meth:`take` reads and standardises only the rows asked for
    (from a memory-mapped ``features`` with file reads, see
    :mod:`emotion_aware_loss.features.store`), so training and prediction hold one
    batch of speech at a time. ``numpy.asarray`` gives the whole array. The file's
    header is read when the object is made, so :meth:`take` is safe to call from
    tf.data's worker threads.

    Attributes:
        features: Unscaled features of every utterance, ``(N, frames, features)``.
        rows: Positions in ``features`` of these utterances, in order.
        n_frames: Valid frames of each of these utterances.
        scaler: ``mean`` and ``std`` per feature.
        frame_axis: False: utterance-level vectors without the time axis
            (``(n, features)``), for a model whose speech input has none.
    """

    features: np.ndarray
    rows: np.ndarray
    n_frames: np.ndarray
    scaler: dict[str, list[float]]
    frame_axis: bool = True
    reader: RowReader = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "reader", RowReader(self.features))

    @property
    def shape(self) -> tuple[int, ...]:
        _, frames, n_features = self.features.shape
        if self.frame_axis:
            return (len(self.rows), frames, n_features)
        return (len(self.rows), n_features)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    dtype = np.dtype(np.float32)

    def __len__(self) -> int:
        return len(self.rows)

    def take(self, index: np.ndarray) -> np.ndarray:
        """The standardised features of utterances ``index`` (positions in ``rows``)."""
        index = np.asarray(index, dtype=np.int64)
        batch = apply_scaler(
            self.reader(self.rows[index]),
            self.n_frames[index],
            self.scaler,
        )
        return batch if self.frame_axis else batch[:, 0, :]

    def without_frame_axis(self) -> ScaledFeatures:
        """The same utterances as vectors (their features have one frame each).

        Raises:
            ValueError: If the features have more than one frame.
        """
        if self.features.shape[1] != 1:
            raise ValueError(
                f"features have {self.features.shape[1]} frames; only single-frame "
                "(utterance-level) features can drop the time axis"
            )
        return replace(self, frame_axis=False)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        parts = [
            self.take(np.arange(start, min(start + CHUNK_ROWS, len(self))))
            for start in range(0, len(self), CHUNK_ROWS)
        ]
        whole = np.concatenate(parts) if parts else np.empty(self.shape, np.float32)
        return whole if dtype is None else whole.astype(dtype)


def model_inputs(
    utterances: pd.DataFrame,
    features: np.ndarray,
    rows: np.ndarray,
    scaler: dict[str, list[float]],
    vocabulary: list[str],
    max_tokens: int,
    text_features: np.ndarray | None = None,
) -> tuple[dict[str, ScaledFeatures | np.ndarray], np.ndarray]:
    """Standardised speech (read on demand), the text input and labels of ``rows``.

    The text input is token ids, or with non-empty ``text_features`` (a frozen
    text encoder's embeddings, one row per utterance) those rows.
    """
    n_frames = utterances["n_frames"].to_numpy(dtype=np.int64)[rows]
    speech = ScaledFeatures(features, np.asarray(rows), n_frames, scaler)
    if text_features is not None and text_features.size:
        text = text_features[rows]
    else:
        texts = utterances["tokens"].astype(str).iloc[rows].tolist()
        text = encode_texts(texts, vocabulary, max_tokens)
    labels = utterances["label_id"].to_numpy(dtype=np.int32)[rows]
    return {"speech": speech, "text": text}, labels


class Part(NamedTuple):
    """One role's part of a fold: model inputs, labels and row positions."""

    inputs: dict[str, ScaledFeatures | np.ndarray]
    labels: np.ndarray
    rows: np.ndarray


@dataclass(frozen=True)
class FoldInputs:
    """What a fold's models read: the corpus's utterances and features, the fold's
    split, and the transforms fitted on its training part.

    Attributes:
        utterances: The utterance table (``model_input_table``).
        acoustic_features: ``(N, frames, features)``, read on demand.
        split: ``utterance_id, fold, split`` of the fold.
        feature_scaler: ``mean`` and ``std`` per acoustic feature.
        vocabulary: The fold's vocabulary.
        max_tokens: Token ids per transcript.
        text_features: A frozen text encoder's embeddings, one row per utterance
            (None or empty: token ids).
    """

    utterances: pd.DataFrame
    acoustic_features: np.ndarray
    split: pd.DataFrame
    feature_scaler: dict[str, list[float]]
    vocabulary: list[str]
    max_tokens: int
    text_features: np.ndarray | None = None

    def part(self, role: str) -> Part:
        """Model inputs, labels and row positions of the utterances with ``role``
        (``train``, ``validation`` or ``test``)."""
        rows = rows_of(self.utterances, self.split, role)
        inputs, labels = model_inputs(
            self.utterances,
            self.acoustic_features,
            rows,
            self.feature_scaler,
            self.vocabulary,
            self.max_tokens,
            self.text_features,
        )
        return Part(inputs, labels, rows)
