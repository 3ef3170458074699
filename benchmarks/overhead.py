"""Kedro's overhead: ``kedro run`` vs calling the node functions directly (prints figures).

    python benchmarks/overhead.py [--utterances 400] [--epochs 10] [--repeats 2]

In a temporary copy of the project (demo corpus of ``--utterances``, generated
before timing; variants ``cross_entropy`` and ``emotion_aware``; at most
``--epochs`` epochs; otherwise conf/base), each repetition starts two fresh
processes, alternately:

* kedro: ``KedroSession.create(...).run()``: configuration, catalog, hooks,
  the SequentialRunner, and every dataset saved to and loaded from disk;
* direct: the same session only to read the typed parameters and the raw
  inputs, then every node's function called in topological order with its
  inputs from a dict (``Node.run``), nothing saved.

Both processes import Kedro, TensorFlow and the project before their clock
starts, so the one-time import is excluded. Prints each time, the medians and
their ratio. Run by hand; not a test.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _project import SMALL_RUN, make_project


def child(mode: str, project: Path) -> None:
    """Time one run in this process and print ``seconds``."""
    from kedro.framework.session import KedroSession  # noqa: PLC0415
    from kedro.framework.startup import bootstrap_project  # noqa: PLC0415

    import emotion_aware_loss.pipeline_registry  # noqa: F401, PLC0415

    start = time.perf_counter()
    bootstrap_project(project)
    with KedroSession.create(project_path=project) as session:
        if mode == "kedro":
            session.run()
        else:
            from kedro.framework.project import pipelines  # noqa: PLC0415

            catalog = session.load_context().catalog
            pipeline = pipelines["__default__"]
            data = {name: catalog.load(name) for name in pipeline.inputs()}
            for node in pipeline.nodes:  # topological order
                data.update(node.run({name: data[name] for name in node.inputs}))
    print(f"{time.perf_counter() - start:.3f}")


def timed(mode: str, project: Path) -> float:
    env = os.environ | {
        "KEDRO_DISABLE_TELEMETRY": "true",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "PYTHONPATH": str(project / "src"),
    }
    result = subprocess.run(
        [sys.executable, __file__, "--child", mode, str(project)],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(result.stdout[-3000:] + result.stderr[-3000:])
    return float(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--utterances", type=int, default=400)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--child", nargs=2, metavar=("MODE", "PROJECT"))
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]))
        return
    parameters = SMALL_RUN | {"training": {"epochs": args.epochs, "patience": 8}}
    times: dict[str, list[float]] = {"kedro": [], "direct": []}
    with tempfile.TemporaryDirectory() as folder:
        project = make_project(Path(folder) / "project", args.utterances, parameters)
        timed("direct", project)  # generates the corpus; not counted
        print(
            f"demo corpus of {args.utterances} utterances, 5 folds, variants "
            f"{list(SMALL_RUN['loss_variants'])}, epochs <= {args.epochs}"
        )
        for repeat in range(args.repeats):
            for mode in ("kedro", "direct") if repeat % 2 == 0 else ("direct", "kedro"):
                times[mode].append(timed(mode, project))
                print(f"repeat {repeat} {mode}: {times[mode][-1]:.1f} s", flush=True)
    kedro_s, direct_s = (statistics.median(times[m]) for m in ("kedro", "direct"))
    print(
        f"median kedro {kedro_s:.1f} s, direct {direct_s:.1f} s, "
        f"ratio {kedro_s / direct_s:.3f}"
    )


if __name__ == "__main__":
    main()
