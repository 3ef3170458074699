"""The network against the in-pipeline linear baseline on the real corpora.

Runs ``kedro run`` with the project's defaults (only the corpus and what it needs
are set) on the development corpora in ``../shared/corpora`` (see its README):

* ``emodb_dev``: German acted speech, audio only; anger, happiness, sadness and
  neutral (167 utterances of 5 speakers), speaker-independent 5-fold CV;
* ``ravdess_dev``: English acted speech, audio only; all five classes (432
  utterances of 12 actors), speaker-independent 5-fold CV;
* ``nemo_dev``: Polish acted speech, audio only (the transcripts are the same
  sentences in every emotion); all five classes, fear dropped (1,799 utterances of
  4 speakers), leave-one-speaker-out (4 folds);
* ``meld_text_dev``: English TV dialogue, transcripts only; joy mapped to
  happiness, fear and disgust dropped (10,497 utterances), stratified 5-fold CV.

and prints, per corpus, every variant's and baseline's accuracy, UAR and
per-class recall (mean ± std over folds), so a change to the defaults can be
judged on real data. With several ``--seeds`` (each a whole run: initial
weights, batch order and, where speakers allow, the folds) it ends with each
variant's UAR over the seeds, its lowest class recall and its difference to the
best linear baseline of the same run. With several runs (corpora × seeds) it
ranks the variants and the best linear baseline in every run and prints the
Friedman test, the average ranks and each method against ``cross_entropy`` and
against the best linear baseline, Holm-adjusted (``emotion_aware_loss.study.comparison``;
the critical-difference diagram goes next to ``--out``). Skips with a message
when the corpora are absent.

    python benchmarks/real_corpora.py [--corpora emodb ravdess nemo meld]
        [--variants cross_entropy] [--seeds 42 1 2]
        [--set model.architecture=seed training.class_weight=none ...]
        [--out results.json] [--tables folder-of-cv_fold_metrics-tables]

It prints, and keeps with ``--out``, the software versions (with the BLAS
libraries and the kernels they chose for this CPU) and each corpus's SHA-256
(over its files' paths and bytes): the figures depend on both.

With ``--out``, each run's pooled out-of-fold predictions are kept next to it
(``<out>.<corpus>_<seed>.oof.csv``: calibrated probabilities, the temperature and
the uncalibrated ones), its per-fold metrics (``.folds.csv``, the run's
``cv_fold_metrics``), and each network's early-stopped predictions on its
validation part (``.validation.json``), for analyses without retraining.
``--variants`` keeps only the named loss variants (default: all of conf/base);
``--set`` overrides parameters by dotted key (YAML values) on top of the defaults.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml
from _project import ROOT, kedro, make_project, summary

from emotion_aware_loss.evaluation.provenance import blas_libraries, software_versions

CORPORA = ROOT.parent / "shared" / "corpora"

SETUPS = {
    "emodb": {
        "manifest": "emodb_dev/manifest.csv",
        "parameters": {
            "classes": ["anger", "happiness", "sadness", "neutral"],
            "preprocessing.labels.drop": ["boredom", "fear", "disgust"],
            "model.modalities": ["speech"],
            "cross_validation.speaker_independent": True,
        },
    },
    "ravdess": {
        "manifest": "ravdess_dev/manifest.csv",
        "parameters": {
            "preprocessing.labels.mapping": {
                "angry": "anger",
                "surprised": "surprise",
                "happy": "happiness",
                "sad": "sadness",
            },
            "preprocessing.labels.drop": ["calm", "fearful", "disgust"],
            "model.modalities": ["speech"],
            "cross_validation.speaker_independent": True,
        },
    },
    "nemo": {
        "manifest": "nemo_dev/manifest.csv",
        "parameters": {
            "preprocessing.labels.mapping": {"surprised": "surprise"},
            "preprocessing.labels.drop": ["fear"],
            # the transcripts are the same 90 sentences in every emotion
            "model.modalities": ["speech"],
            "cross_validation.speaker_independent": True,
            "cross_validation.n_folds": 4,  # leave one of the 4 speakers out
        },
    },
    "meld": {
        "manifest": "meld_text_dev/manifest.csv",
        "parameters": {
            "preprocessing.labels.mapping": {"joy": "happiness"},
            "preprocessing.labels.drop": ["fear", "disgust"],
            "model.modalities": ["text"],
        },
    },
}


def corpus_fingerprint(name: str) -> str:
    """SHA-256 over corpus ``name``'s folder: every file's relative path and bytes,
    in path order. Two runs whose figures differ can then tell a changed corpus
    from a changed environment (their software versions are kept beside it)."""
    folder = (CORPORA / SETUPS[name]["manifest"]).parent
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def base_parameters() -> dict:
    """All of conf/base's parameters, merged as Kedro merges the files."""
    merged: dict = {}
    for path in sorted((ROOT / "conf" / "base").glob("parameters*.yml")):
        merged |= yaml.safe_load(path.read_text()) or {}
    return merged


