"""What the project's registries share: names, and the error for an unknown one.

Each extension point keeps a plain ``dict`` of name -> entry (the losses,
``losses.family.LOSS_REGISTRY``; the acoustic feature sets,
``config.feature_sets.FEATURE_SETS``; the similarity sources,
``losses.similarity.SIMILARITY_SOURCES``; the corpus layouts,
``corpora.layouts.LAYOUTS``), from which the configuration's checks, the dispatch,
the documentation's tables and the tests' parameters are read. These two functions
give every registry the same rules for a new name and the same message for an
unknown one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

T = TypeVar("T")


def check_new_name(table: Mapping[str, object], kind: str, name: str) -> None:
    """Refuse ``name`` for a new entry of ``table`` (a ``kind``, e.g. ``loss``).

    Raises:
        ValueError: If ``name`` is not a lower-case identifier or is taken.
    """
    if not name.isidentifier() or name != name.lower():
        raise ValueError(
            f"a {kind}'s name must be a lower-case identifier, got {name!r}"
        )
    if name in table:
        raise ValueError(f"a {kind} named {name!r} is already registered")


def lookup(table: Mapping[str, T], kind: str, name: str) -> T:
    """The entry ``name`` of ``table``.

    Raises:
        ValueError: If there is none, listing the names there are.
    """
    if name not in table:
        raise ValueError(f"unknown {kind} {name!r}; expected one of {sorted(table)}")
    return table[name]
