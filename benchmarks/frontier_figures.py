"""The decision-rule frontier of each corpus over seeds, from saved runs.

Reads the out-of-fold predictions that ``real_corpora.py --out`` keeps
(``<out>.<corpus>_<seed>.oof.csv``), computes every model's frontier per run as the
report does (``emotion_aware_loss.evaluation.frontier``), averages the runs of each corpus as
the study does (``aggregate_frontiers``) and writes ``frontier_<corpus>.png`` and
``frontier_<corpus>.csv`` into ``--figures``. Prints, per corpus, each model's
argmax and minimum-expected-cost points and the Pareto-optimal points.

    python benchmarks/frontier_figures.py RESULTS_STEM --figures benchmarks/figures
        [--drop ensemble_]
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

import pandas as pd
from oof_analysis import oof_files

from emotion_aware_loss.evaluation.frontier import frontier_points, frontier_summary
from emotion_aware_loss.losses.similarity import validate_similarity
from emotion_aware_loss.pipelines.study.nodes import aggregate_frontiers

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("stem", type=Path, help="the --out file of real_corpora.py")
    parser.add_argument("--figures", type=Path, required=True)
    parser.add_argument(
        "--drop", nargs="*", default=[], help="leave out models whose name starts so"
    )
    args = parser.parse_args()
    runs: dict[str, dict[str, pd.DataFrame]] = defaultdict(dict)
    for (corpus, seed), path in oof_files(args.stem).items():
        oof = pd.read_csv(path)
        if args.drop:
            oof = oof[~oof["variant"].str.startswith(tuple(args.drop))]
        runs[corpus][f"{corpus}__seed_{seed}"] = oof
    if not runs:
        print(f"no {args.stem.stem}.<corpus>_<seed>.oof.csv next to {args.stem}")
        return 1
    args.figures.mkdir(parents=True, exist_ok=True)
    matrix = pd.read_csv(ROOT / "data/01_raw/emotion_similarity.csv", index_col=0)
    for corpus, tables in runs.items():
        first = next(iter(tables.values()))
        classes = [c.removeprefix("prob_") for c in first if c.startswith("prob_")]
        similarity = validate_similarity(matrix, classes).to_numpy()
        per_run = {
            key: frontier_summary(frontier_points(oof, classes, similarity))
            for key, oof in tables.items()
        }
        summary, figure = aggregate_frontiers(**per_run)
        figure.axes[0].set_title(
            f"{corpus}: UAR against mistake severity over seeds "
            f"{sorted(int(k.rpartition('_')[2]) for k in tables)}\n"
            "○ argmax to □ minimum expected cost (mean over seeds, ± 1 std)",
            fontsize=9,
        )
        figure.savefig(args.figures / f"frontier_{corpus}.png", dpi=110)
        summary.to_csv(args.figures / f"frontier_{corpus}.csv", index=False)
        print(f"\n## {corpus} ({len(tables)} runs)")
        print("model | argmax UAR / severity | min_expected_cost UAR / severity")
        for variant, part in summary.groupby("variant", sort=False):
            ends = part.sort_values("weight").iloc[[0, -1]]
            print(
                f"{variant} | "
                + " | ".join(
                    f"{r.uar_mean:.4f} / {r.mistake_severity_mean:.4f}"
                    for r in ends.itertuples()
                )
            )
        front = summary[summary["pareto"]].sort_values("mistake_severity_mean")
        print(
            "Pareto: "
            + ", ".join(
                f"{r.variant}@w={r.weight:g} ({r.uar_mean:.4f}, "
                f"{r.mistake_severity_mean:.4f})"
                for r in front.itertuples()
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
