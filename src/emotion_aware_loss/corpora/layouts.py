"""Corpus layouts: corpora whose audio file names carry each utterance's emotion.

Many acted-emotion corpora ship no table: the file name says who spoke and which
emotion was acted (EmoDB's ``03a01Fa.wav``, RAVDESS's ``03-01-05-01-02-01-12.wav``).
A :class:`FileNameLayout` reads such names with a regular expression; the registry
:data:`LAYOUTS` holds the layouts of known corpora, which
:class:`emotion_aware_loss.datasets.FileNameCorpusDataset` reads by name
(``layout: emodb``), and a catalog entry may write its own (``pattern:`` and
``labels:``). A new layout is one :func:`register_layout` call:

    register_layout(
        "my_corpus",
        pattern=r"^(?P<speaker>spk\\d+)_(?P<label>[a-z]+)_\\d+$",
        labels={"ang": "anger", "hap": "happiness", "sad": "sadness"},
        example="spk01_ang_003",
    )

Labels are the project's class names where the corpus has the emotion, and the
corpus's own word otherwise (``boredom``, ``calm``, ``disgust``, ``fear``), which
``preprocessing.labels.drop`` leaves out or ``preprocessing.labels.mapping`` renames.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

from emotion_aware_loss.corpora.corpus import CorpusError
from emotion_aware_loss.registry import check_new_name, lookup


@dataclass(frozen=True)
class FileNameLayout:
    """How a corpus's file names (without their extension) name its utterances.

    Attributes:
        name: The layout's name (``layout:`` in the catalog).
        pattern: A regular expression matched against the whole file name without
            its extension, with a named group ``label`` and, where the name says
            who spoke, the groups :attr:`speaker` formats.
        labels: The ``label`` group's values -> labels.
        speaker: The speaker id, a format string over the named groups (e.g.
            ``"{gender}{number}"``); empty: the name does not say (every utterance
            then has the empty speaker, and folds cannot be speaker-independent).
        ignore_case: Read the name in capitals (the groups, and so the speaker
            ids and codes, are upper-case; the utterance id keeps the file's case).
        example: A file name of the layout (documentation and tests).
        reference: The corpus the layout is from.
    """

    name: str
    pattern: str
    labels: dict[str, str]
    speaker: str = "{speaker}"
    ignore_case: bool = False
    example: str = ""
    reference: str = ""

    def __post_init__(self) -> None:
        try:
            compiled = self._regex
        except re.error as exc:
            raise ValueError(
                f"layout {self.name!r}: pattern does not compile: {exc}"
            ) from exc
        if "label" not in compiled.groupindex:
            raise ValueError(
                f"layout {self.name!r}: the pattern needs a named group 'label', "
                f"e.g. (?P<label>[A-Z]); it has {sorted(compiled.groupindex)}"
            )
        unknown = sorted(
            set(re.findall(r"{(\w+)}", self.speaker)) - set(compiled.groupindex)
        )
        if unknown:
            raise ValueError(
                f"layout {self.name!r}: speaker {self.speaker!r} names group(s) "
                f"{unknown} the pattern does not have ({sorted(compiled.groupindex)})"
            )
        if not self.labels:
            raise ValueError(f"layout {self.name!r}: labels maps no code to a label")

    @cached_property
    def _regex(self) -> re.Pattern[str]:
        return re.compile(self.pattern, re.IGNORECASE if self.ignore_case else 0)

    @cached_property
    def _codes(self) -> dict[str, str]:
        if not self.ignore_case:
            return dict(self.labels)
        return {code.upper(): label for code, label in self.labels.items()}

    def utterance(self, stem: str, source: str = "") -> dict[str, str]:
        """``utterance_id``, ``speaker`` and ``label`` of the file named ``stem``.

        Raises:
            CorpusError: If the name does not match the pattern or its code has no
                label (naming ``source``, the file).
        """
        match = self._regex.fullmatch(stem.upper() if self.ignore_case else stem)
        where = source or stem
        if match is None:
            example = f" (e.g. {self.example})" if self.example else ""
            raise CorpusError(
                f"{where}: the file name {stem!r} is not of the {self.name!r} "
                f"layout{example}: {self.pattern}"
            )
        code = match["label"]
        if code not in self._codes:
            raise CorpusError(
                f"{where}: the emotion code {match['label']!r} of {stem!r} is not "
                f"one of the {self.name!r} layout's {sorted(self.labels)}"
            )
        groups = {k: v or "" for k, v in match.groupdict().items()}
        return {
            "utterance_id": stem,
            "speaker": self.speaker.format(**groups),
            "label": self._codes[code],
        }


LAYOUTS: dict[str, FileNameLayout] = {}


def register_layout(name: str, **settings: object) -> FileNameLayout:
    """Register the file-name layout ``name`` (``settings``: the fields of
    :class:`FileNameLayout` but its name).

    Raises:
        ValueError: If ``name`` is taken or not a lower-case identifier, or the
            layout is malformed.
    """
    check_new_name(LAYOUTS, "corpus layout", name)
    LAYOUTS[name] = FileNameLayout(name, **settings)  # type: ignore[arg-type]
    return LAYOUTS[name]


def corpus_layout(name: str) -> FileNameLayout:
    """The registered layout ``name``.

    Raises:
        ValueError: If none has that name, listing those that have.
    """
    return lookup(LAYOUTS, "corpus layout", name)


register_layout(
    "emodb",
    # speaker, text code, emotion letter (German initials), version
    pattern=r"^(?P<speaker>\d{2})(?P<text>[a-z]\d{2})(?P<label>[WLEAFTN])(?P<version>[a-z])$",
    labels={
        "W": "anger",
        "L": "boredom",
        "E": "disgust",
        "A": "fear",
        "F": "happiness",
        "T": "sadness",
        "N": "neutral",
    },
    example="03a01Fa",
    reference="Berlin EmoDB, Burkhardt et al., Interspeech 2005",
)
register_layout(
    "ravdess",
    # modality, vocal channel, emotion, intensity, statement, repetition, actor
    pattern=(
        r"^(?P<modality>\d{2})-(?P<channel>\d{2})-(?P<label>\d{2})-(?P<intensity>\d{2})"
        r"-(?P<statement>\d{2})-(?P<repetition>\d{2})-(?P<speaker>\d{2})$"
    ),
    labels={
        "01": "neutral",
        "02": "calm",
        "03": "happiness",
        "04": "sadness",
        "05": "anger",
        "06": "fear",
        "07": "disgust",
        "08": "surprise",
    },
    example="03-01-05-01-02-01-12",
    reference="RAVDESS, Livingstone and Russo, PLoS ONE 2018",
)
register_layout(
    "nemo",
    pattern=r"^(?P<speaker>[A-Z]{2}\d)_(?P<label>[a-z]+)_(?P<index>\d+)$",
    labels={
        "anger": "anger",
        "fear": "fear",
        "happiness": "happiness",
        "neutral": "neutral",
        "sadness": "sadness",
        "surprised": "surprise",
    },
    example="EB0_anger_1",
    reference="nEMO, Christop, LREC-COLING 2024",
)
register_layout(
    "shemo",
    # gender, speaker number, emotion letter, index
    pattern=r"^(?P<gender>[FM])(?P<number>\d+)(?P<label>[AHNSWF])(?P<index>\d+)$",
    labels={
        "A": "anger",
        "H": "happiness",
        "N": "neutral",
        "S": "sadness",
        "W": "surprise",
        "F": "fear",
    },
    speaker="{gender}{number}",
    ignore_case=True,
    example="F21N37",
    reference="ShEMO, Mohammad Nezami et al., Language Resources and Evaluation 2019",
)
