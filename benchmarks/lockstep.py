"""Would training the loss variants of a fold together ("lockstep") save time?

    python benchmarks/lockstep.py [--utterances 800] [--epochs 10]

Builds the default demo corpus, its features, folds and initial network with
``kedro run --pipelines=preprocessing,fold_generation,model_building`` in a
temporary copy of the project (conf/base defaults), then on fold 0 times, with
the project's own training batches (``fitting._training_data``, batch size and
steps per execution of conf/base) and no early stopping:

* **one network per variant**: each of the default run's seven first-round loss
  variants compiled and fitted alone (``fitting._compiled_copy``), as the
  training pipeline does;
* **lockstep**: one Keras model holding one copy ("tower") of the network per
  variant, all starting from the same initial weights, with one output and one
  loss per tower, fitted once on the same batches (towers share no weights, so
  each follows its own trajectory).

For each it prints the first epoch (tracing included) and the median of the
following epochs, and the time of a training of ``--epochs`` epochs per variant
both ways (their ratio is what lockstep would save). It then puts the training
stage next to its arithmetic limit: the multiply-adds of one epoch (forward and
backward, from the layers' shapes) against the machine's measured matrix
multiplication throughput, for the batch shapes training uses and for a large
square product. Run by hand; not a test.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import tensorflow as tf
import yaml
from _project import ROOT, kedro, make_project
from training import load_folds

from emotion_aware_loss.config import TrainingConfig
from emotion_aware_loss.fitting import _compiled_copy, _training_data, configure_threads
from emotion_aware_loss.losses import make_loss
from emotion_aware_loss.metrics import UnweightedAverageRecall

VARIANTS = [
    ("cross_entropy", {}),
    ("seed_weighted", {}),
    ("emotion_aware", {"alpha": 1.0}),
    ("soft_target", {"beta": 5.0}),
    ("expected_cost", {"lam": 1.0}),
    ("sim_loss", {}),
    ("emotion_aware", {"alpha": 1.0}),  # the valence-arousal variant's loss
]


class EpochTimes(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.ends = [time.perf_counter()]

    def on_epoch_end(self, epoch, logs=None):
        self.ends.append(time.perf_counter())

    def first_and_rest(self) -> tuple[float, float]:
        gaps = np.diff(self.ends)
        return float(gaps[0]), float(statistics.median(gaps[1:]))


def timed_fit(model: keras.Model, data, epochs: int) -> tuple[float, float]:
    clock = EpochTimes()
    model.fit(data, epochs=epochs, callbacks=[clock], verbose=0, shuffle=False)
    return clock.first_and_rest()


def towers(initial: keras.Model, losses: list, config: TrainingConfig) -> keras.Model:
    """One model with a copy of ``initial`` per loss, compiled with one loss each."""
    inputs = [
        keras.Input(shape=t.shape[1:], dtype=t.dtype, name=t.name.split(":")[0])
        for t in initial.inputs
    ]
    outputs, tower_losses, metrics = {}, {}, {}
    for k, loss in enumerate(losses):
        tower = keras.models.clone_model(initial)
        tower.set_weights(initial.get_weights())
        tower.name = f"tower_{k}"
        outputs[tower.name] = tower(inputs if len(inputs) > 1 else inputs[0])
        tower_losses[tower.name] = loss
        metrics[tower.name] = [
            keras.metrics.SparseCategoricalAccuracy(name="accuracy"),
            UnweightedAverageRecall(initial.output_shape[-1]),
        ]
    model = keras.Model(inputs, outputs)
    model.compile(
        optimizer=keras.optimizers.Adam(config.learning_rate),
        loss=tower_losses,
        metrics=metrics,
        steps_per_execution=config.steps_per_execution,
    )
    return model


def multiply_adds(model: keras.Model) -> int:
    """Multiply-adds of one utterance's forward pass through the weighted layers."""
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Dense):
            total += int(np.prod(layer.kernel.shape))
        elif isinstance(layer, keras.layers.Conv1D):
            steps = layer.output.shape[1]
            total += steps * int(np.prod(layer.kernel.shape))
    return total


