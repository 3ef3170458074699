"""Cost of the loss family's convex fit (``baselines.losses``) per variant and fold.

    python benchmarks/convex_fit.py [--utterances 800] [--folds 0 1 2 3 4]
        [--losses soft_target expected_cost emotion_aware]

Builds the demo corpus (conf/base defaults: speech and text), its features and
folds with ``kedro run --pipelines=preprocessing,fold_generation`` in a temporary
copy of the project, then for each fold transforms the inputs once per kind
(:func:`emotion_aware_loss.evaluation.baselines.design`: scaler and row space,
TF-IDF, for the three inner folds and the final fit): the family's (TF-IDF in
row-space coordinates, what ``fit_linear_family`` fits) and the baselines' (TF-IDF
sparse). It fits the reference baseline's :class:`SoftmaxRegression` with each
loss on both (C chosen from the grid by the inner folds, then refitted: 28 fits
per modality), alternating the two fold by fold; scikit-learn's
``LogisticRegression`` on the baselines' designs is the reference.

Printed: each design's time per fold; per loss and design, the median seconds per
variant and fold, objective calls per fold, and two limits for the same calls:
their arithmetic (the forward product and the gradient's, ``4 n d K`` flops a
call) at the rate ``tf.matmul`` reaches on a 2048³ product on this machine, and
the measured time of the two products alone on each input (NumPy or SciPy, one
thread, as the fit computes them: skinny products, ``K`` = 5 columns, are paced
by reading the input, not by arithmetic). Run by hand; not a test.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.sparse
import tensorflow as tf
from _project import kedro, make_project
from threadpoolctl import threadpool_limits

from emotion_aware_loss.config import BaselinesConfig
from emotion_aware_loss.config.layout import (
    SPEECH,
    TEXT,
)
from emotion_aware_loss.evaluation.baselines import (
    SPARSE_ROW_SPACE,
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


def product_seconds(x: object, k: int, repeats: int = 200) -> float:
    """Seconds of one call's two products, ``x @ Wᵀ`` and ``xᵀ @ G`` (``K`` = ``k``
    columns), as the objective computes them (``Wᵀ`` a C-ordered ``d × K`` block),
    on one thread."""
    w_t = np.zeros((x.shape[1], k))
    g = np.zeros((x.shape[0], k))
    x_t = x.T.tocsr() if scipy.sparse.issparse(x) else x.T
    with threadpool_limits(1):
        start = time.perf_counter()
        for _ in range(repeats):
            np.asarray(x @ w_t)
            np.asarray(x_t @ g)
        return (time.perf_counter() - start) / repeats


class Counting:
    """Counts the objective's calls, their arithmetic (``4 n d K`` each) and,
    per input, the calls made on it (for the product floor)."""

    def __init__(self) -> None:
        self.calls = 0
        self.flops = 0.0
        self.inputs: dict[int, list] = {}
        self.original = softmax_regression._Objective.__call__

    def __enter__(self) -> Counting:
        original = self.original

        def counted(problem, flat):
            self.calls += 1
            n, d = problem.x.shape
            k = problem.shape[0]
            self.flops += 4.0 * int(n) * int(d) * k
            self.inputs.setdefault(id(problem.x), [problem.x, k, 0])[2] += 1
            return original(problem, flat)

        softmax_regression._Objective.__call__ = counted
        return self

    def __exit__(self, *exc: object) -> None:
        softmax_regression._Objective.__call__ = self.original


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


def designs_of(
    table, features, split, config: BaselinesConfig, text_density: float
) -> dict:
    """Both modalities' designs of one fold (what every linear model of the node
    shares; ``text_density``: TF-IDF in row-space coordinates, as the family's)."""
    fold = _fold(table, split, _NotGrouped)
    inputs = _modality_inputs(fold, table, features, ["speech", "text"])
    return {
        SPEECH: design(
            speech_features(), inputs[SPEECH], fold.labels, config, SEED, SPEECH
        ),
        TEXT: design(
            tfidf_features(config.text, text_density),
            inputs[TEXT],
            fold.labels,
            config,
            SEED,
            TEXT,
        ),
    }


def time_fits(designs: dict, config, similarity, runs: list) -> dict:
    """``(loss, setting) -> (seconds, calls, flops, floor)`` of fitting each run's
    model (None: scikit-learn's) on both designs of its kind; ``floor``: the
    seconds of the calls' two products over the inputs alone."""
    out = {}
    for setting, loss in runs:
        model = (
            None
            if setting == "scikit-learn"
            else SoftmaxRegression(
                loss,
                similarity,
                own_hyper_parameters(loss, HYPER.get(loss, {})),
                max_iter=config.max_iter,
                warm_start=True,
            )
        )
        kind = "row space" if setting == "family" else "sparse"
        with Counting() as counting:
            start = time.perf_counter()
            for modality, inputs in designs[kind].items():
                fit_best(inputs, config, 5, SEED, modality, model)
            seconds = time.perf_counter() - start
        floor = sum(
            calls * product_seconds(x, k) for x, k, calls in counting.inputs.values()
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
    design_seconds: dict[str, list[float]] = {"row space": [], "sparse": []}
    with tempfile.TemporaryDirectory() as tmp:
        project = make_project(Path(tmp) / "project", args.utterances, {})
        kedro(project, "run", "--pipelines=preprocessing,fold_generation")
        table, features, similarity, splits, config = load(project, args.folds)
        for k in args.folds:
            designs = {}
            for kind, density in (("row space", SPARSE_ROW_SPACE), ("sparse", 0.0)):
                start = time.perf_counter()
                designs[kind] = designs_of(table, features, splits[k], config, density)
                design_seconds[kind].append(time.perf_counter() - start)
            if k == args.folds[0]:
                shapes = {
                    f"{m} ({kind})": d.x_pool.shape
                    for kind, kinds in designs.items()
                    for m, d in kinds.items()
                }
                print(f"fold {k} pool inputs: {shapes}")
            settings = ["family", "sparse text"][:: -1 if k % 2 else 1]
            runs = [("scikit-learn", "cross_entropy")] + [
                (setting, loss) for setting in settings for loss in args.losses
            ]
            for key, value in time_fits(designs, config, similarity, runs).items():
                results.setdefault(key, []).append(value)
    for kind, seconds in design_seconds.items():
        print(
            f"designs, TF-IDF {kind} (both modalities, 3 inner folds + final fit): "
            f"median {statistics.median(seconds):.2f} s per fold"
        )
    print(
        "| loss | inputs | s per fold (median) | objective calls per fold | "
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
