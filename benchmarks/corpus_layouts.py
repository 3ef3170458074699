"""The registered file-name layouts read against the development corpora's manifests.

For each corpus, every audio file is read through
``FileNameCorpusDataset(layout=...)`` and compared with the corpus's own manifest:
how many utterances agree on their label (after the manifest's words are mapped to
the layout's labels) and whether the speakers partition the utterances the same way
(the ids may be spelt differently).

    python benchmarks/corpus_layouts.py [--root ../shared/corpora]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

from emotion_aware_loss.datasets import FileNameCorpusDataset

# corpus folder, audio folder, layout, the manifest's label words -> the layout's
CORPORA = {
    "emodb_dev": ("wav", "emodb", {}),
    "ravdess_dev": (
        "wav",
        "ravdess",
        {
            "angry": "anger",
            "happy": "happiness",
            "sad": "sadness",
            "surprised": "surprise",
            "fearful": "fear",
        },
    ),
    "nemo_dev": ("audio", "nemo", {"surprised": "surprise"}),
}


def compare(root: Path, name: str) -> dict:
    audio, layout, words = CORPORA[name]
    manifest = pd.read_csv(root / name / "manifest.csv", dtype=str)
    start = time.perf_counter()
    corpus = FileNameCorpusDataset(path=str(root / name / audio), layout=layout).load()
    seconds = time.perf_counter() - start
    read = corpus.manifest.set_index("utterance_id")
    known = manifest.set_index("utterance_id").loc[read.index]
    labels = known["label"].map(lambda w: words.get(w, w))
    same_label = int((labels == read["label"]).sum())
    # the same partition: each manifest speaker is one layout speaker and back
    pairs = pd.DataFrame({"manifest": known["speaker"], "layout": read["speaker"]})
    one_to_one = (
        pairs.groupby("manifest")["layout"].nunique().eq(1).all()
        and pairs.groupby("layout")["manifest"].nunique().eq(1).all()
    )
    return {
        "files": len(read),
        "manifest rows": len(manifest),
        "same label": same_label,
        "speakers": pairs["layout"].nunique(),
        "same speakers": bool(one_to_one),
        "seconds": round(seconds, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path("../shared/corpora"))
    args = parser.parse_args()
    for name in CORPORA:
        print(name, compare(args.root, name))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
