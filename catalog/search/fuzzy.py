"""Typo, homophone and rephrasing tolerance against the index's own vocabulary of subject terms.

A ``TermVocabulary`` is built from the completion terms an index holds (keywords, chapter and section
topics, vocabulary values — ``analysis.suggestion_terms`` — with the number of documents carrying
each), so it knows the topics of the node's chapter/section tree and nothing else. It answers two
questions for the query parser:

* ``corrections(text)``: stretches of the query that are no term and no part of one but one
  character away from a term of 3 or more characters — a homophone or near-homophone typed through
  a pinyin input method (same pinyin with or without tone, or the same after the usual confusions
  z/zh, c/ch, s/sh, n/l, in/ing, en/eng, an/ang), or for terms of 4 or more characters any one
  character substituted, added or dropped. Each correction has a grade (homophone first);
* ``topics(piece)``: chapter/section topics that a free-text piece names in other words — another
  word order, 的 or 与 dropped or added, a near-synonym of a method or relation word (解法 for 解,
  判断 for 判定, 图像 for 图象: ``catalog/data/topic_words.json``), or a topic named inside a
  longer piece (勾股定理的实际应用 → 勾股定理).

Both only propose *alternatives*: the backends match them with less weight than what was typed.
"""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from pypinyin import Style, pinyin

DATA = Path(__file__).resolve().parents[1] / "data" / "topic_words.json"
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_HAN_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
TOPIC_PARENT_SEP = "\x1f"  # as ``analysis.topic_parent`` writes it
MIN_TYPO_LENGTH = 3  # homophone corrections: terms of at least this many characters
MIN_EDIT_LENGTH = 4  # any one-character edit: terms of at least this many characters
MAX_TERM_LENGTH = 24
MIN_TOPIC_LENGTH = 3  # a topic found inside a longer piece
MAX_PART_LENGTH = 8  # longest stretch of a term a typo is matched against
SIMILAR_TOPIC_DICE = 0.72  # bigram similarity of two topic signatures that name the same thing
# Grades of a correction, best first.
HOMOPHONE, TONELESS, CONFUSABLE, EDIT = 3, 2, 1, 0
# Initials and finals a pinyin typist confuses, folded onto one spelling.
_INITIALS = (("zh", "z"), ("ch", "c"), ("sh", "s"), ("l", "n"))
_FINALS = (("iang", "ian"), ("uang", "uan"), ("ang", "an"), ("eng", "en"), ("ing", "in"))


@lru_cache(maxsize=65536)
def readings(char: str) -> tuple[str, ...]:
    """Every pinyin reading of one character with its tone number (``shu4``), heteronyms included;
    empty for a character that is not Han."""
    if not _HAN.fullmatch(char):
        return ()
    found = pinyin(char, style=Style.TONE3, heteronym=True, errors="ignore", neutral_tone_with_five=True)
    return tuple(dict.fromkeys(r for group in found for r in group if r))


def _toneless(reading: str) -> str:
    return reading.rstrip("012345")


def fold(reading: str) -> str:
    """A reading without tone, with the confusable initials and finals merged (zhi → zi, ling → nin)."""
    out = _toneless(reading)
    for long, short in _INITIALS:
        if out.startswith(long):
            out = short + out[len(long):]
            break
    for long, short in _FINALS:
        if out.endswith(long):
            out = out[: -len(long)] + short
            break
    return out


@lru_cache(maxsize=65536)
def folded(char: str) -> frozenset[str]:
    return frozenset(fold(r) for r in readings(char))


def sound_grade(typed: str, term: str) -> int | None:
    """How alike two characters sound: HOMOPHONE (a reading with the same tone), TONELESS, CONFUSABLE,
    or None."""
    a, b = readings(typed), readings(term)
    if not a or not b:
        return None
    if set(a) & set(b):
        return HOMOPHONE
    if {_toneless(r) for r in a} & {_toneless(r) for r in b}:
        return TONELESS
    if folded(typed) & folded(term):
        return CONFUSABLE
    return None