def with_overrides(parameters: dict, overrides: dict) -> dict:
    """``parameters`` with dotted keys set (whole top-level blocks are written)."""
    out = json.loads(json.dumps(parameters))
    for dotted, value in overrides.items():
        *parents, leaf = dotted.split(".")
        node = out
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    return out


def corpus_project(
    name: str, overrides: dict, variants: list[str] | None, work: Path
) -> Path:
    """A copy of the project in ``work / name`` set up for corpus ``name``: the
    defaults with the corpus's parameters and ``overrides``, ``variants`` only
    (None: all), and its manifest as the catalog's ``corpus``."""
    setup = SETUPS[name]
    params = with_overrides(base_parameters(), setup["parameters"] | overrides)
    if variants:
        params["loss_variants"] = {
            k: v for k, v in params["loss_variants"].items() if k in variants
        }
        params["evaluation"]["baseline"] = variants[0]
        if params["final_model"]["variant"] not in variants:
            params["final_model"]["variant"] = variants[0]
    project = make_project(work / name, 0, params)
    manifest = CORPORA / setup["manifest"]
    catalog = {
        "corpus": {
            "type": "emotion_aware_loss.datasets.AudioManifestDataset",
            "filepath": str(manifest),
        }
    }
    (project / "conf" / "local" / "catalog.yml").write_text(yaml.safe_dump(catalog))
    return project


def run_corpus(
    name: str,
    overrides: dict,
    variants: list[str] | None,
    work: Path,
    keep: Path | None = None,
):
    """One ``kedro run`` on corpus ``name``; returns its summary and wall time
    (``keep``: where to copy its out-of-fold predictions)."""
    project = corpus_project(name, overrides, variants, work)
    # The cross-validation only: the final model is not what is measured here.
    stages = "preprocessing,fold_generation,model_building,training,baselines"
    stages += ",similarity,evaluation"
    timed = kedro(project, "run", f"--pipelines={stages}")
    folds = _latest_table(project, "cv_fold_metrics.csv")
    if keep is not None:  # the pooled out-of-fold predictions, for analyses after
        _latest_table(project, "oof_predictions.csv").to_csv(keep, index=False)
        folds.to_csv(
            keep.with_name(keep.name.replace(".oof.csv", ".folds.csv")), index=False
        )
        held = _validation_predictions(project)
        keep.with_name(keep.name.replace(".oof.csv", ".validation.json")).write_text(
            json.dumps(held)
        )
    return summary(project), timed, _per_class(project), _against_linear(project), folds