def matmul_gflops(m: int, k: int, n: int, repeats: int = 200) -> float:
    a = tf.random.normal((m, k))
    b = tf.random.normal((k, n))
    product = tf.function(lambda: tf.matmul(a, b))
    product()
    start = time.perf_counter()
    for _ in range(repeats):
        product()
    return 2 * m * k * n * repeats / (time.perf_counter() - start) / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--utterances", type=int, default=800)
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()
    base = yaml.safe_load((ROOT / "conf/base/parameters_training.yml").read_text())
    config = TrainingConfig(**base["training"])
    configure_threads(config)
    with tempfile.TemporaryDirectory() as folder:
        project = make_project(Path(folder) / "project", args.utterances, {})
        kedro(
            project, "run", "--pipelines=preprocessing,fold_generation,model_building"
        )
        initial, folds = load_folds(project, [0])
        similarity = pd.read_csv(
            project / "data/03_primary/similarity_matrix.csv", index_col=0
        ).to_numpy()
    train = folds[0][0]
    n_train = len(train[1])
    losses = [make_loss(name, similarity, **hyper) for name, hyper in VARIANTS]
    weights = config.class_weights(train[1], list(range(initial.output_shape[-1])))
    print(
        f"{args.utterances} utterances, fold 0: {n_train} training utterances, "
        f"batch {config.batch_size}, {initial.count_params()} parameters, "
        f"{len(VARIANTS)} variants"
    )
    alone = []
    for (name, _), loss in zip(VARIANTS, losses, strict=True):
        model = _compiled_copy(initial, loss, config, 42, None)
        data = _training_data(model, train, config, 42, weights)
        alone.append(timed_fit(model, data, args.epochs))
        first, rest = alone[-1]
        print(f"alone {name}: first epoch {first:.2f} s, then {rest:.3f} s/epoch")
    together = towers(initial, losses, config)
    data = _training_data(initial, train, config, 42, weights).map(
        lambda x, y, w: (
            x,
            {f"tower_{k}": y for k in range(len(losses))},
            {f"tower_{k}": w for k in range(len(losses))},
        )
    )
    first, rest = timed_fit(together, data, args.epochs)
    print(f"lockstep, {len(losses)} towers: first epoch {first:.2f} s, then {rest:.3f}")
    separate = sum(f + (args.epochs - 1) * r for f, r in alone)
    joint = first + (args.epochs - 1) * rest
    print(
        f"{args.epochs} epochs of every variant: one network per variant "
        f"{separate:.1f} s, lockstep {joint:.1f} s; ratio {separate / joint:.2f}x "
        f"(per epoch after the first: {sum(r for _, r in alone) / rest:.2f}x; "
        f"first epoch: {sum(f for f, _ in alone) / first:.2f}x)"
    )
    macs = multiply_adds(initial)
    epoch_flop = 2 * macs * 3 * n_train  # forward + backward (about twice forward)
    width = max(
        int(np.prod(layer.kernel.shape[:-1]))
        for layer in initial.layers
        if isinstance(layer, keras.layers.Dense)
    )
    skinny = matmul_gflops(config.batch_size, width, 64)
    square = matmul_gflops(512, 512, 512, repeats=50)
    mean_rest = statistics.mean(r for _, r in alone)
    print(
        f"arithmetic: {macs / 1e6:.2f} M multiply-adds per utterance forward, "
        f"{epoch_flop / 1e9:.2f} GFLOP per training epoch; matmul throughput "
        f"{skinny:.0f} GFLOPS at ({config.batch_size} x {width}) x ({width} x 64), "
        f"{square:.0f} GFLOPS at 512^3: {epoch_flop / skinny / 1e9 * 1000:.0f} / "
        f"{epoch_flop / square / 1e9 * 1000:.0f} ms per epoch at those rates, "
        f"against {mean_rest * 1000:.0f} ms measured "
        f"({mean_rest / (epoch_flop / skinny / 1e9):.1f}x / "
        f"{mean_rest / (epoch_flop / square / 1e9):.1f}x the limit)"
    )


if __name__ == "__main__":
    main()