# --- topic signatures -------------------------------------------------------------------------------

@dataclass(frozen=True)
class _TopicWords:
    stop: frozenset[str]
    canonical: dict[str, str]  # term → canonical
    max_length: int


@cache
def topic_words() -> _TopicWords:
    data = json.loads(DATA.read_text(encoding="utf-8"))
    canonical = {term: group["canonical"] for group in data["groups"] for term in group["terms"]}
    return _TopicWords(frozenset(data["stop_chars"]), canonical, max(map(len, canonical)))


@lru_cache(maxsize=8192)
def signature(text: str) -> str:
    """A topic as compared: near-synonyms of method and relation words replaced by one form (longest
    first), then stop characters (的, 与, punctuation, spaces) dropped."""
    words = topic_words()
    out: list[str] = []
    i = 0
    while i < len(text):
        for length in range(min(words.max_length, len(text) - i), 0, -1):
            replacement = words.canonical.get(text[i:i + length])
            if replacement is not None:
                out.append(replacement)
                i += length
                break
        else:
            out.append(text[i])
            i += 1
    return "".join(c for c in "".join(out) if c not in words.stop)


def _bigrams(text: str) -> Counter[str]:
    return Counter(text[i:i + 2] for i in range(len(text) - 1))


def _dice(a: Counter[str], b: Counter[str]) -> float:
    total = sum(a.values()) + sum(b.values())
    return 2 * sum((a & b).values()) / total if total else 0.0


# --- the vocabulary ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Correction:
    typed: str  # the stretch of the query as typed
    term: str  # the vocabulary term it most likely means
    start: int  # where ``typed`` starts in the text given to ``corrections``
    grade: int


