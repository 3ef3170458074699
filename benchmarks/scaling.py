"""Wall time and peak memory of ``kedro run`` at corpus sizes N, 2N, 4N, 8N.

    python benchmarks/scaling.py [--utterances 250] [--epochs 3] [--factors 1 2 4 8]

For each size, a temporary copy of the project runs the default pipeline (demo
corpus generation, cross-validation and the final model) with the variant
``cross_entropy`` only, 2 folds and exactly ``--epochs`` epochs (patience as large,
so early stopping cannot make a larger corpus cheaper); the rest is conf/base.
Prints wall time, peak resident memory (``/usr/bin/time -v``), time per utterance,
the growth from the previous size and from the first, and the run's
cross-validated accuracy and UAR (so that two versions of the code can be checked
for the same results). Run by hand; not a test.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from _project import kedro, make_project, summary


def _scores(project: Path) -> str:
    argmax = summary(project)["variants"]["cross_entropy"]["argmax"]
    return f"accuracy {argmax['accuracy_mean']:.6f}, UAR {argmax['uar_mean']:.6f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--utterances", type=int, default=250)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--factors", type=int, nargs="+", default=[1, 2, 4, 8])
    args = parser.parse_args()
    parameters = {
        "loss_variants": {"cross_entropy": {"loss": "cross_entropy"}},
        "final_model": {"variant": "cross_entropy"},
        "cross_validation": {"n_folds": 2},
        "training": {"epochs": args.epochs, "patience": args.epochs},
    }
    sizes = ", ".join(f"{f}N" for f in args.factors)
    print(f"variant cross_entropy, 2 folds, {args.epochs} epochs; sizes {sizes}")
    previous = first = None
    for factor in args.factors:
        size = args.utterances * factor
        with tempfile.TemporaryDirectory() as folder:
            project = make_project(Path(folder) / "project", size, parameters)
            run = kedro(project, "run")
            scores = _scores(project)
        growth = ""
        if previous is not None:
            growth = (
                f", x{run.seconds / previous.seconds:.2f} time, memory "
                f"{100 * (run.peak_mib / first.peak_mib - 1):+.1f} % vs "
                f"{args.utterances * args.factors[0]} utterances"
            )
        print(
            f"{size} utterances: {run.seconds:.1f} s, "
            f"{1000 * run.seconds / size:.1f} ms/utterance, "
            f"peak memory {run.peak_mib:.0f} MiB{growth}; {scores}",
            flush=True,
        )
        previous = run
        first = first or run


if __name__ == "__main__":
    main()
