"""What averaging a network with the linear baseline would score, from saved runs.

Reads the pooled out-of-fold predictions that ``real_corpora.py --out`` keeps
(``<out>.<corpus>_<seed>.oof.csv``) and prints, per corpus, the mean over seeds
of the UAR (mean over folds, as the report computes it) of:

* every network variant and every linear baseline, as scored;
* each model's ECE pooled over all its out-of-fold predictions, before and after
  calibration;
* each network variant averaged, as the pipeline's ``ensemble_<variant>`` rows
  are, with its ``convex_<variant>`` where the runs fitted one
  (``baselines.losses``) and otherwise with the reference linear baseline
  (``linear_fusion`` / ``linear_speech`` / ``linear_text``), at network weight
  ``w`` (0.5 by default), on the calibrated probabilities (``prob_*``) and on the
  uncalibrated ones (``uncalibrated_*``);
* the best row that is not a scikit-learn baseline (a network, a convex fit or
  an average at one of the weights; the runs' own ``ensemble_*`` rows left out),
  mean over seeds.

No training: the figures come from predictions the runs already made. The weight
here is fixed in advance, not chosen on any data.

    python benchmarks/oof_analysis.py RESULTS_STEM [MORE_STEM[@PATTERN,...] ...]
        [--weights 0.25 0.5 0.75]

Several runs of the same corpora and seeds (the same folds) are merged, each
utterance joined by repeat, fold and utterance id: a later run's variants replace
an earlier run's, all of them or those its ``@`` patterns name (``fnmatch``, e.g.
``family.json@convex_*`` takes only the convex fits of a run whose networks were
cut short with ``training.epochs=1``; RESULTS.md, section 25).
"""

from __future__ import annotations

import argparse
import fnmatch
import re
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import recall_score

REFERENCES = ("linear_fusion", "linear_speech", "linear_text")


def fold_uar(labels: pd.Series, predicted: np.ndarray, folds: pd.Series) -> float:
    """UAR per fold (the classes present in it), averaged over folds."""
    scores = []
    for fold in sorted(folds.unique()):
        keep = (folds == fold).to_numpy()
        truth = labels.to_numpy()[keep]
        scores.append(
            recall_score(
                truth,
                predicted[keep],
                labels=np.unique(truth),
                average="macro",
                zero_division=0,
            )
        )
    return float(np.mean(scores))


def pooled_ece(oof: pd.DataFrame, bins: int = 15) -> dict[str, float]:
    """Each model's ECE over all its out-of-fold predictions, before and after
    calibration (``ece_before:<variant>``, ``ece_after:<variant>``): on a small
    corpus the per-fold ECE of the report's tables is mostly the noise of a few
    utterances per bin."""
    from emotion_aware_loss.losses.metrics import (  # noqa: PLC0415
        expected_calibration_error,
    )

    classes = [c.removeprefix("prob_") for c in oof.columns if c.startswith("prob_")]
    index = {c: i for i, c in enumerate(classes)}
    out = {}
    for variant, part in oof.groupby("variant", sort=False):
        labels = part["label"].map(index).to_numpy()
        for prefix, tag in (("uncalibrated_", "before"), ("prob_", "after")):
            columns = [f"{prefix}{c}" for c in classes]
            if set(columns) <= set(part.columns):
                out[f"ece_{tag}:{variant}"] = expected_calibration_error(
                    labels, part[columns].to_numpy(), bins
                )
    return out


def oof_files(stem: Path) -> dict[tuple[str, int], Path]:
    """``(corpus, seed) -> <stem>.<corpus>_<seed>.oof.csv`` next to ``stem``."""
    pattern = re.compile(rf"{re.escape(stem.stem)}\.(\w+)_(\d+)\.oof\.csv$")
    out = {}
    for path in sorted(stem.parent.glob(f"{stem.stem}.*.oof.csv")):
        if found := pattern.search(path.name):
            out[(found[1], int(found[2]))] = path
    return out


def replace_variants(
    oof: pd.DataFrame, other: pd.DataFrame, patterns: list[str]
) -> pd.DataFrame:
    """``oof`` with the variants of ``other`` that ``patterns`` name in place of its
    own (added where it has none). The runs must hold the same utterances in the
    same folds."""
    taken = [
        v
        for v in other["variant"].unique()
        if any(fnmatch.fnmatch(v, p) for p in patterns)
    ]
    if not taken:
        raise ValueError(f"no variant of the later run matches {patterns}")
    keys = ["repeat", "fold", "utterance_id"]
    ours = oof[keys].drop_duplicates().sort_values(keys).reset_index(drop=True)
    theirs = other[keys].drop_duplicates().sort_values(keys).reset_index(drop=True)
    if not ours.equals(theirs):
        raise ValueError("the runs' utterances or folds differ: not the same split")
    kept = oof[~oof["variant"].isin(taken)]
    return pd.concat([kept, other[other["variant"].isin(taken)]], ignore_index=True)