class TermVocabulary:
    """The subject terms of an index (normalized text → number of documents), with the lookup tables
    for corrections and topics. Build one per index generation; it is read-only afterwards."""

    def __init__(self, counts: Mapping[str, int], parents: Mapping[str, Iterable[str]] | None = None) -> None:
        self.counts = {t: n for t, n in counts.items() if n > 0 and 2 <= len(t) <= MAX_TERM_LENGTH}
        # section topic → the chapter topics it is filed under (the index's chapter/section tree)
        self.parents = {s: tuple(sorted(set(p))) for s, p in (parents or {}).items()}
        self.parsed: dict[str, Any] = {}  # the query parser's cache for this vocabulary
        self.known: set[str] = set()  # every stretch of 2+ characters of a term
        # Stretches of terms a typo may hit (光和作用 for the 光合作用 of 光合作用与能量转化), with the
        # documents of the terms holding them; whole terms are preferred.
        self._parts: Counter[str] = Counter()
        self._by_sound: dict[tuple[str, str], list[str]] = {}
        self._by_mask: dict[str, list[str]] = {}
        self._by_deletion: dict[str, list[str]] = {}
        self._topics: dict[str, list[str]] = {}  # signature → topics
        self._anagrams: dict[str, list[str]] = {}  # sorted signature → topics
        self._by_char: dict[str, set[str]] = {}  # character of a signature → signatures
        self._by_bigram: dict[str, set[str]] = {}  # bigram of a signature → signatures
        stop = topic_words().stop
        for term, n in self.counts.items():
            for run in _HAN_RUN.findall(term):
                for i in range(len(run)):
                    for j in range(i + 2, len(run) + 1):
                        self.known.add(run[i:j])
                        part = run[i:j]
                        if (MIN_TYPO_LENGTH <= len(part) <= MAX_PART_LENGTH and part != term
                                and part[0] not in stop and part[-1] not in stop):
                            self._parts[part] += n
            sig = signature(term)
            if len(sig) >= 2:
                self._topics.setdefault(sig, []).append(term)
                self._anagrams.setdefault("".join(sorted(sig)), []).append(term)
                for char in sig:
                    self._by_char.setdefault(char, set()).add(sig)
                for gram in _bigrams(sig):
                    self._by_bigram.setdefault(gram, set()).add(sig)
            if _HAN_RUN.fullmatch(term) and len(term) >= MIN_EDIT_LENGTH:
                for i in range(1, len(term) - 1):
                    self._by_mask.setdefault(term[:i] + "\0" + term[i + 1:], []).append(term)
                    if term[i] not in stop:  # a dropped 的 is a rephrasing (see topics), not a typo
                        self._by_deletion.setdefault(term[:i] + term[i + 1:], []).append(term)
        self._targets = {**self._parts, **{t: n for t, n in self.counts.items() if _HAN_RUN.fullmatch(t)}}
        for target in self._targets:
            if len(target) >= MIN_TYPO_LENGTH:
                for i, char in enumerate(target):
                    masked = target[:i] + "\0" + target[i + 1:]
                    for sound in folded(char):
                        self._by_sound.setdefault((masked, sound), []).append(target)

    def __len__(self) -> int:
        return len(self.counts)

    def spelled(self, piece: str) -> tuple[str, ...]:
        """The piece itself when it is a section topic as typed."""
        return (piece,) if piece in self.parents else ()

    def is_known(self, text: str) -> bool:
        """Whether ``text`` is a term or a stretch of one."""
        return text in self.known or text in self.counts

    # --- typos
    def _candidates(self, window: str) -> list[tuple[int, str]]:
        found: dict[str, int] = {}

        def take(term: str, grade: int) -> None:
            if term != window and grade > found.get(term, -1):
                found[term] = grade

        stop = topic_words().stop
        for i, char in enumerate(window):
            masked = window[:i] + "\0" + window[i + 1:]
            for sound in folded(char):
                for term in self._by_sound.get((masked, sound), ()):
                    grade = sound_grade(char, term[i])
                    if grade is not None:
                        take(term, grade)
            if 0 < i < len(window) - 1:
                for term in self._by_mask.get(masked, ()):
                    take(term, EDIT)
                shorter = window[:i] + window[i + 1:]  # one character too many (not a stray 的)
                if char not in stop and len(shorter) >= MIN_EDIT_LENGTH and shorter in self.counts:
                    take(shorter, EDIT)
        for term in self._by_deletion.get(window, ()):  # one character missing
            take(term, EDIT)
        return sorted(((g, t) for t, g in found.items()),
                      key=lambda gt: (-gt[0], gt[1] not in self.counts, -self._targets.get(gt[1], 0), gt[1]))

    def corrections(self, text: str, *, limit: int = 2) -> list[list[Correction]]:
        """Non-overlapping corrections of ``text`` (longest stretches first); for each corrected stretch,
        up to ``limit`` terms, best first. Stretches that are terms or parts of terms are left alone."""
        out: list[list[Correction]] = []
        taken: list[tuple[int, int]] = []
        for run in _HAN_RUN.finditer(text):
            chars = run.group()
            if len(chars) < MIN_TYPO_LENGTH or self.is_known(chars):
                continue
            for length in range(min(len(chars), MAX_TERM_LENGTH), MIN_TYPO_LENGTH - 1, -1):
                for i in range(len(chars) - length + 1):
                    start = run.start() + i
                    if any(start < e and s < start + length for s, e in taken):
                        continue
                    window = chars[i:i + length]
                    if self.is_known(window):
                        continue
                    candidates = self._candidates(window)
                    if not candidates:
                        continue
                    best = candidates[0][0]
                    out.append([Correction(window, term, start, grade)
                                for grade, term in candidates[:limit] if grade == best])
                    taken.append((start, start + length))
        out.sort(key=lambda group: group[0].start)
        return out

    # --- topics
    def is_term(self, text: str) -> bool:
        """Whether ``text`` is a whole term of the index (a topic, keyword or vocabulary value)."""
        return text in self.counts

    def topics(self, piece: str, *, limit: int = 3, near: bool = True, similar: bool = True,
               inner: bool = True) -> tuple[str, ...]:
        """Topics (terms) that ``piece`` names in other words, most documents first; empty when the
        piece occurs in a term as typed (then the text itself matches). Without ``near``, only topics
        with the same characters (another order, stop characters and near-synonyms aside); without
        ``similar``, no topic that merely shares most bigrams with the piece (it must hold all of the
        piece's characters); without ``inner``, no topic written inside a longer piece (the piece must
        name the topic as a whole)."""
        if self.is_known(piece) or len(piece) < 2:
            return ()
        sig = signature(piece)
        if len(sig) < 2:
            return ()
        found: list[str] = list(self._topics.get(sig, ()))
        found += self._anagrams.get("".join(sorted(sig)), ())
        if not found and near and len(sig) >= MIN_TOPIC_LENGTH:
            found += self._near_topics(sig, similar=similar)
        if not found and inner:
            found += self._inner_topics(sig)
        ranked = sorted(dict.fromkeys(t for t in found if t != piece),
                        key=lambda t: (-self.counts[t], len(t), t))
        return tuple(ranked[:limit])

    def _near_topics(self, sig: str, *, similar: bool = True) -> list[str]:
        """Topics holding every character of ``sig`` (in any order, 有理数加减 → 有理数的加减法, 物体沉浮条件 →
        物体的浮沉条件及应用) when ``sig`` is most of them, or sharing most bigrams with it (one word
        replaced by a near-synonym the word list lacks)."""
        wanted = Counter(sig)
        holders: set[str] | None = None
        for char in wanted:
            holders = set(self._by_char.get(char, ())) if holders is None else holders & self._by_char.get(char, set())
            if not holders:
                break
        out = [t for other in holders or () if sig in other or (
            len(sig) >= MIN_EDIT_LENGTH and len(sig) >= 0.6 * len(other) and not wanted - Counter(other))
            for t in self._topics[other]]
        if similar and len(sig) >= 5:
            grams = _bigrams(sig)
            near: set[str] = set()
            for gram in grams:
                near |= self._by_bigram.get(gram, set())
            out += [t for other in near if len(other) >= 5 and _dice(grams, _bigrams(other)) >= SIMILAR_TOPIC_DICE
                    for t in self._topics[other]]
        return out

    def _inner_topics(self, sig: str) -> list[str]:
        """The longest topics written inside ``sig`` (勾股定理实际应用 → 勾股定理)."""
        out: list[str] = []
        covered: list[tuple[int, int]] = []
        for length in range(len(sig) - 1, MIN_TOPIC_LENGTH - 1, -1):
            for i in range(len(sig) - length + 1):
                if any(i < e and s < i + length for s, e in covered):
                    continue
                terms = self._topics.get(sig[i:i + length])
                if terms:
                    out += terms
                    covered.append((i, i + length))
        return out


