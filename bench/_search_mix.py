"""A realistic mix of search requests for the search API load benchmark (``search_api_bench.py``).

The requests are made from what a node holds, not from a fixed list: the textbook paths (stage, subject,
edition, grade, volume), chapters and sections of its published resources (``Book`` rows, read by the
benchmark from the catalog). A seeded generator combines them the way teachers type:

* ``topic``: a chapter or section name without its number (``第十四章 内能的利用`` → ``内能的利用``);
* ``topic_word``: a topic and a resource-type or occasion word (``热机 课件``, ``热机公开课``);
* ``book_topic``: grade, subject, stage or edition words and a topic (``九年级物理 热机``, ``人教版 热机``);
* ``book``: textbook words and a resource-type or occasion word, no topic (``人教版七年级数学上册 课件``,
  ``初二物理 期末复习``): every word is vocabulary (edition, grade, subject, volume, type);
* ``typo``: one of the above with one character changed: a homophone from the node's own topics
  (pypinyin, tones ignored), else a character dropped or two swapped;
* ``refine``: a topic with one or two facet filters, as after clicking a facet (resource type, subject);
* ``browse``: no text, 1–5 facet filters along a textbook path (and maybe the resource type), sorted by
  newest or downloads.

The kinds are drawn with the shares of ``KINDS`` and repeats are dropped, so a kind with few distinct
requests (a topic alone, on a small node) ends up rarer in the pool than its share; the pool's counts
per kind are reported.

Which request is popular is not known: the pool's order (the order the seeded generator made the
requests, so random as to kind and topic) is the popularity rank, and a sequence draws rank r with
weight 1/r^s (Zipf). Query logs of search engines are commonly modelled as Zipf-like (a few queries
very frequent, a long tail asked once); that this node's teachers behave so, and the exponent s, are
assumptions of this benchmark, not measurements.
"""

from __future__ import annotations

import bisect
import itertools
import random
import re
from collections import Counter
from dataclasses import dataclass
from urllib.parse import urlencode

SEARCH_PATH = "/api/v1/search?"
# Resource-type and occasion words teachers add to a topic.
WORDS = ("课件", "教案", "试卷", "公开课", "微课", "复习", "学案", "习题", "说课稿", "导学案", "PPT", "期末复习",
         "期中", "单元测试", "优质课", "预习")
# Request kinds and their share of the pool.
KINDS = {"topic": 0.20, "topic_word": 0.20, "book_topic": 0.10, "book": 0.10, "typo": 0.10, "refine": 0.10,
         "browse": 0.20}
TREE = ("stage", "subject", "edition", "grade", "volume")
SORTS = ("newest", "downloads")
# A chapter or section number in front of its name: 第十四章, 第1节, 第五单元, 课题3, Unit 3, 1.2 …
_NUMBER = re.compile(r"^\s*(第\s*[0-9零一二三四五六七八九十百]+\s*(单元|部分|章|节|课|讲|篇|组)|"
                     r"课题\s*\d+|(starter\s+)?(unit|module|lesson|chapter|section|part)\s*\d+|\d+(\.\d+)*)[\s.:：、-]*", re.IGNORECASE)


@dataclass(frozen=True)
class Book:
    """One distinct (textbook path, chapter, section, resource type) of the node's published resources."""

    stage: str
    subject: str
    edition: str
    grade: str
    volume: str
    chapter: str
    section: str
    resource_type: str


def topic_of(name: str) -> str:
    """A chapter or section name as teachers type it: without its number."""
    name = (name or "").strip()
    for _ in range(2):  # 第三单元 第三章 绿色植物与生物圈的水循环
        name = _NUMBER.sub("", name).strip()
    return name


def _homophones(books: list[Book]) -> dict[str, list[str]]:
    """Toneless pinyin → the characters of the node's topics read so (sorted, for a stable seed)."""
    from pypinyin import Style, lazy_pinyin

    chars = sorted({c for b in books for c in topic_of(b.chapter) + topic_of(b.section) if "\u4e00" <= c <= "\u9fff"})
    by_sound: dict[str, list[str]] = {}
    for char in chars:
        by_sound.setdefault(lazy_pinyin(char, style=Style.NORMAL)[0], []).append(char)
    return by_sound


