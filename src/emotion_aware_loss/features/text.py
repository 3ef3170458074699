"""Transcript normalisation, tokenisation, vocabulary and token ids.

Token id 0 is padding and 1 is out-of-vocabulary; words start at 2.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np

PAD_ID = 0
OOV_ID = 1
RESERVED = 2

# Arabic code points that Persian text often carries in place of Persian letters;
# Arabic-Indic (U+0660-0669) and Persian (U+06F0-06F9) digits become ASCII digits,
# so a number is one token whichever digits were typed; tatweel (U+0640, a
# stretching stroke, not a letter) is dropped.
_PERSIAN_FOLD = str.maketrans(
    {
        "\u064a": "\u06cc",
        "\u0643": "\u06a9",
        "\u0649": "\u06cc",
        "\u0640": None,
        **{chr(0x0660 + d): str(d) for d in range(10)},
        **{chr(0x06F0 + d): str(d) for d in range(10)},
    }
)
_TOKEN = re.compile(r"\w+", re.UNICODE)
# Words, and each punctuation mark as a token of its own ("what ? !").
_TOKEN_OR_MARK = re.compile(r"\w+|[^\w\s]", re.UNICODE)


def normalise_text(text: str, lowercase: bool = True, punctuation: bool = False) -> str:
    """NFKC-normalise, fold Arabic yeh/kaf to Persian, drop diacritics and ZWNJ.

    Also drops tatweel and writes Arabic-Indic and Persian digits as ASCII ones.

    Args:
        text: A raw transcript.
        lowercase: Whether to case-fold.
        punctuation: Keep punctuation marks as tokens of their own; "?" and "!"
            carry emotion in transcripts (``preprocessing.text.punctuation``).

    Returns:
        The normalised transcript, tokens separated by single spaces.
    """
    text = unicodedata.normalize("NFKC", text).translate(_PERSIAN_FOLD)
    # Zero-width non-joiner joins parts of one Persian word: keep them together.
    text = text.replace("\u200c", "")
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Mn")
    if lowercase:
        text = text.casefold()
    return " ".join((_TOKEN_OR_MARK if punctuation else _TOKEN).findall(text))


def fit_vocabulary(
    texts: Iterable[str], max_size: int, min_count: int = 1
) -> list[str]:
    """Most frequent tokens (ties broken alphabetically), at most ``max_size``."""
    counts = Counter(token for text in texts for token in text.split())
    ranked = sorted(
        (tok for tok, c in counts.items() if c >= min_count),
        key=lambda tok: (-counts[tok], tok),
    )
    return ranked[:max_size]


def encode_texts(
    texts: Sequence[str], vocabulary: Sequence[str], max_tokens: int
) -> np.ndarray:
    """Map normalised texts to padded/truncated token-id rows.

    Returns:
        ``(n, max_tokens)`` int32 array; unknown tokens get ``OOV_ID`` and short
        texts are right-padded with ``PAD_ID``.
    """
    index = {tok: i + RESERVED for i, tok in enumerate(vocabulary)}
    ids = np.full((len(texts), max_tokens), PAD_ID, dtype=np.int32)
    for row, text in enumerate(texts):
        tokens = text.split()[:max_tokens]
        ids[row, : len(tokens)] = [index.get(tok, OOV_ID) for tok in tokens]
    return ids
