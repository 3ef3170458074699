"""Cost of the loss family's convex fit (``baselines.losses``) per variant and fold.

    python benchmarks/convex_fit.py [--utterances 800] [--folds 0 1 2 3 4]
        [--losses soft_target expected_cost emotion_aware]

Builds the demo corpus (conf/base defaults: speech and text), its features and
folds with ``kedro run --pipelines=preprocessing,fold_generation`` in a temporary
copy of the project, then for each fold transforms the inputs once
(:func:`emotion_aware_loss.evaluation.baselines.design`: scaler and row space, TF-IDF, for the
three inner folds and the final fit; shared by every linear model of the fold) and
fits the reference baseline's :class:`SoftmaxRegression` with each loss (C chosen
from the grid by the inner folds, then refitted: 28 fits per modality), with and
without preconditioning, alternating the two fold by fold. scikit-learn's
``LogisticRegression`` on the same designs is the reference.

Printed: the designs' time per fold; per loss and setting, the median seconds
per variant and fold, L-BFGS iterations (objective calls) per fold, and two
limits for the same calls: their arithmetic (the forward product and the
gradient's, ``4 n d K`` flops a call) at the rate ``tf.matmul`` reaches on a
2048³ product on this machine, and the measured time of the two products alone
on each input (skinny products, ``K`` = 5 columns, are paced by reading the
input, not by arithmetic). Run by hand; not a test.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import tensorflow as tf
from _project import kedro, make_project

from emotion_aware_loss.config import BaselinesConfig
from emotion_aware_loss.config.layout import (
    SPEECH,
    TEXT,
)
from emotion_aware_loss.evaluation.baselines import (
    design,
    fit_best,
    speech_features,
    tfidf_features,
)
from emotion_aware_loss.losses.family import own_hyper_parameters
from emotion_aware_loss.models import softmax_regression
from emotion_aware_loss.models.softmax_regression import SoftmaxRegression
from emotion_aware_loss.pipelines.baselines.nodes import _fold, _modality_inputs

SEED = 42
HYPER = {  # conf/base/parameters_training.yml
    "soft_target": {"beta": 5.0},
    "emotion_aware": {"alpha": 1.0},
    "expected_cost": {"lam": 1.0},
}


def matmul_rate() -> float:
    """FLOP/s of ``tf.matmul`` on a 2048³ float64 product (the fits' precision)."""
    a = tf.random.normal((2048, 2048), dtype=tf.float64)
    tf.matmul(a, a).numpy()
    start = time.perf_counter()
    for _ in range(3):
        tf.matmul(a, a).numpy()
    return 3 * 2 * 2048**3 / (time.perf_counter() - start)


def product_seconds(
    x: tf.Tensor | tf.SparseTensor, k: int, repeats: int = 200
) -> float:
    """Seconds of one ``x @ W`` (``W``: ``d × k``), the objective's forward product
    (its gradient's, ``xᵀ G``, reads ``x`` once more): on these skinny shapes the
    time to read ``x``, not arithmetic, sets the pace."""
    w = tf.zeros((x.shape[1], k), tf.float64)
    product = tf.function(softmax_regression._times).get_concrete_function(x, w)
    product(x, w)
    start = time.perf_counter()
    for _ in range(repeats):
        product(x, w).numpy()
    return (time.perf_counter() - start) / repeats


class Counting:
    """Counts the objective's calls, their arithmetic (``4 n d K`` each) and,
    per input, the calls made on it (for the product floor)."""

    def __init__(self) -> None:
        self.calls = 0
        self.flops = 0.0
        self.inputs: dict[int, list] = {}
        self.original = softmax_regression._objective

    def __enter__(self) -> Counting:
        def counted(function, names, sparse):
            compute = self.original(function, names, sparse)

            def call(flat, x, labels, *rest):
                self.calls += 1
                n, d = x.shape
                k = flat.shape[0] // (d + 1)
                self.flops += 4.0 * int(n) * int(d) * k
                self.inputs.setdefault(id(x), [x, k, 0])[2] += 1
                return compute(flat, x, labels, *rest)

            return call

        softmax_regression._objective = counted
        return self

    def __exit__(self, *exc: object) -> None:
        softmax_regression._objective = self.original


class _NotGrouped:
    speaker_independent = False


def load(project: Path, folds: list[int]) -> tuple:
    """The demo run's table, features, similarity, the folds' splits and the
    baselines' parameters."""
    from kedro.framework.session import KedroSession  # noqa: PLC0415
    from kedro.framework.startup import bootstrap_project  # noqa: PLC0415

    bootstrap_project(project)
    with KedroSession.create(project_path=project) as session:
        context = session.load_context()
        catalog = context.catalog
        return (
            catalog.load("model_input_table"),
            catalog.load("acoustic_features"),
            catalog.load("similarity_matrix").to_numpy(np.float64),
            {k: catalog.load(f"fold_{k}.split") for k in folds},
            context.params["baselines"],
        )


def designs_of(table, features, split, config: BaselinesConfig) -> dict:
    """Both modalities' designs of one fold (what every linear model shares)."""
    fold = _fold(table, split, _NotGrouped)
    inputs = _modality_inputs(fold, table, features, ["speech", "text"])
    return {
        SPEECH: design(
            speech_features(), inputs[SPEECH], fold.labels, config, SEED, SPEECH
        ),
        TEXT: design(
            tfidf_features(config.text), inputs[TEXT], fold.labels, config, SEED, TEXT
        ),
    }


def time_fits(designs: dict, config, similarity, runs: list) -> dict:
    """``(loss, setting) -> (seconds, calls, flops, floor)`` of fitting each run's
    model (None: scikit-learn's) on both designs; ``floor``: the seconds of the
    calls' two products over the inputs alone."""
    out = {}
    for setting, loss, precondition in runs:
        model = (
            None
            if precondition is None
            else SoftmaxRegression(
                loss,
                similarity,
                own_hyper_parameters(loss, HYPER.get(loss, {})),
                max_iter=config.max_iter,
                warm_start=True,
                precondition=precondition,
            )
        )
        with Counting() as counting:
            start = time.perf_counter()
            for modality, inputs in designs.items():
                fit_best(inputs, config, 5, SEED, modality, model)
            seconds = time.perf_counter() - start
        floor = sum(
            2 * calls * product_seconds(x, k)
            for x, k, calls in counting.inputs.values()
        )
        out[(loss, setting)] = (seconds, counting.calls, counting.flops, floor)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--utterances", type=int, default=800)
    parser.add_argument("--folds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument(
        "--losses", nargs="+", default=["soft_target", "expected_cost", "emotion_aware"]
    )
    args = parser.parse_args()
    rate = matmul_rate()
    print(f"tf.matmul 2048^3 float64: {rate / 1e9:.1f} GFLOP/s")
    results: dict[tuple[str, str], list[tuple[float, int, float]]] = {}
    design_seconds = []
    with tempfile.TemporaryDirectory() as tmp:
        project = make_project(Path(tmp) / "project", args.utterances, {})
        kedro(project, "run", "--pipelines=preprocessing,fold_generation")
        table, features, similarity, splits, config = load(project, args.folds)
        for k in args.folds:
            start = time.perf_counter()
            designs = designs_of(table, features, splits[k], config)
            design_seconds.append(time.perf_counter() - start)
            if k == args.folds[0]:
                shapes = {m: d.x_pool.shape for m, d in designs.items()}
                print(f"fold {k} pool inputs: {shapes}")
            settings = ["preconditioned", "plain"][:: -1 if k % 2 else 1]
            runs = [("scikit-learn", "cross_entropy", None)] + [
                (setting, loss, setting == "preconditioned")
                for setting in settings
                for loss in args.losses
            ]
            for key, value in time_fits(designs, config, similarity, runs).items():
                results.setdefault(key, []).append(value)
    print(
        "designs (both modalities, 3 inner folds + final fit): median "
        f"{statistics.median(design_seconds):.2f} s per fold"
    )
    print(
        "| loss | setting | s per fold (median) | objective calls per fold | "
        "arithmetic at the 2048³ rate | the calls' products alone | ratio to those |"
    )
    print("|---|---|---|---|---|---|---|")
    for (loss, setting), values in results.items():
        median = statistics.median(v[0] for v in values)
        calls = statistics.median(v[1] for v in values)
        limit = statistics.median(v[2] for v in values) / rate
        floor = statistics.median(v[3] for v in values)
        ratio = f"{median / floor:.1f}x" if floor else "-"
        print(
            f"| {loss} | {setting} | {median:.2f} | {calls:.0f} | "
            f"{limit * 1e3:.0f} ms | {floor:.2f} s | {ratio} |"
        )


if __name__ == "__main__":
    main()
