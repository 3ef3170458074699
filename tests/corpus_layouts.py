"""Write small corpora in the layouts users bring, from the demo corpus's audio."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from emotion_aware_loss.datasets import AudioCorpus

SHEMO_LETTER = {
    "anger": "A",
    "happiness": "H",
    "neutral": "N",
    "sadness": "S",
    "surprise": "W",
    "fear": "F",
}
SHEMO_WORD = {
    "anger": "angry",
    "happiness": "happy",
    "neutral": "neutral",
    "sadness": "sad",
    "surprise": "surprised",
    "fear": "fearful",
}


def write_shemo(corpus: AudioCorpus, folder: Path, fear_every: int = 0) -> dict:
    """ShEMO's release layout: ``female/``, ``male/`` wavs named like F21N37 + JSON.

    Every ``fear_every``-th utterance (when > 0) is relabelled fear, so the default
    ``drop: [fear]`` has something to drop. Returns the JSON records.
    """
    records = {}
    for i, row in corpus.manifest.iterrows():
        gender, code = row["speaker"][0], row["speaker"][1:]  # demo speakers: F01, M02
        label = "fear" if fear_every and i % fear_every == 0 else row["label"]
        name = f"{gender}{code}{SHEMO_LETTER[label]}{i:02d}"
        target = folder / ("female" if gender == "F" else "male") / f"{name}.wav"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(row["audio_path"], target)
        records[name] = {
            "speaker_id": f"{gender}{code}",
            "gender": gender,
            "emotion": SHEMO_WORD[label],
            "transcript": row["transcript"],
            "ipa": "",
        }
    (folder / "shemo.json").write_text(json.dumps(records, ensure_ascii=False))
    return records