def _validation_predictions(project: Path) -> dict:
    """Each network's early-stopped predictions on its validation part and its
    temperature (from its history), keyed ``<variant>/<fold>``."""
    out = {}
    models = project / "data" / "07_model_output"
    for path in sorted(models.glob("*/fold_*/history.json")):
        latest = sorted(p for p in path.iterdir() if p.is_dir())[-1] / "history.json"
        history = json.loads(latest.read_text())
        if "validation_probabilities" in history:
            out[f"{path.parent.parent.name}/{path.parent.name}"] = {
                k: history[k]
                for k in (
                    "temperature",
                    "validation_probabilities",
                    "validation_labels",
                    "validation_utterances",
                )
                if k in history
            }
    return out


def _latest_table(project: Path, name: str):
    """The latest version of the report table ``name`` (a CSV dataset)."""
    import pandas as pd  # noqa: PLC0415  (only here)

    folder = project / "data" / "08_reporting" / name
    latest = sorted(p for p in folder.iterdir() if p.is_dir())[-1]
    return pd.read_csv(latest / name)


def _per_class(project: Path) -> dict:
    table = _latest_table(project, "per_class_recall.csv")
    table = table[table["decision"] == "argmax"]
    return {
        variant: dict(zip(part["class"], part["recall_mean"], strict=True))
        for variant, part in table.groupby("variant", sort=False)
    }


def _against_linear(project: Path) -> dict:
    """Each variant's argmax UAR minus the linear baseline's, as the report tests it."""
    table = _latest_table(project, "significance_tests.csv")
    rows = table[
        table["comparison"].str.startswith("linear_")
        & (table["decision"] == "argmax")
        & (table["metric"] == "uar")
    ]
    keep = [
        "comparison",
        "mean_difference",
        "std_difference",
        "wins",
        "n_folds",
        "p_corrected_t_test",
        "ci_low",
        "ci_high",
        "significant",
    ]
    return {
        row["variant"]: {k: row[k] for k in keep} for row in rows.to_dict("records")
    }


def calibration(folds) -> dict:
    """Each variant's mean temperature, ECE and cross-entropy before and after
    calibration, and its min_expected_cost UAR, over folds (empty for tables
    without calibration columns)."""
    if "temperature" not in folds:
        return {}
    out = {}
    for variant, part in folds.groupby("variant", sort=False):
        argmax = part[part["decision"] == "argmax"]
        cost = part[part["decision"] == "min_expected_cost"]
        out[variant] = {
            "temperature": float(argmax["temperature"].mean()),
            "ece_uncalibrated": float(argmax["ece_uncalibrated"].mean()),
            "ece": float(argmax["ece"].mean()),
            "cross_entropy_uncalibrated": float(
                argmax["cross_entropy_uncalibrated"].mean()
            ),
            "cross_entropy": float(argmax["cross_entropy"].mean()),
            "min_expected_cost_uar": float(cost["uar"].mean()),
            "min_expected_cost_severity": float(cost["mistake_severity"].mean()),
            "argmax_severity": float(argmax["mistake_severity"].mean()),
        }
    return out


def show_calibration(table: dict) -> None:
    if not table:
        return
    print(
        "\nvariant | temperature | ECE before -> after | cross-entropy before -> "
        "after | severity argmax -> min_expected_cost | UAR min_expected_cost"
    )
    for variant, c in table.items():
        print(
            f"{variant} | {c['temperature']:.2f} | {c['ece_uncalibrated']:.4f} -> "
            f"{c['ece']:.4f} | {c['cross_entropy_uncalibrated']:.4f} -> "
            f"{c['cross_entropy']:.4f} | {c['argmax_severity']:.4f} -> "
            f"{c['min_expected_cost_severity']:.4f} | {c['min_expected_cost_uar']:.4f}"
        )


