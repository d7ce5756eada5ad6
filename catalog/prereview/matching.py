"""Finding negative-list terms in text, through the common evasions.

Text and terms are compared in a **folded** form, character by character:

1. NFKC (full-width ``ＡＢＣ１`` → ``ABC1``, compatibility forms such as ``㊙`` → ``秘``, ligatures);
2. case folding;
3. characters that people insert between the letters of a word to hide it are dropped: white space
   (ideographic space included), punctuation, symbols, control and format characters (zero-width
   space and joiners, soft hyphen, bidirectional marks) and variation selectors;
4. traditional characters become simplified ones (OpenCC's ``t2s`` table, asked one character at a
   time so every character of the original keeps its place: ``違禁詞`` → ``违禁词``).

Each character folds independently, so the folded text is ``"".join(fold(c) for c in text)`` and a hit
in it maps back to a span of the original (for the snippet the reviewer sees). Folding uses a
translation table filled lazily per distinct character, so long texts fold at ``str.translate``
speed. Matching is Aho–Corasick (pyahocorasick) over the folded terms: every term in one pass.

A term that folds to ASCII letters and digits only (``sex``) must stand as a word in the original:
the characters right before and after the hit may not be ASCII letters or digits, so ``Sussex`` and
``class`` do not match ``sex`` and ``ass`` (the Scunthorpe problem), while ``s e x`` and ``S.E.X``
still do. Chinese has no spaces between words, so other terms match anywhere.

Pure Python without Django: the pre-review worker and the tests use it as it is.
"""

from __future__ import annotations

import threading
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import ahocorasick
import opencc

#: Unicode general categories dropped by folding: separators, punctuation, symbols, control and format
#: characters (zero-width space U+200B, zero-width (non-)joiner, word joiner, soft hyphen, bidi marks).
DROPPED_CATEGORIES = frozenset({"Zs", "Zl", "Zp", "Cc", "Cf", "Pc", "Pd", "Ps", "Pe", "Pi", "Pf", "Po",
                                "Sm", "Sc", "Sk", "So"})
#: Non-spacing marks that only select a glyph variant or join graphemes (not letters' accents).
DROPPED_MARKS = frozenset({"\u034f", *map(chr, range(0xFE00, 0xFE10)), "\u180b", "\u180c", "\u180d", "\u180e",
                           "\u3164", "\uffa0", "\u115f", "\u1160"})
#: Characters of a snippet shown either side of a hit.
SNIPPET_CONTEXT = 24
#: Hits reported per field (the count goes on).
MAX_HITS_PER_TEXT = 20

_lock = threading.Lock()
_table: dict[int, str | None] = {}
_known: set[str] = set()


@cache
def _t2s() -> Any:
    return opencc.OpenCC("t2s")


def fold_char(char: str) -> str:
    """What one character becomes in the folded form (possibly nothing, possibly several characters)."""
    out = []
    for piece in unicodedata.normalize("NFKC", char).casefold():
        if unicodedata.category(piece) in DROPPED_CATEGORIES or piece in DROPPED_MARKS:
            continue
        simplified = _t2s().convert(piece) if ord(piece) >= 0x2E80 else piece
        out.append(simplified if len(simplified) == 1 else piece)
    return "".join(out)


def _learn(text: str) -> None:
    unseen = set(text) - _known
    if not unseen:
        return
    with _lock:
        for char in unseen:
            folded = fold_char(char)
            if folded != char:
                _table[ord(char)] = folded or None
            _known.add(char)


def fold(text: str) -> str:
    """The folded form of ``text`` (see the module docstring)."""
    _learn(text)
    return text.translate(_table)


def _folded_length(char: str) -> int:
    mapped = _table.get(ord(char), char)
    return 0 if mapped is None else len(mapped)


def original_spans(text: str, spans: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """Map ``(start, end)`` spans of ``fold(text)`` to spans of ``text`` (one pass for all of them)."""
    _learn(text)
    # The original character whose folded form holds folded position p, for the first and the last
    # folded character of every span.
    wanted = sorted({point for start, end in spans for point in (start, max(start, end - 1))})
    found: dict[int, int] = {}
    position = 0
    index = 0
    for original, char in enumerate(text):
        length = _folded_length(char)
        while index < len(wanted) and wanted[index] < position + length:
            found[wanted[index]] = original
            index += 1
        if index == len(wanted):
            break
        position += length
    for point in wanted[index:]:
        found[point] = len(text)
    return [(found[start], min(len(text), found[max(start, end - 1)] + 1)) for start, end in spans]


def snippet(text: str, start: int, end: int, *, context: int = SNIPPET_CONTEXT) -> str:
    """The hit ``text[start:end]`` with a little context, on one line, ellipsised: never the whole text."""
    before = text[max(0, start - context):start]
    after = text[end:end + context]
    shown = " ".join((before + "【" + text[start:end] + "】" + after).split())
    shown = "".join(f"[U+{ord(c):04X}]" if unicodedata.category(c) in ("Cc", "Cf") else c for c in shown)
    return ("…" if start > context else "") + shown + ("…" if end + context < len(text) else "")


def _is_ascii_word(folded: str) -> bool:
    return folded.isascii() and folded.isalnum()


def _ascii_alnum(char: str) -> bool:
    return char.isascii() and char.isalnum()


@dataclass(frozen=True)
class Term:
    """A term to look for; ``key`` identifies it to the caller (an entry id)."""

    key: str
    text: str


@dataclass(frozen=True)
class Hit:
    key: str
    start: int  # in the original text
    end: int
    snippet: str


class TermMatcher:
    """Every term of a list, compiled once; ``find`` reports where they occur in a text."""

    def __init__(self, terms: Iterable[Term]) -> None:
        self._automaton = ahocorasick.Automaton()
        self.size = 0
        by_folded: dict[str, list[str]] = {}
        for term in terms:
            folded = fold(term.text)
            if folded:
                by_folded.setdefault(folded, []).append(term.key)
        for folded, keys in by_folded.items():
            self._automaton.add_word(folded, (folded, tuple(keys)))
            self.size += 1
        if self.size:
            self._automaton.make_automaton()

    def find(self, text: str, *, max_hits: int = MAX_HITS_PER_TEXT) -> tuple[list[Hit], int]:
        """The hits in ``text`` (at most ``max_hits``, in order) and how many there are in all."""
        if not self.size or not text:
            return [], 0
        folded = fold(text)
        raw: list[tuple[int, int, str, tuple[str, ...]]] = []
        for last, (term, keys) in self._automaton.iter(folded):
            raw.append((last + 1 - len(term), last + 1, term, keys))
        if not raw:
            return [], 0
        spans = original_spans(text, [(start, end) for start, end, _, _ in raw])
        hits: list[Hit] = []
        total = 0
        for (_, _, term, keys), (start, end) in zip(raw, spans, strict=True):
            if _is_ascii_word(term) and ((start > 0 and _ascii_alnum(text[start - 1]))
                                         or (end < len(text) and _ascii_alnum(text[end]))):
                continue
            total += len(keys)
            for key in keys:
                if len(hits) < max_hits:
                    hits.append(Hit(key=key, start=start, end=end, snippet=snippet(text, start, end)))
        return hits, total