class Generator:
    """Requests of the kinds above from ``books``, drawn with ``rng``."""

    def __init__(self, books: list[Book], rng: random.Random) -> None:
        self.books = [b for b in books if topic_of(b.chapter) or topic_of(b.section)]
        if not self.books:
            raise ValueError("the node has no resource with a chapter or section: no topics to search for")
        self.rng = rng
        by_sound = _homophones(self.books)
        self.sound_of = {c: s for s, chars in by_sound.items() for c in chars}
        self.by_sound = by_sound

    def topic(self, book: Book) -> str:
        names = [t for t in (topic_of(book.chapter), topic_of(book.section)) if t]
        return self.rng.choice(names)

    def word(self, topic: str) -> str:
        return topic + self.rng.choice(("", " ")) + self.rng.choice(WORDS)

    def book_words(self, book: Book, topic: str) -> str:
        options = [w for w in (book.grade and book.grade + book.subject, book.stage + book.subject,
                               book.edition, book.grade, book.subject) if w]
        return self.rng.choice(options) + " " + topic

    def misspell(self, text: str) -> str:
        """``text`` with one character changed: a homophone when one is known, else dropped or swapped."""
        positions = [i for i, c in enumerate(text) if len(self.by_sound.get(self.sound_of.get(c, ""), ())) > 1]
        if positions:
            i = self.rng.choice(positions)
            others = [c for c in self.by_sound[self.sound_of[text[i]]] if c != text[i]]
            return text[:i] + self.rng.choice(others) + text[i + 1:]
        if len(text) >= 3:
            i = self.rng.randrange(len(text))
            return text[:i] + text[i + 1:]
        return text[::-1]

    def make(self, kind: str) -> dict[str, str]:
        book = self.rng.choice(self.books)
        topic = self.topic(book)
        if kind == "topic":
            return {"q": topic}
        if kind == "topic_word":
            return {"q": self.word(topic)}
        if kind == "book_topic":
            return {"q": self.book_words(book, topic)}
        if kind == "book":
            volume = book.volume if len(book.volume) <= 3 else ""  # 上册, 下册, 全一册; not 必修1 分子与细胞
            parts = (book.edition if self.rng.random() < 0.6 else "", book.grade or book.stage, book.subject,
                     volume if self.rng.random() < 0.5 else "")
            return {"q": "".join(parts) + self.rng.choice(("", " ")) + self.rng.choice(WORDS)}
        if kind == "typo":
            text = self.rng.choice((topic, self.word(topic), self.book_words(book, topic)))
            return {"q": self.misspell(text).strip() or text}
        if kind == "refine":
            filters = self.rng.choice(({"resource_type": book.resource_type}, {"subject": book.subject},
                                       {"subject": book.subject, "resource_type": book.resource_type}))
            return {"q": topic, **filters}
        if kind == "browse":
            path = [(f, getattr(book, f)) for f in TREE if getattr(book, f)]
            filters = dict(path[:self.rng.randint(1, min(5, len(path)))])
            if len(filters) < 5 and self.rng.random() < 0.3:
                filters["resource_type"] = book.resource_type
            return {**filters, "sort": self.rng.choice(SORTS)}
        raise ValueError(kind)


@dataclass
class Pool:
    paths: list[str]  # in popularity rank order (the first is the most popular)
    kinds: list[str]  # the kind of each


def build_pool(books: list[Book], size: int, *, seed: int) -> Pool:
    """Up to ``size`` distinct request paths (fewer when the node's topics give fewer after many tries)."""
    rng = random.Random(seed)
    generator = Generator(books, rng)
    names, weights = list(KINDS), list(KINDS.values())
    seen: dict[str, str] = {}
    for _ in range(size * 50):
        if len(seen) >= size:
            break
        kind = rng.choices(names, weights)[0]
        path = SEARCH_PATH + urlencode(generator.make(kind))
        seen.setdefault(path, kind)
    return Pool(list(seen), list(seen.values()))


def zipf_sequence(pool_size: int, length: int, *, s: float, seed: int) -> list[int]:
    """``length`` pool ranks (0-based), rank r + 1 drawn with weight 1 / (r + 1)^s."""
    rng = random.Random(seed)
    cumulative = list(itertools.accumulate(1 / (r + 1) ** s for r in range(pool_size)))
    total = cumulative[-1]
    return [min(pool_size - 1, bisect.bisect(cumulative, rng.random() * total)) for _ in range(length)]


def repeats(sequence: list[int]) -> dict[str, float | int]:
    """Distinct requests of ``sequence`` and the share that repeat an earlier one (what an unbounded cache of
    whole responses shared by every server process could at best answer)."""
    distinct = len(set(sequence))
    return {"requests": len(sequence), "distinct": distinct,
            "repeat_share": round(1 - distinct / len(sequence), 4) if sequence else 0.0}


def window_repeat_share(sequence: list[int], start: int, count: int) -> float:
    """The share of requests ``start`` to ``start + count`` of ``sequence`` (cycled, as wrk does) that
    repeat one made before them since position 0."""
    if not sequence or count <= 0:
        return 0.0
    n = len(sequence)
    seen = set(sequence[:start]) if start < n else set(sequence)
    hits = 0
    for position in range(start, start + count):
        item = sequence[position % n]
        hits += item in seen
        seen.add(item)
    return round(hits / count, 4)


def kind_counts(kinds: list[str]) -> dict[str, int]:
    counts = Counter(kinds)
    return {kind: counts.get(kind, 0) for kind in KINDS}
