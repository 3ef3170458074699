"""Temporary copies of this project for the benchmarks, and timed ``kedro run``s."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]

# Model, folds and training as in conf/base; fewer variants and epochs so that a
# benchmark finishes in minutes on two cores.
SMALL_RUN = {
    "loss_variants": {
        "cross_entropy": {"loss": "cross_entropy"},
        "emotion_aware": {"loss": "emotion_aware", "alpha": 1.0},
    },
}


@dataclass
class Timed:
    """Wall time (s) and peak resident memory (MiB) of a child process."""

    seconds: float
    peak_mib: float


def make_project(
    path: Path, n_utterances: int, parameters: dict, corpus_seed: int = 2026
) -> Path:
    """A copy of the project at ``path`` whose conf/local sets the corpus and run.

    Args:
        path: An empty or missing folder.
        n_utterances: Size of the demo corpus.
        parameters: Written to ``conf/local/parameters.yml`` (top-level blocks
            replace those of conf/base).
        corpus_seed: Identity of the demo data.

    Returns:
        ``path``.
    """
    local = path / "conf" / "local"
    local.mkdir(parents=True)
    shutil.copy(ROOT / "pyproject.toml", path)
    shutil.copytree(ROOT / "conf" / "base", path / "conf" / "base")
    demo = {"n_utterances": n_utterances, "n_speakers": 10, "seed": corpus_seed}
    (local / "globals.yml").write_text(yaml.safe_dump({"demo_corpus": demo}))
    (local / "parameters.yml").write_text(yaml.safe_dump(parameters))
    (path / "data" / "01_raw").mkdir(parents=True)
    shutil.copy(ROOT / "data/01_raw/emotion_similarity.csv", path / "data/01_raw")
    shutil.copytree(
        ROOT / "src", path / "src", ignore=shutil.ignore_patterns("__pycache__")
    )
    return path


def kedro(project: Path, *args: str) -> Timed:
    """Run ``python -m kedro ARGS`` in ``project`` under ``/usr/bin/time -v``.

    Raises:
        RuntimeError: If the run fails (with the end of its output).
    """
    env = os.environ | {
        "KEDRO_DISABLE_TELEMETRY": "true",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "PYTHONPATH": str(project / "src"),
    }
    command = ["/usr/bin/time", "-v", sys.executable, "-m", "kedro", *args]
    start = time.perf_counter()
    result = subprocess.run(
        command, cwd=project, env=env, capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(result.stdout[-3000:] + result.stderr[-3000:])
    return Timed(seconds, _peak_mib(result.stderr))


def _peak_mib(time_output: str) -> float:
    match = re.search(r"Maximum resident set size \(kbytes\): (\d+)", time_output)
    return int(match.group(1)) / 1024 if match else float("nan")


def summary(project: Path) -> dict:
    """The run's ``cv_summary.json`` (the latest version)."""
    folder = project / "data" / "08_reporting" / "cv_summary.json"
    latest = sorted(p for p in folder.iterdir() if p.is_dir())[-1]
    return json.loads((latest / "cv_summary.json").read_text())