def show(name: str, result: dict, timed, recall: dict, against: dict) -> None:
    classes = result["classes"]
    print(f"\n## {name} ({timed.seconds:.0f} s, peak {timed.peak_mib:.0f} MiB)")
    print("variant | accuracy | UAR | " + " | ".join(classes))
    for variant, rules in result["variants"].items():
        row = rules["argmax"]
        recalls = " | ".join(f"{recall[variant][c]:.3f}" for c in classes)
        print(
            f"{variant} | {row['accuracy_mean']:.4f} ± {row['accuracy_std']:.4f} | "
            f"{row['uar_mean']:.4f} ± {row['uar_std']:.4f} | {recalls}"
        )
    if against:
        reference = next(iter(against.values()))["comparison"]
        print(
            f"\nUAR minus {reference}'s (argmax; over folds, wins, corrected "
            "resampled t-test p, 95% bootstrap interval, significant after Holm)"
        )
        for variant, d in against.items():
            print(
                f"{variant} | {d['mean_difference']:+.4f} ± {d['std_difference']:.4f}"
                f" | {d['wins']}/{d['n_folds']} | p {d['p_corrected_t_test']:.3f}"
                f" | [{d['ci_low']:+.4f}, {d['ci_high']:+.4f}] | {d['significant']}"
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpora", nargs="+", default=list(SETUPS), choices=SETUPS)
    parser.add_argument("--variants", nargs="+", default=None)
    parser.add_argument("--seeds", nargs="+", type=int, default=None)
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument(
        "--tables",
        type=Path,
        default=None,
        help="a folder of saved cv_fold_metrics tables, <corpus>_<seed>.csv: "
        "only the study's tables over them, no run",
    )
    args = parser.parse_args()
    if args.tables:
        over_blocks(
            {
                "__seed_".join(path.stem.rsplit("_", 1)): pd.read_csv(path)
                for path in sorted(args.tables.glob("*_*.csv"))
                if path.stem.rsplit("_", 1)[-1].isdigit()
            },
            args.out,
        )
        return 0
    if not CORPORA.is_dir():
        print(f"skipped: {CORPORA} is absent (see the benchmarks' README)")
        return 0
    overrides = {}
    for item in args.set:
        key, _, value = item.partition("=")
        overrides[key] = yaml.safe_load(value)
    print(f"{time.strftime('%Y-%m-%d %H:%M')}; overrides: {overrides or 'none'}")
    # the BLAS libraries too: the linear baselines' figures depend on their kernels
    software = software_versions() | blas_libraries()
    print("software: " + ", ".join(f"{k} {v}" for k, v in software.items()))
    fingerprints = {name: corpus_fingerprint(name) for name in args.corpora}
    for name, fingerprint in fingerprints.items():
        print(f"{name}: sha256 {fingerprint[:16]}")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.corpora:
            for seed in args.seeds or [None]:
                run_overrides = overrides | ({"seed": seed} if seed is not None else {})
                keep = None
                if args.out:
                    keep = args.out.with_suffix(f".{name}_{seed}.oof.csv")
                result, timed, recall, against, folds = run_corpus(
                    name,
                    run_overrides,
                    args.variants,
                    Path(tmp) / f"{name}_{seed}",
                    keep,
                )
                label = name if seed is None else f"{name}, seed {seed}"
                show(label, result, timed, recall, against)
                show_calibration(calibration(folds))
                results[label] = {
                    "corpus": name,
                    "seed": seed,
                    "summary": result,
                    "per_class_recall": recall,
                    "against_linear_baseline": against,
                    "seconds": timed.seconds,
                    "peak_mib": timed.peak_mib,
                    "overrides": run_overrides,
                    "fold_metrics": folds.to_dict("records"),
                    "calibration": calibration(folds),
                    "software": software,
                    "corpus_sha256": fingerprints[name],
                }
            if len(args.seeds or []) > 1:
                over_seeds(name, [r for r in results.values() if r["corpus"] == name])
    if len(results) > 1:
        seed = base_parameters()["seed"]
        over_blocks(
            {
                f"{r['corpus']}__seed_{r['seed'] if r['seed'] is not None else seed}": (
                    pd.DataFrame(r["fold_metrics"])
                )
                for r in results.values()
            },
            args.out,
        )
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))
    return 0


