import numpy as np

from emotion_aware_loss.features.text import (
    OOV_ID,
    PAD_ID,
    encode_texts,
    fit_vocabulary,
    normalise_text,
)


def test_normalise_english_and_persian():
    assert normalise_text("Hello, WORLD!  It's me.") == "hello world it s me"
    # Arabic yeh/kaf become Persian ones; ZWNJ joins; diacritics (fatha) dropped.
    assert normalise_text(
        "\u0643\u062a\u0627\u0628 \u0645\u064a\u200c\u0631\u0648\u0645"
    ) == ("\u06a9\u062a\u0627\u0628 \u0645\u06cc\u0631\u0648\u0645")
    assert normalise_text("\u0628\u064e\u0627") == "\u0628\u0627"
    assert normalise_text("Keep Case", lowercase=False) == "Keep Case"


def test_tatweel_and_digits_are_folded():
    kitab = "\u06a9\u062a\u0627\u0628"
    # tatweel stretches a word without changing it
    assert normalise_text("\u06a9\u0640\u0640\u062a\u0627\u0628") == kitab
    # Arabic-Indic, Persian and ASCII digits: one token
    arabic_indic = "\u0661\u0662\u0660"  # ١٢٠
    persian = "\u06f1\u06f2\u06f0"  # ۱۲۰
    assert normalise_text(f"{arabic_indic} {kitab}") == f"120 {kitab}"
    assert normalise_text(persian) == normalise_text(arabic_indic) == "120"
    assert normalise_text("\u0660\u0669\u06f0\u06f9") == "0909"


def test_vocabulary_is_frequency_ranked_and_capped():
    vocab = fit_vocabulary(["a b b", "c b a", "d"], max_size=2)
    assert vocab == ["b", "a"]
    assert fit_vocabulary(["a b b", "c"], max_size=10, min_count=2) == ["b"]


def test_encode_pads_truncates_and_marks_unknown_words():
    ids = encode_texts(["b a zzz", "a a a a a"], ["b", "a"], max_tokens=4)
    assert ids.dtype == np.int32
    assert ids[0].tolist() == [2, 3, OOV_ID, PAD_ID]
    assert ids[1].tolist() == [3, 3, 3, 3]


def test_punctuation_marks_can_be_kept_as_tokens():
    assert normalise_text("You did WHAT?!", punctuation=True) == "you did what ? !"
    assert normalise_text("You did WHAT?!") == "you did what"
    # Persian question mark and the Arabic comma are marks too
    assert normalise_text("چی؟ نه، نه", punctuation=True) == "چی ؟ نه ، نه"
