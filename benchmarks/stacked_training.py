"""Stacked training against one network per node, and against the machine's limits.

    python benchmarks/stacked_training.py [--utterances 800] [--per-model 35]
        [--variants cross_entropy seed_weighted ...]

Builds the demo corpus, its features, folds, initial network and valence-arousal
similarity with ``kedro run --pipelines=preprocessing,fold_generation,model_building``
(and the ``similarity_from_valence_arousal_node``) in a
temporary copy of the project (conf/base defaults), then trains the first round of
the default run (every loss variant of conf/base whose similarity is not derived
from models, on every fold, with refit) two ways in one process:

* **stacked**: all of them as one stack (``training.stacked: true``, one node);
* **per model**: each (variant, fold) as a stack of one, as each node of
  ``training.stacked: false`` trains it (``--per-model N`` times only the first N
  and scales the sum to all of them; the ratio says so).

It prints both times, their ratio, and where the stack stands against this
machine's limits: the arithmetic of its model-epochs (the network's multiply-adds,
forward and backward, from its layer shapes) at the rate ``tf.matmul`` reaches on
2048 x 2048 x 2048, and the memory traffic every step must make at the bandwidth
of a large copy into memory already touched: the forward pass reads each weight,
the backward pass writes its gradient, and Adam reads the weight, its gradient and
both moments and writes three of them (36 bytes per weight and model-step; Adam
alone, 28). A stack of networks of a few hundred thousand weights each is far
larger than the caches, so every step streams all of it from memory: the memory
limit, not the arithmetic one, is the one that binds. Run by hand; not a test.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from _project import kedro, make_project

from emotion_aware_loss.config import LossConfig
from emotion_aware_loss.config.layout import DERIVED_FROM_MODELS
from emotion_aware_loss.training.plan import Fold, Run, Variant, train_runs

# Bytes each weight of each model moves per training step: Adam reading the weight,
# its gradient and both moments (16) and writing the weight and both moments (12);
# with the forward pass reading the weight (4) and the backward pass writing its
# gradient (4).
ADAM_BYTES = 28
STEP_BYTES = ADAM_BYTES + 8


def sgemm_rate() -> float:
    """GFLOP/s of ``tf.matmul`` on 2048 x 2048 x 2048 (the arithmetic limit)."""
    a = tf.random.normal((2048, 2048))
    product = tf.function(lambda x: tf.matmul(x, x))
    product(a).numpy()
    best = 0.0
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(10):
            out = product(a)
        out.numpy()
        best = max(best, 2 * 2048**3 * 10 / (time.perf_counter() - start) / 1e9)
    return best


def copy_bandwidth() -> float:
    """GB/s (read + write) of copying a 256 MB array into memory already touched
    (the memory limit; ``np.copy`` into new memory measures page faults too)."""
    x = np.random.default_rng(0).random(64 << 20, dtype=np.float32)
    y = np.ones_like(x)
    best = 0.0
    for _ in range(5):
        start = time.perf_counter()
        np.copyto(y, x)
        best = max(best, 2 * x.nbytes / (time.perf_counter() - start) / 1e9)
    return best


def flops_per_utterance(model: keras.Model) -> float:
    """Multiply-adds x 2 of one forward pass, from the layers' shapes."""
    total = 0.0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Dense):
            positions = int(np.prod(layer.input.shape[1:-1] or [1]))
            total += 2 * positions * layer.kernel.shape[0] * layer.kernel.shape[1]
        elif isinstance(layer, keras.layers.Conv1D):
            steps = int(layer.output.shape[1])
            total += 2 * steps * int(np.prod(layer.kernel.shape))
    return total


