"""Cost of the loss family's convex fit (``baselines.losses``) per variant and fold.

    python benchmarks/convex_fit.py [--utterances 800] [--folds 0 1 2 3 4]
        [--losses soft_target expected_cost emotion_aware]
        [--corpus demo | emodb | ravdess | nemo | meld]

Builds the demo corpus (conf/base defaults: speech and text), or one of the real
development corpora as ``real_corpora.py`` sets it up (``--corpus``; MELD's
TF-IDF stays sparse in the family's designs), its features and
folds with ``kedro run --pipelines=preprocessing,fold_generation`` in a temporary
copy of the project, then for each fold transforms the inputs once
(:func:`emotion_aware_loss.evaluation.baselines.design`: scaler and row space,
TF-IDF in row-space coordinates, for the three inner folds and the final fit:
what ``fit_linear_family`` fits) and fits the reference baseline's
:class:`SoftmaxRegression` with each loss on them as the node does
(:func:`~emotion_aware_loss.evaluation.selection.fit_each`: C chosen from the grid
by the inner folds, then refitted: 28 fits per modality), with each of
:data:`SETTINGS` (SciPy's L-BFGS-B on one thread, the compiled solver on one and
on two threads), the settings' order alternating fold by fold; scikit-learn's
``LogisticRegression`` on the same inputs is the reference.

Printed: the designs' time per fold; per loss and setting, the median seconds per
variant and fold, objective calls per fold, and two limits for the same calls:
their arithmetic (the forward product and the gradient's, ``4 n d K`` flops a
call, ``4 nnz K`` on a sparse matrix) at the rate ``tf.matmul`` reaches on a 2048³
product on this machine, and the measured time of the two products alone on each
input (NumPy's or SciPy's, one thread:
skinny products, ``K`` = 5 columns, are paced by reading the input, not by
arithmetic), halved for two cores; the ratio is to the limit on as many cores as
the setting uses. Run by hand; not a test.
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
from real_corpora import CORPORA, SETUPS, corpus_project
from threadpoolctl import threadpool_limits

from emotion_aware_loss.config import BaselinesConfig
from emotion_aware_loss.config.layout import (
    SPEECH,
    TEXT,
)
from emotion_aware_loss.evaluation.baselines import (
    SPARSE_ROW_SPACE,
    design,
    speech_features,
    tfidf_features,
)
from emotion_aware_loss.evaluation.selection import fit_each
from emotion_aware_loss.losses.family import own_hyper_parameters
from emotion_aware_loss.models.softmax_regression import SoftmaxRegression
from emotion_aware_loss.pipelines.baselines.nodes import _fold, _modality_inputs

SEED = 42
SETTINGS = ["scipy, 1 thread", "compiled, 1 thread", "compiled, 2 threads"]
"""The solvers and threads each loss is timed with."""
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
    """Counts the softmax regressions' objective calls (their ``n_calls_``), their
    arithmetic (``4 n d K`` each; ``4 nnz K`` on a sparse matrix) and, per input,
    the calls made on it (for the product floor)."""

    def __init__(self) -> None:
        self.calls = 0
        self.flops = 0.0
        self.inputs: dict[int, list] = {}
        self.original = SoftmaxRegression.fit

    def __enter__(self) -> Counting:
        original = self.original

        def counted(model, x, y, sample_weight=None):
            fitted = original(model, x, y, sample_weight)
            n, d = x.shape
            k = len(fitted.classes_)
            # a sparse matrix's products touch its stored values only
            stored = x.nnz if scipy.sparse.issparse(x) else int(n) * int(d)
            self.calls += fitted.n_calls_
            self.flops += 4.0 * stored * k * fitted.n_calls_
            self.inputs.setdefault(id(x), [x, k, 0])[2] += fitted.n_calls_
            return fitted

        SoftmaxRegression.fit = counted
        return self

    def __exit__(self, *exc: object) -> None:
        SoftmaxRegression.fit = self.original


def load(project: Path, folds: list[int]) -> tuple:
    """The run's table, features, similarity, the folds' splits, the baselines'
    parameters, the modalities and the cross-validation's."""
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
            context.params["model"].modalities,
            context.params["cross_validation"],
        )


