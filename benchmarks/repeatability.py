"""How one training's figures depend on the CPU path and thread counts.

Prepares a copy of the project (demo corpus, features, folds, initial model), then
trains the same model (``cross_entropy``, fold 0, the default settings) once per
environment in a fresh process and prints, for each: epochs run, restored epoch,
first-epoch training loss, test accuracy and UAR, and a digest of the trained
weights. Identical digests mean bit-identical models.

The environments stand in for other machines: ``ONEDNN_MAX_CPU_ISA=AVX2`` for a CPU
without AVX-512, ``TF_NUM_INTRAOP_THREADS=1`` for another core count (TensorFlow
uses one thread per available core by default), ``TF_ENABLE_ONEDNN_OPTS=0`` for a
TensorFlow build without oneDNN.

    python benchmarks/repeatability.py --utterances 1000
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from _project import SMALL_RUN, kedro, make_project

SETTINGS = {
    "default": {},
    "default, again": {},
    "ONEDNN_MAX_CPU_ISA=AVX512_CORE": {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE"},
    "ONEDNN_MAX_CPU_ISA=AVX2": {"ONEDNN_MAX_CPU_ISA": "AVX2"},
    "TF_ENABLE_ONEDNN_OPTS=0": {"TF_ENABLE_ONEDNN_OPTS": "0"},
    "TF_NUM_INTRAOP_THREADS=1": {"TF_NUM_INTRAOP_THREADS": "1"},
}


def train_one_fold(project: Path) -> dict:
    """Train cross_entropy on fold 0 from the project's catalog (in this process)."""
    from kedro.framework.session import KedroSession  # noqa: PLC0415
    from kedro.framework.startup import bootstrap_project  # noqa: PLC0415

    bootstrap_project(project)
    with KedroSession.create(project_path=project) as session:
        context = session.load_context()
        catalog, params = context.catalog, context.params
    from emotion_aware_loss.config import LossConfig, TrainingConfig  # noqa: PLC0415
    from emotion_aware_loss.pipelines.evaluation.nodes import (  # noqa: PLC0415
        evaluate_model,
    )
    from emotion_aware_loss.pipelines.training.nodes import (  # noqa: PLC0415
        train_model,
    )

    names = [
        "initial_model",
        "model_input_table",
        "acoustic_features",
        "fold_0.split",
        "fold_0.feature_scaler",
        "fold_0.vocabulary",
        "fold_0.embedding_matrix",
        "similarity_matrix",
        "input_spec",
    ]
    data = dict(zip(names, map(catalog.load, names), strict=True))
    model, history = train_model(
        *data.values(),
        TrainingConfig.model_validate(params["training"]),
        LossConfig.model_validate(params["loss_variants"]["cross_entropy"]),
        params["seed"],
    )
    metrics, _ = evaluate_model(
        model,
        *(data[n] for n in names[1:6]),
        data["similarity_matrix"],
        data["input_spec"],
    )
    argmax = metrics["decisions"]["argmax"]
    weights = b"".join(w.tobytes() for w in model.get_weights())
    return {
        "epochs": len(history["loss"]),
        "best_epoch": history["best_epoch"][0],
        "first_loss": history["loss"][0],
        "accuracy": argmax["accuracy"],
        "uar": argmax["uar"],
        "weights": hashlib.sha256(weights).hexdigest()[:12],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--utterances", type=int, default=1000)
    parser.add_argument("--child", help=argparse.SUPPRESS)  # project path
    args = parser.parse_args()
    if args.child:
        print(json.dumps(train_one_fold(Path(args.child))))
        return
    with tempfile.TemporaryDirectory() as tmp:
        project = make_project(Path(tmp) / "project", args.utterances, SMALL_RUN)
        kedro(
            project, "run", "--pipelines=preprocessing,fold_generation,model_building"
        )
        print(
            f"cross_entropy, fold 0, {args.utterances} utterances\n"
            "| Setting | Epochs | Restored | First-epoch loss | Accuracy | UAR "
            "| Weights |\n|---|---|---|---|---|---|---|"
        )
        for label, variables in SETTINGS.items():
            env = os.environ | variables | {"PYTHONPATH": str(project / "src")}
            env |= {"KEDRO_DISABLE_TELEMETRY": "true", "TF_CPP_MIN_LOG_LEVEL": "2"}
            child = subprocess.run(
                [sys.executable, __file__, "--child", str(project)],
                cwd=tmp,  # not the project: its log file stays the run's
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            r = json.loads(child.stdout.strip().splitlines()[-1])
            print(
                f"| {label} | {r['epochs']} | {r['best_epoch']} | {r['first_loss']:.7f} "
                f"| {r['accuracy']:.4f} | {r['uar']:.4f} | `{r['weights']}` |"
            )


if __name__ == "__main__":
    main()