def analyse(oof: pd.DataFrame, weights: list[float]) -> dict[str, float]:
    """Every row's UAR, and the averaged rows ``avg<w>[_uncal]:<variant>``."""
    classes = [c.removeprefix("prob_") for c in oof.columns if c.startswith("prob_")]
    index = {c: i for i, c in enumerate(classes)}
    parts = {
        v: p.sort_values(["repeat", "utterance_id"]).reset_index(drop=True)
        for v, p in oof.groupby("variant", sort=False)
    }
    out = {}
    for variant, part in parts.items():
        predicted = part[[f"prob_{c}" for c in classes]].to_numpy().argmax(1)
        out[variant] = fold_uar(part["label"].map(index), predicted, part["fold"])
    reference = next((r for r in REFERENCES if r in parts), None)
    if reference is None:
        return out
    for variant, part in parts.items():
        if variant.startswith(("linear_", "convex_", "ensemble_")):
            continue
        # the pipeline's member: the variant's own convex fit where there is one
        linear = parts.get(f"convex_{variant}", parts[reference])
        assert (part["utterance_id"].to_numpy() == linear["utterance_id"]).all()
        for prefix, tag in (("prob_", ""), ("uncalibrated_", "_uncal")):
            columns = [f"{prefix}{c}" for c in classes]
            if not set(columns) <= set(part.columns):
                continue
            for w in weights:
                mixed = (
                    w * part[columns].to_numpy() + (1 - w) * linear[columns].to_numpy()
                )
                out[f"avg{w:g}{tag}:{variant}"] = fold_uar(
                    part["label"].map(index), mixed.argmax(1), part["fold"]
                )
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "stems",
        nargs="+",
        help="--out files of real_corpora.py; STEM@PATTERN,... takes only the "
        "variants the patterns name from that run",
    )
    parser.add_argument("--weights", nargs="+", type=float, default=[0.5])
    args = parser.parse_args()
    first = Path(args.stems[0].partition("@")[0])
    merged = {key: pd.read_csv(path) for key, path in oof_files(first).items()}
    if not merged:
        print(f"no {first.stem}.<corpus>_<seed>.oof.csv next to {first}")
        return 1
    for stem in args.stems[1:]:
        name, _, patterns = stem.partition("@")
        files = oof_files(Path(name))
        if not set(files) & set(merged):
            print(f"{name}: no corpus and seed in common with {first}; not merged")
        for key, path in files.items():
            if key not in merged:
                continue
            try:
                merged[key] = replace_variants(
                    merged[key],
                    pd.read_csv(path),
                    patterns.split(",") if patterns else ["*"],
                )
            except ValueError as error:
                print(f"{path}: {error}")
                return 1
    runs: dict[str, list[dict]] = defaultdict(list)
    for (corpus, _seed), oof in merged.items():
        runs[corpus].append(analyse(oof, args.weights) | pooled_ece(oof))
    for corpus, tables in runs.items():
        rows = [k for k in tables[0] if all(k in t for t in tables)]
        eces = [k for k in rows if k.startswith("ece_")]
        rows = [k for k in rows if not k.startswith("ece_")]
        best = max(
            (k for k in rows if k.startswith("linear_")),
            key=lambda k: np.mean([t[k] for t in tables]),
        )
        reference = np.mean([t[best] for t in tables])
        print(f"\n## {corpus}: {len(tables)} seed(s); best baseline {best}")
        # the runs' own ensemble_<variant> rows aside: the averages recomputed at
        # --weights stand for them (a later run's networks or members replace
        # those they were made of)
        top = max(
            (
                k
                for k in rows
                if not k.startswith(("linear_", "ensemble_")) and "_uncal:" not in k
            ),
            key=lambda k: np.mean([t[k] for t in tables]),
        )
        print(
            f"best row that is not a scikit-learn baseline: {top} "
            f"{np.mean([t[top] for t in tables]) - reference:+.4f}"
        )
        print("row | UAR mean over seeds | per seed | minus the best baseline")
        for key in rows:
            values = [t[key] for t in tables]
            print(
                f"{key} | {np.mean(values):.4f} | "
                f"{' '.join(f'{v:.4f}' for v in values)} | "
                f"{np.mean(values) - reference:+.4f}"
            )
        if eces:
            print("\nmodel | pooled ECE before -> after (mean over seeds)")
            for key in (k for k in eces if k.startswith("ece_before:")):
                variant = key.partition(":")[2]
                before = np.mean([t[key] for t in tables])
                after = np.mean([t[f"ece_after:{variant}"] for t in tables])
                print(f"{variant} | {before:.4f} -> {after:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