def designs_of(
    table,
    features,
    split,
    config: BaselinesConfig,
    text_density: float,
    modalities: list[str],
    cross_validation,
) -> dict:
    """The modalities' designs of one fold (what every linear model of the node
    shares; ``text_density``: TF-IDF in row-space coordinates, as the family's)."""
    fold = _fold(table, split, cross_validation)
    inputs = _modality_inputs(fold, table, features, modalities)
    transforms = {
        SPEECH: speech_features(),
        TEXT: tfidf_features(config.text, text_density),
    }
    return {
        name: design(transforms[name], data, fold.labels, config, SEED, name)
        for name, data in inputs.items()
    }


def time_fits(designs: dict, config, similarity, runs: list) -> dict:
    """``(loss, setting) -> (seconds, calls, flops, floor)`` of fitting each run's
    model (``setting``: ``scikit-learn`` for its logistic regression, else
    ``<solver>, <threads> thread(s)``) on both designs, as ``fit_linear_family``
    fits them (grids of the inner folds and the modalities side by side on the
    threads); ``floor``: the seconds of the calls' two products over the inputs
    alone, on one thread."""
    out = {}
    for setting, loss in runs:
        if setting == "scikit-learn":
            model, threads = None, 1
        else:
            solver, threads = setting.split(", ")
            threads = int(threads.split()[0])
            model = SoftmaxRegression(
                loss,
                similarity,
                own_hyper_parameters(loss, HYPER.get(loss, {})),
                max_iter=config.max_iter,
                warm_start=True,
                solver=solver,
            )
        with Counting() as counting:
            start = time.perf_counter()
            fit_each(designs, config, len(similarity), SEED, model, threads)
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
    parser.add_argument("--corpus", default="demo", choices=["demo", *SETUPS])
    args = parser.parse_args()
    if args.corpus != "demo" and not CORPORA.is_dir():
        print(f"skipped: {CORPORA} is not here (see its README)")
        return
    rate = matmul_rate()
    print(f"tf.matmul 2048^3 float64: {rate / 1e9:.1f} GFLOP/s")
    results: dict[tuple[str, str], list[tuple[float, int, float]]] = {}
    design_seconds: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        if args.corpus == "demo":
            project = make_project(Path(tmp) / "project", args.utterances, {})
        else:
            project = corpus_project(args.corpus, {}, None, Path(tmp))
        kedro(project, "run", "--pipelines=preprocessing,fold_generation")
        loaded = load(project, args.folds)
        table, features, similarity, splits, config, modalities, folds = loaded
        for k in args.folds:
            start = time.perf_counter()
            designs = designs_of(
                table,
                features,
                splits[k],
                config,
                SPARSE_ROW_SPACE,
                modalities,
                folds,
            )
            design_seconds.append(time.perf_counter() - start)
            if k == args.folds[0]:
                shapes = {m: d.x_pool.shape for m, d in designs.items()}
                print(f"fold {k} pool inputs: {shapes}")
            # the settings' order alternates fold by fold (drift hits each alike)
            settings = SETTINGS[:: -1 if k % 2 else 1]
            runs = [("scikit-learn", "cross_entropy")] + [
                (setting, loss) for loss in args.losses for setting in settings
            ]
            for key, value in time_fits(designs, config, similarity, runs).items():
                results.setdefault(key, []).append(value)
    print(
        f"designs ({', '.join(modalities)}; 3 inner folds + final fit): "
        f"median {statistics.median(design_seconds):.2f} s per fold"
    )
    print(
        "| loss | solver, threads | s per fold (median) | objective calls per fold | "
        "arithmetic at the 2048³ rate | the calls' products alone, one core / two "
        "| ratio to those on as many cores |"
    )
    print("|---|---|---|---|---|---|---|")
    for (loss, setting), values in results.items():
        median = statistics.median(v[0] for v in values)
        calls = statistics.median(v[1] for v in values)
        limit = statistics.median(v[2] for v in values) / rate
        floor = statistics.median(v[3] for v in values)
        cores = 2 if setting.endswith("2 threads") else 1
        ratio = f"{median * cores / floor:.1f}x" if floor else "-"
        floors = f"{floor:.2f} / {floor / 2:.2f} s" if floor else "-"
        print(
            f"| {loss} | {setting} | {median:.2f} | {calls:.0f} | "
            f"{limit * 1e3:.0f} ms | {floors} | {ratio} |"
        )


if __name__ == "__main__":
    main()
