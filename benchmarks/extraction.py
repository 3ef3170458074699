"""Acoustic feature extraction throughput on the demo corpus (prints figures).

    python benchmarks/extraction.py [--utterances 1000] [--jobs 1 2]
        [--workers threads processes] [--feature logmel]

Reports utterances per second and the real-time factor (processing time / audio
duration; below 1 is faster than real time) of the preprocessing node that the
pipeline runs, for each worker count and kind (``acoustic.workers``; one worker
runs in the calling thread either way), and of a plain per-file loop on the same
files (``librosa.load`` then ``librosa.feature.mfcc`` with librosa's defaults at
16 kHz), with the ratio of the two rates. Run by hand; not a test.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import librosa
import numpy as np
import soundfile as sf

from emotion_aware_loss.config import AcousticConfig, LabelConfig, TextConfig
from emotion_aware_loss.datasets import DemoCorpusDataset
from emotion_aware_loss.features.extraction import extract_acoustic_features
from emotion_aware_loss.folds.model_inputs import prepare_utterances

CLASSES = ["anger", "surprise", "happiness", "sadness", "neutral"]


def per_file_loop(paths: list[str]) -> list[np.ndarray]:
    """The usual baseline: load and compute MFCCs one file at a time."""
    features = []
    for path in paths:
        signal, rate = librosa.load(path, sr=16000)
        features.append(librosa.feature.mfcc(y=signal, sr=rate, n_mfcc=13))
    return features


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--utterances", type=int, default=1000)
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--workers", nargs="+", default=["threads", "processes"])
    parser.add_argument("--feature", default="logmel")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        corpus = DemoCorpusDataset(folder, n_utterances=args.utterances, seed=7).load()
        seconds = sum(sf.info(p).duration for p in corpus.manifest["audio_path"])
        table, _ = prepare_utterances(corpus, CLASSES, TextConfig(), LabelConfig())
        warm = AcousticConfig(feature=args.feature)
        extract_acoustic_features(
            corpus.select(table["utterance_id"][:4].tolist()), table[:4], warm
        )
        print(
            f"{args.utterances} utterances, {seconds / 60:.1f} min of audio, "
            f"feature={args.feature}, {os.cpu_count()} CPU cores"
        )
        start = time.perf_counter()
        per_file_loop(list(corpus.manifest["audio_path"]))
        loop_rate = args.utterances / (time.perf_counter() - start)
        print(
            f"per-file librosa.load + mfcc loop: {loop_rate:.0f} utterances/s, "
            f"real-time factor {args.utterances / loop_rate / seconds:.4f}"
        )
        reference = None
        settings = [
            (jobs, workers)
            for jobs in args.jobs
            for workers in (args.workers[:1] if jobs == 1 else args.workers)
        ]
        for jobs, workers in settings:
            config = AcousticConfig(feature=args.feature, n_jobs=jobs, workers=workers)
            start = time.perf_counter()
            features, _ = extract_acoustic_features(corpus, table, config)
            elapsed = time.perf_counter() - start
            if reference is None:
                reference = features
            same = np.array_equal(features, reference)
            kind = "" if jobs == 1 else f" ({workers})"
            print(
                f"n_jobs={jobs}{kind}: {elapsed:.1f} s, {args.utterances / elapsed:.0f} "
                f"utterances/s, real-time factor {elapsed / seconds:.4f}, "
                f"identical features: {same}, "
                f"{args.utterances / elapsed / loop_rate:.2f}x the per-file loop"
            )


if __name__ == "__main__":
    main()
