"""Whole cross-validation wall time: SequentialRunner vs ParallelRunner (prints figures).

    python benchmarks/runners.py [--utterances 500] [--epochs 15] [--repeats 2]

Each repetition runs the default pipeline (corpus generation included) in fresh
temporary copies of the project, one per setting, in the order sequential,
parallel, parallel with one TensorFlow thread per process, so that load from
other processes hits every setting alike. The run uses conf/base except: a demo
corpus of ``--utterances``, the loss variants ``cross_entropy`` and
``emotion_aware`` and at most ``--epochs`` epochs (5 folds, so 10 trainings).
Prints wall time and peak resident memory of each run, median times, the ratio
sequential / parallel, and whether every run's ``cv_summary.json`` is identical.
Run by hand; not a test.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from pathlib import Path

from _project import SMALL_RUN, kedro, make_project, summary

SETTINGS = {
    "sequential": ((), {}),
    "parallel": (("--runner=ParallelRunner",), {}),
    # Two processes on two cores: one thread each instead of TensorFlow's default.
    "parallel_1thread": (
        ("--runner=ParallelRunner",),
        {"TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1"},
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--utterances", type=int, default=500)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    parameters = SMALL_RUN | {"training": {"epochs": args.epochs, "patience": 8}}
    print(
        f"demo corpus of {args.utterances} utterances, 5 folds, variants "
        f"{list(SMALL_RUN['loss_variants'])}, epochs <= {args.epochs}, "
        f"{os.cpu_count()} CPU cores"
    )
    times: dict[str, list[float]] = {name: [] for name in SETTINGS}
    summaries: dict[str, list[dict]] = {name: [] for name in SETTINGS}
    for repeat in range(args.repeats):
        for name, (flags, env) in SETTINGS.items():
            with tempfile.TemporaryDirectory() as folder:
                project = make_project(Path(folder) / name, args.utterances, parameters)
                saved = {key: os.environ.get(key) for key in env}
                os.environ.update(env)
                try:
                    run = kedro(project, "run", *flags)
                finally:
                    for key, value in saved.items():
                        if value is None:
                            os.environ.pop(key, None)
                        else:
                            os.environ[key] = value
                result = summary(project)
            summaries[name].append(result["variants"])
            times[name].append(run.seconds)
            print(
                f"repeat {repeat} {name}: {run.seconds:.1f} s, "
                f"peak memory {run.peak_mib:.0f} MiB",
                flush=True,
            )
    for name, values in times.items():
        print(f"{name}: median {statistics.median(values):.1f} s")
    sequential = statistics.median(times["sequential"])
    for name in ("parallel", "parallel_1thread"):
        print(
            f"sequential / {name}: {sequential / statistics.median(times[name]):.2f}x"
        )
    reference = summaries["sequential"][0]
    for name, results in summaries.items():
        gap = max(largest_difference(reference, result) for result in results)
        same = all(result == reference for result in results)
        print(
            f"{name}: cv_summary identical to the first sequential run: {same}; "
            f"largest difference of a mean accuracy/UAR: {100 * gap:.2f} points"
        )


def largest_difference(left: dict, right: dict) -> float:
    """Largest |difference| of mean accuracy or UAR over variants and rules."""
    return max(
        abs(left[variant][rule][key] - right[variant][rule][key])
        for variant in left
        for rule in left[variant]
        for key in ("accuracy_mean", "uar_mean")
    )


if __name__ == "__main__":
    main()