_built: dict[frozenset[str], TermVocabulary] = {}
_built_lock = threading.Lock()  # a web process's threads search at once
_BUILT_KEPT = 4


def term_vocabulary(terms: Iterable[tuple[str, int]], parents: Iterable[str] = ()) -> TermVocabulary:
    """The vocabulary of these (term, documents) pairs. Indexing changes the counts all the time and
    the set of terms rarely, so a vocabulary is rebuilt only when the set changed (counts only rank
    candidates: the ones it was built with will do). Kept per process for the last few term sets."""
    counts = dict(terms)
    tree: dict[str, list[str]] = {}
    for pair in parents:
        section, _, chapter = pair.partition(TOPIC_PARENT_SEP)
        if section and chapter:
            tree.setdefault(section, []).append(chapter)
    key = frozenset(counts) | frozenset(f"{TOPIC_PARENT_SEP}{p}" for p in parents)
    with _built_lock:
        vocabulary = _built.get(key)
    if vocabulary is None:
        vocabulary = TermVocabulary(counts, tree)  # outside the lock: the other threads need not wait
        with _built_lock:
            while len(_built) >= _BUILT_KEPT:
                _built.pop(next(iter(_built)))
            _built[key] = vocabulary
    return vocabulary


EMPTY_VOCABULARY = TermVocabulary({})