def over_blocks(fold_tables: dict, out: Path | None) -> None:
    """The study's tables over every run (corpus × seed) as a block.

    The same statistics and report as ``kedro run --pipelines=study``
    (``emotion_aware_loss.study.tables`` and ``study_report``): average ranks, the
    Friedman test, every method against ``cross_entropy`` and against
    ``linear (best)`` (Holm). With ``--out``, ``<out>.study.md``, the summary and
    test tables and the critical-difference diagram go next to it.

    Args:
        fold_tables: Each run's ``cv_fold_metrics`` keyed ``<corpus>__seed_<seed>``.
        out: The results file, or None.
    """
    from emotion_aware_loss.config import StudyTestsConfig  # noqa: PLC0415
    from emotion_aware_loss.pipelines.study.nodes import (  # noqa: PLC0415
        plot_critical_difference,
    )
    from emotion_aware_loss.study.report import study_markdown  # noqa: PLC0415
    from emotion_aware_loss.study.tables import (  # noqa: PLC0415
        gather_runs,
        rank_tests,
        summarise_study,
    )

    config = StudyTestsConfig()
    folds = gather_runs(fold_tables)
    summary_table, tests = summarise_study(folds), rank_tests(folds, config)
    text = study_markdown(summary_table, tests, folds, config)
    figure_link = "{figure:critical_difference.png}"
    print("\n" + text.replace(figure_link, "critical_difference.png (with --out)"))
    if out:
        stem = out.with_suffix("")
        figure = plot_critical_difference(tests, config)
        figure.savefig(stem.with_suffix(".cd.png"), dpi=120)
        summary_table.to_csv(stem.with_suffix(".study_summary.csv"), index=False)
        tests.to_csv(stem.with_suffix(".study_tests.csv"), index=False)
        stem.with_suffix(".study.md").write_text(
            text.replace(figure_link, stem.name + ".cd.png")
        )


def over_seeds(name: str, runs: list[dict]) -> None:
    """Each variant's UAR over the seeds and its margin over the best baseline."""
    import numpy as np  # noqa: PLC0415  (only here)

    print(f"\n## {name}: over seeds {[r['seed'] for r in runs]}")
    print(
        "variant | UAR mean ± std over seeds | per seed | lowest class recall | "
        "UAR minus the best linear baseline's (mean over seeds)"
    )
    variants = list(runs[0]["summary"]["variants"])
    linear = [v for v in variants if v.startswith("linear_")]
    for variant in variants:
        uars = [r["summary"]["variants"][variant]["argmax"]["uar_mean"] for r in runs]
        lowest = min(min(r["per_class_recall"][variant].values()) for r in runs)
        margin = [
            u - max(r["summary"]["variants"][b]["argmax"]["uar_mean"] for b in linear)
            for u, r in zip(uars, runs, strict=True)
        ]
        print(
            f"{variant} | {np.mean(uars):.4f} ± {np.std(uars):.4f} | "
            f"{' '.join(f'{u:.4f}' for u in uars)} | {lowest:.3f} | "
            f"{np.mean(margin):+.4f}"
        )
    tables = [r.get("calibration") or {} for r in runs]
    if all(variants[0] in t for t in tables):
        print(
            "\nvariant | temperature | ECE before -> after | UAR argmax -> "
            "min_expected_cost | severity argmax -> min_expected_cost (means over seeds)"
        )
        for variant in variants:
            c = {
                k: np.mean([t[variant][k] for t in tables]) for k in tables[0][variant]
            }
            uar = np.mean(
                [r["summary"]["variants"][variant]["argmax"]["uar_mean"] for r in runs]
            )
            print(
                f"{variant} | {c['temperature']:.2f} | {c['ece_uncalibrated']:.4f} -> "
                f"{c['ece']:.4f} | {uar:.4f} -> {c['min_expected_cost_uar']:.4f} | "
                f"{c['argmax_severity']:.4f} -> {c['min_expected_cost_severity']:.4f}"
            )


if __name__ == "__main__":
    sys.exit(main())