def load_run(project: Path, variants: list[str] | None) -> Run:
    from kedro.framework.session import KedroSession  # noqa: PLC0415
    from kedro.framework.startup import bootstrap_project  # noqa: PLC0415

    bootstrap_project(project)
    with KedroSession.create(project_path=project) as session:
        context = session.load_context()
        catalog, params = context.catalog, context.params
        spec = catalog.load("input_spec")
        folds = [
            Fold(
                f"fold_{k}",
                catalog.load(f"fold_{k}.split"),
                catalog.load(f"fold_{k}.feature_scaler"),
                catalog.load(f"fold_{k}.vocabulary"),
                catalog.load(f"fold_{k}.embedding_matrix"),
            )
            for k in range(params["cross_validation"].n_folds)
        ]
        matrices = {
            "hand_set": catalog.load("similarity_matrix"),
            "valence_arousal": catalog.load("similarity_valence_arousal"),
        }
        chosen = []
        for name, raw in params["loss_variants"].items():
            loss = LossConfig.model_validate(raw)
            if loss.similarity in DERIVED_FROM_MODELS:
                continue
            if variants and name not in variants:
                continue
            matrix = matrices[loss.similarity]
            chosen.append(Variant(name, loss, {f.name: matrix for f in folds}))
        return Run(
            "",
            catalog.load("initial_model"),
            catalog.load("model_input_table"),
            catalog.load("acoustic_features"),
            spec,
            params["training"],
            int(params["seed"]),
            folds,
            chosen,
            catalog.load("text_features"),
        )


def model_epochs(trained: dict) -> int:
    return sum(
        len(h.get("loss", [])) + len(h.get("refit_loss", []))
        for _, h in trained.values()
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--utterances", type=int, default=800)
    parser.add_argument("--per-model", type=int, default=None)
    parser.add_argument("--variants", nargs="*", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        project = make_project(Path(tmp) / "project", args.utterances, {})
        prepared = kedro(
            project, "run", "--pipelines=preprocessing,fold_generation,model_building"
        )
        prepared.seconds += kedro(
            project, "run", "--nodes=similarity_from_valence_arousal_node"
        ).seconds
        print(f"preprocessing, folds, initial network: {prepared.seconds:.1f} s")
        run = load_run(project, args.variants)
    pairs = [(v, f) for v in run.variants for f in run.folds]
    print(
        f"{len(run.variants)} variants x {len(run.folds)} folds = {len(pairs)} models"
    )

    start = time.perf_counter()
    stacked = train_runs([run])
    stacked_seconds = time.perf_counter() - start
    epochs = model_epochs(stacked)
    print(
        f"stacked: {stacked_seconds:.1f} s, {epochs} model-epochs, "
        f"{1000 * stacked_seconds / epochs:.1f} ms per model-epoch"
    )

    timed = pairs[: args.per_model] if args.per_model else pairs
    start = time.perf_counter()
    alone_epochs = 0
    for variant, fold in timed:
        one = Run(**{**run.__dict__, "folds": [fold], "variants": [variant]})
        alone_epochs += model_epochs(train_runs([one]))
    alone_seconds = (time.perf_counter() - start) * len(pairs) / len(timed)
    scaled = (
        f" (the first {len(timed)}, scaled to {len(pairs)})" if timed != pairs else ""
    )
    print(f"per model: {alone_seconds:.1f} s{scaled}")
    print(f"stacked is {alone_seconds / stacked_seconds:.2f}x faster than per model")

    network = run.initial_model
    weights = network.count_params()
    examples = sum(
        len(h.get("loss", [])) * len(f.split.query("split == 'train'"))
        + len(h.get("refit_loss", [])) * len(f.split.query("split != 'test'"))
        for (_, _, name), (_, h) in stacked.items()
        for f in run.folds
        if f.name == name
    )
    batch = run.training.batch_size
    steps = examples / batch
    flops = 3 * flops_per_utterance(network) * examples  # forward + backward
    rate, bandwidth = sgemm_rate(), copy_bandwidth()
    arithmetic = flops / (rate * 1e9)
    memory = STEP_BYTES * weights * steps / (bandwidth * 1e9)
    adam = ADAM_BYTES * weights * steps / (bandwidth * 1e9)
    print(
        f"machine: tf.matmul 2048^3 {rate:.0f} GFLOP/s, copy {bandwidth:.1f} GB/s; "
        f"network: {weights} weights, {flops_per_utterance(network) / 1e6:.2f} MFLOP "
        "per utterance forward"
    )
    print(
        f"limits for these {epochs} model-epochs ({steps:.0f} model-steps of "
        f"{batch}): arithmetic {arithmetic:.1f} s "
        f"({1000 * arithmetic / epochs:.1f} ms per model-epoch), memory traffic "
        f"{memory:.1f} s ({1000 * memory / epochs:.1f} ms per model-epoch; Adam's "
        f"share {adam:.1f} s)"
    )
    print(
        f"stacked reaches {arithmetic / stacked_seconds:.0%} of the arithmetic "
        f"limit and {memory / stacked_seconds:.0%} of the memory limit"
    )


if __name__ == "__main__":
    main()
