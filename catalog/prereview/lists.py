"""The effective negative list as the checks use it: its entries by id and one compiled matcher."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from catalog.prereview.matching import Term, TermMatcher


@dataclass(frozen=True)
class ListEntry:
    id: str
    term: str
    category: str
    severity: str
    scope: str


@dataclass(frozen=True)
class NegativeList:
    version: str
    entries: dict[str, ListEntry]
    matcher: TermMatcher

    @classmethod
    def of(cls, version: str, entries: Iterable[ListEntry]) -> NegativeList:
        by_id = {entry.id: entry for entry in entries}
        return cls(version=version, entries=by_id,
                   matcher=TermMatcher(Term(key=e.id, text=e.term) for e in by_id.values()))
