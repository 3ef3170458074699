"""Training throughput of the fusion model: our input pipeline vs the seed's setting.

    python benchmarks/training.py [--utterances 1000] [--folds 0 1 2 3 4]
        [--throughput-epochs 6] [--batch-size N] [--jit-compile {0,1}]

Builds the demo corpus, its features, folds and the untrained fusion network with
``kedro run --pipelines=preprocessing,fold_generation,model_building`` in a
temporary copy of the project (conf/base defaults), then on the same data and model
compares two settings, alternating them fold by fold:

* seed: NumPy arrays into ``model.fit`` with batch size 32 (the seed project's way);
* ours: :func:`emotion_aware_loss.training.fitting.fit` with ``training:`` from conf/base.

Both use Adam (learning rate 0.001), cross-entropy, the same initial weights and
early stopping on validation accuracy restoring the best weights. Printed per
setting: training samples per second over ``--throughput-epochs`` epochs without
early stopping (tracing included), then the test accuracy and UAR of each fold
after training with early stopping, and their means. Run by hand; not a test.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import keras
from _project import ROOT, kedro, make_project
from sklearn.metrics import accuracy_score, balanced_accuracy_score

from emotion_aware_loss.config import TrainingConfig
from emotion_aware_loss.folds.cross_validation import (
    TEST,
    TRAIN,
    VALIDATION,
    FoldInputs,
)
from emotion_aware_loss.losses.family import CrossEntropy
from emotion_aware_loss.losses.metrics import UnweightedAverageRecall
from emotion_aware_loss.training.fitting import fit
from emotion_aware_loss.training.setup import configure_threads

SEED = 42


def load_folds(project: Path, folds: list[int]) -> tuple[keras.Model, list[tuple]]:
    """The initial model and, per fold, (train, validation, test) inputs."""
    from kedro.framework.session import KedroSession  # noqa: PLC0415
    from kedro.framework.startup import bootstrap_project  # noqa: PLC0415

    bootstrap_project(project)
    with KedroSession.create(project_path=project) as session:
        catalog = session.load_context().catalog
        table = catalog.load("model_input_table")
        features = catalog.load("acoustic_features")
        spec = catalog.load("input_spec")
        model = catalog.load("initial_model")
        data = []
        for k in folds:
            fold_inputs = FoldInputs(
                utterances=table,
                acoustic_features=features,
                split=catalog.load(f"fold_{k}.split"),
                feature_scaler=catalog.load(f"fold_{k}.feature_scaler"),
                vocabulary=catalog.load(f"fold_{k}.vocabulary"),
                max_tokens=spec.max_tokens,
            )
            data.append(
                tuple(fold_inputs.part(role)[:2] for role in (TRAIN, VALIDATION, TEST))
            )
    return model, data


def seed_fit(
    initial: keras.Model, train: tuple, validation: tuple, epochs: int, patience: int
) -> keras.Model:
    """The seed's setting: NumPy arrays into ``model.fit``, batch size 32."""
    keras.utils.set_random_seed(SEED)
    model = keras.models.clone_model(initial)
    model.set_weights(initial.get_weights())
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=CrossEntropy(),
        metrics=[
            keras.metrics.SparseCategoricalAccuracy(name="accuracy"),
            UnweightedAverageRecall(model.output_shape[-1]),
        ],
    )
    model.fit(
        *train,
        batch_size=32,
        epochs=epochs,
        validation_data=validation,
        callbacks=[
            keras.callbacks.EarlyStopping(
                monitor="val_accuracy",
                mode="max",
                patience=patience,
                restore_best_weights=True,
            )
        ],
        verbose=0,
    )
    return model


def ours_fit(
    initial: keras.Model, train: tuple, validation: tuple, config: TrainingConfig
) -> keras.Model:
    model, _ = fit(initial, CrossEntropy(), train, validation, config, SEED)
    return model


def scores(model: keras.Model, test: tuple) -> tuple[float, float]:
    inputs, labels = test
    predicted = model.predict(inputs, verbose=0, batch_size=256).argmax(axis=1)
    return accuracy_score(labels, predicted), balanced_accuracy_score(labels, predicted)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--utterances", type=int, default=1000)
    parser.add_argument("--folds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--throughput-epochs", type=int, default=6)
    parser.add_argument("--batch-size", type=int, help="override ours' batch size")
    parser.add_argument("--jit-compile", type=int, choices=[0, 1])
    args = parser.parse_args()
    import yaml  # noqa: PLC0415

    base = yaml.safe_load((ROOT / "conf/base/parameters_training.yml").read_text())
    overrides = {
        key: value
        for key, value in (
            ("batch_size", args.batch_size),
            (
                "jit_compile",
                None if args.jit_compile is None else bool(args.jit_compile),
            ),
        )
        if value is not None
    }
    config = TrainingConfig(**(base["training"] | overrides))
    configure_threads(config)
    with tempfile.TemporaryDirectory() as folder:
        project = make_project(Path(folder) / "project", args.utterances, {})
        kedro(
            project, "run", "--pipelines=preprocessing,fold_generation,model_building"
        )
        initial, folds = load_folds(project, args.folds)
    n_train = len(folds[0][0][1])
    print(
        f"{args.utterances} utterances, folds {args.folds}, {n_train} training "
        f"utterances in fold {args.folds[0]}; ours: {config!r}"
    )
    fixed = config.model_copy(
        update={"epochs": args.throughput_epochs, "patience": args.throughput_epochs}
    )
    rates: dict[str, list[float]] = {"seed": [], "ours": []}
    results: dict[str, list[tuple[float, float]]] = {"seed": [], "ours": []}
    for k, (train, validation, test) in zip(args.folds, folds):
        samples = len(train[1]) * args.throughput_epochs
        # Alternate which setting goes first, so other load on the machine hits both.
        for name in ("seed", "ours") if k % 2 == 0 else ("ours", "seed"):
            start = time.perf_counter()
            if name == "seed":
                seed_fit(initial, train, validation, fixed.epochs, fixed.patience)
            else:
                ours_fit(initial, train, validation, fixed)
            rates[name].append(samples / (time.perf_counter() - start))
            if name == "seed":
                model = seed_fit(
                    initial, train, validation, config.epochs, config.patience
                )
            else:
                model = ours_fit(initial, train, validation, config)
            results[name].append(scores(model, test))
            accuracy, uar = results[name][-1]
            print(
                f"fold {k} {name}: {rates[name][-1]:.0f} samples/s, "
                f"test accuracy {accuracy:.4f}, UAR {uar:.4f}",
                flush=True,
            )
    for name in ("seed", "ours"):
        accuracy = statistics.mean(a for a, _ in results[name])
        uar = statistics.mean(u for _, u in results[name])
        print(
            f"{name}: median {statistics.median(rates[name]):.0f} samples/s, "
            f"mean test accuracy {accuracy:.4f}, UAR {uar:.4f}"
        )
    ratio = statistics.median(rates["ours"]) / statistics.median(rates["seed"])
    gaps = [
        100
        * (
            statistics.mean(r[i] for r in results["ours"])
            - statistics.mean(r[i] for r in results["seed"])
        )
        for i in (0, 1)
    ]
    print(
        f"throughput ratio ours/seed {ratio:.2f}x; accuracy {gaps[0]:+.1f} points, "
        f"UAR {gaps[1]:+.1f} points"
    )


if __name__ == "__main__":
    main()
