"""Wall time and peak memory of ``kedro run`` at corpus sizes N, 2N, 4N, 8N.

    python benchmarks/scaling.py [--utterances 250] [--epochs 3]

For each size, a temporary copy of the project runs the default pipeline (demo
corpus generation included) with the variant ``cross_entropy`` only, 2 folds and
exactly ``--epochs`` epochs (patience as large, so early stopping cannot make a
larger corpus cheaper); the rest is conf/base. Prints wall time, peak resident
memory (``/usr/bin/time -v``), time per utterance and the growth from the
previous size. Run by hand; not a test.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from _project import kedro, make_project


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--utterances", type=int, default=250)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    parameters = {
        "loss_variants": {"cross_entropy": {"loss": "cross_entropy"}},
        "cross_validation": {"n_folds": 2},
        "training": {"epochs": args.epochs, "patience": args.epochs},
    }
    print(f"variant cross_entropy, 2 folds, {args.epochs} epochs; sizes N, 2N, 4N, 8N")
    previous = None
    for factor in (1, 2, 4, 8):
        size = args.utterances * factor
        with tempfile.TemporaryDirectory() as folder:
            project = make_project(Path(folder) / "project", size, parameters)
            run = kedro(project, "run")
        growth = "" if previous is None else f", x{run.seconds / previous:.2f} time"
        print(
            f"{size} utterances: {run.seconds:.1f} s, "
            f"{1000 * run.seconds / size:.1f} ms/utterance, "
            f"peak memory {run.peak_mib:.0f} MiB{growth}",
            flush=True,
        )
        previous = run.seconds


if __name__ == "__main__":
    main()
