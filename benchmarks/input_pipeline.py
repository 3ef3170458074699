"""The prediction input path: batches of on-demand speech features through tf.data.

    python benchmarks/input_pipeline.py [--utterances 800] [--frames 1]
        [--features 68] [--batch-size 16] [--epochs 20]

Writes a random ``(utterances, frames, features)`` float32 ``.npy`` file (the
default shape is that of the default acoustic functionals; ``--frames 300
--features 40`` is that of log-mel frames), maps it as the catalog does
(``mmap_mode: r``) and times what prediction (evaluation, similarity, inference)
reads from it: batches of standardised rows
(:class:`~emotion_aware_loss.folds.cross_validation.ScaledFeatures` read by
:func:`~emotion_aware_loss.training.fitting._dataset`'s parallel ``map``) for ``--epochs``
passes, nothing computed. Prints batches per second. (Training reads features
held in memory, or, above ``training.max_resident_mb``, the rows of each step from
the file inside the traced step: ``emotion_aware_loss.training.stack``.) Run by
hand; not a test.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from emotion_aware_loss.folds.cross_validation import ScaledFeatures
from emotion_aware_loss.training.fitting import _dataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--utterances", type=int, default=800)
    parser.add_argument("--frames", type=int, default=1)
    parser.add_argument("--features", type=int, default=68)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=20)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "features.npy"
        shape = (args.utterances, args.frames, args.features)
        np.save(path, rng.normal(size=shape).astype(np.float32))
        features = np.load(path, mmap_mode="r")
        rows = rng.permutation(args.utterances)
        n_frames = np.full(args.utterances, args.frames)
        scaler = {"mean": [0.0] * args.features, "std": [1.0] * args.features}
        speech = ScaledFeatures(features, rows, n_frames, scaler)
        batches = _dataset({"speech": speech}, args.batch_size)
        for _ in batches:  # warm-up: tf.data builds its pipeline
            pass
        count = 0
        start = time.perf_counter()
        for _ in range(args.epochs):
            for _ in batches:
                count += 1
        seconds = time.perf_counter() - start
    print(
        f"{count} batches of {args.batch_size} x {shape[1:]} in {seconds:.2f} s: "
        f"{count / seconds:.0f} batches/s"
    )


if __name__ == "__main__":
    main()
