"""Text analysis and query understanding shared by every search backend.

Both backends see text the same way:

* ``normalize``: NFKC (full-width → half-width) and lower case;
* ``tokenize``: runs of CJK characters become overlapping bigrams (a lone CJK character stays a
  unigram), other letters and digits form words (``unit``, ``3``, ``2.1``, ``ppt``) — the tokens
  Elasticsearch's ``standard`` tokenizer + ``cjk_width`` + ``lowercase`` + ``cjk_bigram`` produce;
* ``parse_query``: a teacher's query becomes *concepts*. A concept is a vocabulary word or synonym
  found in the query by longest match (``初一``, ``数学``, ``课件``, ``第二章``, ``unit 3``) or a
  stretch of free text (``有理数``). Each concept has *alternatives* (the synonyms of
  ``catalog/data/vocabularies.json``, applied once, never chained: 初一 → 七年级, 试题 → 习题 / 试卷)
  matched as phrases, and *boosts*: the vocabulary codes among its alternatives (``grade = 七年级``).
  Concepts with boosts name a stage/subject/grade/edition/volume/type: next to other concepts they
  are optional and only raise, never filter, the documents carrying those values (初一数学 有理数
  课件 = every document about 有理数, those of 七年级, 数学 and 课件 first); the other concepts are
  required. A query made only of such words requires them all, in the text or the values
  (初一数学 课件). With the index's term vocabulary, pieces that name one chapter/section topic
  together — typed in another order (分化 细胞 = 细胞的分化), or cut apart by vocabulary words inside
  the topic (化学 + 是一门以实验为基础 + 科学) or by its commas — become one concept, matched as typed
  or through the topic and its chapter; a concept naming something the vocabulary knows is
  ``known``, and a relaxed search keeps known concepts longest (``base.relaxation_steps``).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from functools import cache, lru_cache
from typing import Any

from catalog.search.fuzzy import EMPTY_VOCABULARY, Correction, TermVocabulary
from catalog.vocab import vocabulary_file

# Bump when tokens change: an index built with another version must be rebuilt.
ANALYSIS_VERSION = 3  # 2: the chapter a section belongs to is recorded (topic_parent); 3: chapter is a facet
_CJK = (
    "\u3040-\u30ff"  # kana
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # Han
    "\uac00-\ud7af"  # Hangul syllables
    "\U00020000-\U0002fa1f"  # Han extensions
)
_WORD = rf"[^\W_{_CJK}]"
_TOKEN = re.compile(rf"(?P<cjk>[{_CJK}]+)|(?P<word>{_WORD}+(?:['’._]{_WORD}+)*)")
_IS_WORD_CHAR = re.compile(_WORD)
_SPACE = re.compile(r"\s+")
# Vocabulary fields whose codes a query word can boost, with the weight of a match.
BOOST_WEIGHTS: dict[str, float] = {
    "subject": 2.0,
    "grade": 2.0,
    "resource_type": 2.0,
    "edition": 1.5,
    "stage": 1.0,
    "volume": 1.0,
}
# A single leftover character between vocabulary words is dropped when it is one of these.
STOP_CHARS = frozenset("的和与及或之在")
_CHAPTER_LABEL = re.compile(
    r"^(?:第[〇零一二三四五六七八九十百\d]+(?:章|节|课|单元|部分)|课题\s*\d+|(?:starter |welcome )?unit(?: \d+)?"
    r"|\d+(?:\.\d+)*)\s*",
    re.IGNORECASE,
)


def normalize(text: str) -> str:
    """Full-width → half-width (NFKC) and lower case; whitespace runs become one space."""
    text = text or ""
    # Indexing normalizes the same short values (keywords, grades, editions) over and over.
    return _normalize_short(text) if len(text) <= _SHORT else _normalize(text)


def _normalize(text: str) -> str:
    if not unicodedata.is_normalized("NFKC", text):  # a quick check: most text already is
        text = unicodedata.normalize("NFKC", text)
    return _SPACE.sub(" ", text.lower()).strip()


_SHORT = 48
_normalize_short = lru_cache(maxsize=16384)(_normalize)


@lru_cache(maxsize=65536)
def _fold_char(char: str) -> str:
    return unicodedata.normalize("NFKC", char).lower()


def _normalize_mapped(text: str) -> tuple[str, list[int]]:
    """``normalize`` character by character, with each output character's index in ``text``."""
    folded = "".join(map(_fold_char, text))
    if len(folded) == len(text):
        # The usual case (Chinese text, full-width punctuation included): every character folds to
        # one character, so the offsets are the identity.
        return folded, list(range(len(text)))
    out: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(text):
        folded = unicodedata.normalize("NFKC", char).lower()
        out.append(folded)
        origin.extend([index] * len(folded))
    return "".join(out), origin


@dataclass(frozen=True)
class Token:
    text: str
    start: int  # offsets in the analysed (original) text
    end: int


def tokens_with_offsets(text: str) -> list[Token]:
    """The tokens of ``text`` with their character spans in ``text`` (for highlighting)."""
    return _tokens_of(*_normalize_mapped(text or ""))


def _tokens_of(folded: str, origin: list[int]) -> list[Token]:
    out: list[Token] = []
    for match in _TOKEN.finditer(folded):
        start, end = match.span()
        if match.group("cjk"):
            run = match.group("cjk")
            if len(run) == 1:
                out.append(Token(run, origin[start], origin[start] + 1))
            for i in range(len(run) - 1):
                out.append(Token(run[i:i + 2], origin[start + i], origin[start + i + 1] + 1))
        else:
            out.append(Token(match.group("word"), origin[start], origin[end - 1] + 1))
    return out


def tokenize(text: str) -> list[str]:
    """Index/query tokens of ``text``: CJK bigrams (unigram for a lone character) and words."""
    out: list[str] = []
    for run, word in _TOKEN.findall(normalize(text)):
        if not run:
            out.append(word)
        elif len(run) == 1:
            out.append(run)
        else:
            out += map(str.__add__, run, run[1:])  # overlapping bigrams
    return out


def token_text(text: str) -> str:
    """``text``'s tokens joined by spaces: what the embedded index stores (FTS5 then splits it on
    the spaces). Short texts, which repeat from document to document, are remembered."""
    if not text:
        return ""
    return _token_text_short(text) if len(text) <= _SHORT else " ".join(tokenize(text))


@lru_cache(maxsize=16384)
def _token_text_short(text: str) -> str:
    return " ".join(tokenize(text))


def chapter_topic(heading: str) -> str:
    """A heading without its numbering: ``第一章 有理数`` → ``有理数``, ``1.2 有理数`` → ``有理数``."""
    rest = (heading or "").strip()
    while (match := _CHAPTER_LABEL.match(rest)) and match.end():
        rest = rest[match.end():]
    return rest.strip()


# --- the lexicon: vocabulary codes and synonyms ---------------------------------------------

@dataclass(frozen=True)
class LexiconEntry:
    alternatives: tuple[str, ...]  # normalized; the word itself first
    # Each alternative as phrases that must all occur: 七年级上册 → (七年级, 上册).
    options: tuple[tuple[str, ...], ...]
    boosts: tuple[tuple[str, tuple[str, ...]], ...]  # (field, codes) — codes as stored on resources


@dataclass(frozen=True)
class Lexicon:
    entries: dict[str, LexiconEntry]
    max_length: int
    synonym_rules: tuple[str, ...]  # Solr-format rules for Elasticsearch's synonym filter


def _split(alternative: str, words: set[str], max_length: int) -> tuple[str, ...]:
    """An alternative made only of two or more lexicon words (七年级上册 = 七年级 + 上册) must match
    word by word, as titles interleave them (七年级数学上册); anything else is one phrase."""
    probe = Lexicon({w: LexiconEntry((), (), ()) for w in words - {alternative}}, max_length, ())
    pieces = list(_segments(alternative, probe))
    if len(pieces) > 1 and all(kind == "vocab" for kind, *_ in pieces):
        return tuple(text for _, text, *_ in pieces)
    return (alternative,)


@cache
def lexicon() -> Lexicon:
    """Every vocabulary code and synonym of ``vocabularies.json``, with its alternatives and boosts
    (read once: the vocabulary file ships with the code)."""
    data = vocabulary_file()
    groups = [
        {**g, "terms": [normalize(t) for t in g["terms"]], "canonical": normalize(g["canonical"])}
        for g in data.get("synonyms", [])
    ]
    codes = {field: [t["code"] for t in data["vocabularies"].get(field, [])] for field in BOOST_WEIGHTS}
    words: set[str] = set()
    for group in groups:
        words.update(group["terms"])
        if group["type"] == "equivalent":
            words.add(group["canonical"])
    for field_codes in codes.values():
        words.update(normalize(c) for c in field_codes)
    words.discard("")
    max_length = max(len(w) for w in words)
    entries: dict[str, LexiconEntry] = {}
    for word in words:
        alternatives = [word]
        for group in groups:
            if word in group["terms"]:
                alternatives.extend(group["terms"] if group["type"] == "equivalent" else [group["canonical"]])
        alternatives = list(dict.fromkeys(alternatives))
        wanted = set(alternatives)
        boosts = tuple(
            (field, tuple(c for c in field_codes if normalize(c) in wanted))
            for field, field_codes in codes.items()
            if any(normalize(c) in wanted for c in field_codes)
        )
        options = tuple(opt for opt in (_split(a, words, max_length) for a in alternatives)
                        if all(tokenize(text) for text in opt))
        entries[word] = LexiconEntry(tuple(alternatives), options, boosts)
    rules = []
    for group in groups:
        terms = list(dict.fromkeys(group["terms"]))
        if group["type"] == "equivalent":
            rules.append(", ".join(dict.fromkeys([*terms, group["canonical"]])))
        else:
            rules.extend(f"{term} => {term}, {group['canonical']}" for term in terms if term != group["canonical"])
    return Lexicon(entries, max_length, tuple(r for r in rules if "," in r))


# --- query understanding --------------------------------------------------------------------

@dataclass(frozen=True)
class Concept:
    """One thing the query asks for. ``text`` is what was typed (normalized); the concept matches
    when any option matches, and an option matches when all its phrases occur (as consecutive
    tokens, in any text field)."""

    text: str
    options: tuple[tuple[str, ...], ...]
    boosts: tuple[tuple[str, tuple[str, ...]], ...] = ()
    alternatives: tuple[str, ...] = ()
    # Lower-weighted phrases: chapter/section topics the text names in other words (``fuzzy.topics``).
    fuzzy: tuple[str, ...] = ()
    # Whether the text names something the index's term vocabulary knows (a term, or a topic in
    # other words): a relaxed search keeps such concepts longer than words it does not know.
    known: bool = False

    def all_options(self, *, fuzzy: bool) -> tuple[tuple[str, ...], ...]:
        """The options, and with ``fuzzy`` the topic phrases as options of their own."""
        return self.options + tuple((t,) for t in self.fuzzy) if fuzzy else self.options

    def phrases(self) -> list[tuple[str, ...]]:
        """Every phrase of every option (topics included), as tokens."""
        return [tuple(tokenize(text)) for option in self.all_options(fuzzy=True) for text in option]


@dataclass(frozen=True)
class ParsedQuery:
    text: str
    concepts: tuple[Concept, ...]
    # The query with its likely typos corrected (did you mean …?), each parsed in turn: matched as
    # alternatives with less weight than what was typed.
    rewrites: tuple[ParsedQuery, ...] = ()
    corrections: tuple[tuple[str, str], ...] = ()  # (as typed, the term meant), for the best rewrite
    # What was typed after the first MAX_CONCEPTS concepts: not searched (the response says so).
    ignored: tuple[str, ...] = ()
    # Where in ``text`` the ignored part begins (None: nothing is ignored): corrections stop there.
    searched_end: int | None = None

    @property
    def is_empty(self) -> bool:
        return not self.concepts

    @property
    def has_fuzzy(self) -> bool:
        """Whether anything but what was typed (and its synonyms) can match: then exact matches rank first."""
        return bool(self.rewrites) or any(c.fuzzy for c in self.concepts)

    @property
    def variants(self) -> tuple[ParsedQuery, ...]:
        """The query as typed, then its rewrites."""
        return (self, *self.rewrites)

    @property
    def best(self) -> ParsedQuery:
        """What the query most likely means: the first rewrite, else the query as typed."""
        return self.rewrites[0] if self.rewrites else self

    @property
    def required(self) -> tuple[Concept, ...]:
        """Concepts every result must match: those without field boosts, or all of them."""
        plain = tuple(c for c in self.concepts if not c.boosts)
        return plain or self.concepts

    @property
    def optional(self) -> tuple[Concept, ...]:
        """Concepts that only raise the score (vocabulary words next to free text)."""
        required = self.required
        return tuple(c for c in self.concepts if c not in required)

    def phrases(self) -> list[tuple[str, ...]]:
        """Every phrase of every concept of every variant (for highlighting). Worked out once per parsed
        query (a search highlights every hit with them; parsed queries are remembered)."""
        found = self.__dict__.get("_phrases")
        if found is None:
            found = tuple(dict.fromkeys(p for variant in self.variants for concept in variant.concepts
                                        for p in concept.phrases()))
            object.__setattr__(self, "_phrases", found)  # a memo, not a field: equality and hash ignore it
        return list(found)

    def boosts(self) -> list[tuple[str, tuple[str, ...]]]:
        """The vocabulary boosts of what the query most likely means (one per field and codes)."""
        return list(dict.fromkeys(b for concept in self.best.concepts for b in concept.boosts))


def _word_boundary_ok(text: str, start: int, end: int) -> bool:
    """An entry that begins or ends with a letter/digit may not cut a word (``unit 3`` ≠ ``unit 30``)."""
    if _IS_WORD_CHAR.match(text[start]) and start > 0 and _IS_WORD_CHAR.match(text[start - 1]):
        return False
    return not (_IS_WORD_CHAR.match(text[end - 1]) and end < len(text) and _IS_WORD_CHAR.match(text[end]))


def _segments(text: str, lex: Lexicon) -> Iterator[tuple[str, str, int, int]]:
    """(kind, text, start, end) pieces: ``vocab`` by longest match, ``free`` in between."""
    i, free_start = 0, None
    while i < len(text):
        found = None
        if text[i] != " ":
            for length in range(min(lex.max_length, len(text) - i), 0, -1):
                piece = text[i:i + length]
                if piece in lex.entries and _word_boundary_ok(text, i, i + length):
                    found = piece
                    break
        if found is None:
            token = _TOKEN.match(text, i) if text[i] != " " else None
            if token is None:
                if free_start is not None:
                    yield "free", text[free_start:i], free_start, i
                    free_start = None
                i += 1
                continue
            if free_start is None:
                free_start = i
            # A word (2.1, what's) is taken whole; a CJK run character by character, so that
            # vocabulary words inside it are found.
            i = token.end() if token.group("word") else i + 1
            continue
        if free_start is not None:
            yield "free", text[free_start:i], free_start, i
            free_start = None
        yield "vocab", found, i, i + len(found)
        i += len(found)
    if free_start is not None:
        yield "free", text[free_start:], free_start, len(text)


def _is_lone_cjk(piece: str) -> bool:
    return len(piece) == 1 and re.fullmatch(f"[{_CJK}]", piece) is not None


def parse_query(q: str, vocabulary: TermVocabulary | None = None) -> ParsedQuery:
    """Split a query into concepts (see the module docstring). An empty or punctuation-only
    query has no concepts. With the index's ``vocabulary``, free-text concepts get the chapter and
    section topics they name in other words as fuzzy alternatives, and a query with likely typos
    gets its corrected forms as rewrites."""
    vocabulary = vocabulary or EMPTY_VOCABULARY
    text = normalize(q)
    cache = vocabulary.parsed  # teachers repeat queries; a vocabulary lives as long as its index generation
    found = cache.get(text)
    if found is None:
        if len(cache) >= PARSE_CACHE_SIZE:
            cache.clear()
        found = cache[text] = _parse_query(text, vocabulary)
    return found


PARSE_CACHE_SIZE = 4096


def _parse_query(text: str, vocabulary: TermVocabulary) -> ParsedQuery:
    pieces = _pieces(text)
    parsed = _concepts(text, pieces, vocabulary)
    if not len(vocabulary) or parsed.is_empty:
        return parsed
    # Characters inside vocabulary words (数学, 课件, 初一) are never changed by a correction.
    protected = {i for kind, _, start, end in pieces if kind == "vocab" for i in range(start, end)}
    # Only what is searched is corrected, and a correction only searches that (有理书 → 有理数, a word the
    # query has already, makes no room for an ignored word): the rest follows the corrected text as typed.
    cut = len(text) if parsed.searched_end is None else parsed.searched_end
    searched, rest = text[:cut], text[cut:]
    groups = [[c for c in group if _changed_at(c) + c.start not in protected]
              for group in vocabulary.corrections(searched)]
    groups = [g for g in groups if g]
    if not groups:
        return parsed
    rewrites: list[ParsedQuery] = []
    corrections: list[tuple[str, str]] = []
    for choice in range(MAX_REWRITES):
        picked = [g[min(choice, len(g) - 1)] for g in groups]
        if choice and all(len(g) <= choice for g in groups):
            break
        fixed, pos = [], 0
        for c in picked:
            fixed += [text[pos:c.start], c.term]
            pos = c.start + len(c.typed)
        fixed.append(searched[pos:])
        rewritten = "".join(fixed)
        changes = tuple((c.typed, c.term) for c in picked)
        if not choice:
            corrections = list(changes)
        rewrites.append(replace(_concepts(rewritten, _pieces(rewritten), vocabulary), text=rewritten + rest,
                                corrections=changes))
    return ParsedQuery(parsed.text, parsed.concepts, tuple(rewrites), tuple(corrections), parsed.ignored,
                       parsed.searched_end)


MAX_REWRITES = 2


def _changed_at(correction: Correction) -> int:
    """Where a correction changes the typed text (its first differing character)."""
    typed, term = correction.typed, correction.term
    return next((i for i, (a, b) in enumerate(zip(typed, term, strict=False)) if a != b), min(len(typed), len(term)))


def _pieces(text: str) -> list[tuple[str, str, int, int]]:
    lex = lexicon()
    # A lone CJK character next to a vocabulary word is either a stop word (dropped) or part of a
    # longer word the lexicon cut (生物|圈): it is glued to its neighbour, which becomes free text.
    pieces: list[tuple[str, str, int, int]] = []
    pending: tuple[str, int] | None = None  # a lone character waiting to be glued to what follows
    for kind, piece, start, end in _segments(text, lex):
        if kind == "free" and _is_lone_cjk(piece):
            if piece in STOP_CHARS:
                continue
            if pieces and pieces[-1][3] == start:
                last = pieces.pop()
                pieces.append(("free", last[1] + piece, last[2], end))
            else:
                pending = (piece, start)
            continue
        if pending is not None:
            if pending[1] + 1 == start:
                kind, piece, start = "free", pending[0] + piece, pending[1]
            else:
                pieces.append(("free", pending[0], pending[1], pending[1] + 1))
            pending = None
        pieces.append((kind, piece, start, end))
    if pending is not None:
        pieces.append(("free", pending[0], pending[1], pending[1] + 1))
    return pieces


def _concepts(text: str, pieces: list[tuple[str, str, int, int]], vocabulary: TermVocabulary) -> ParsedQuery:
    lex = lexicon()
    groups = {min(g.pieces): g for g in _topic_groups(text, pieces, vocabulary)}
    grouped = {i for g in groups.values() for i in g.pieces}
    concepts: dict[frozenset[str], Concept] = {}
    starts: dict[frozenset[str], int] = {}  # where in the text each concept is first typed
    for index, (kind, piece, start, _) in enumerate(pieces):
        tokens = tuple(tokenize(piece))
        if index in groups:
            group = groups[index]
            concepts.setdefault(frozenset((group.text,)), _group_concept(group, pieces, vocabulary))
            starts.setdefault(frozenset((group.text,)), start)
        if not tokens:
            continue
        if kind == "vocab":
            entry = lex.entries[piece]
            if index in grouped and not entry.boosts:
                continue  # a plain word of a topic read as a whole: a phrase of the group's concept
            concept = Concept(piece, entry.options, entry.boosts, entry.alternatives)
        elif index in grouped:
            continue
        else:
            topics = vocabulary.topics(piece)
            # The chapter of the section the piece (or the topic it names) is: its other resources follow.
            named = topics or vocabulary.spelled(piece)
            broader = tuple(p for t in named for p in vocabulary.parents.get(t, ()))
            fuzzy = tuple(t for t in dict.fromkeys(topics + broader) if tokenize(t) and t != piece)
            concept = Concept(piece, ((piece,),), (), (piece,), fuzzy, bool(fuzzy) or vocabulary.is_term(piece))
        concepts.setdefault(frozenset(concept.alternatives), concept)  # PPT课件 asks for one thing
        starts.setdefault(frozenset(concept.alternatives), start)
    found = tuple(concepts.values())
    cut = list(starts.values())[MAX_CONCEPTS] if len(found) > MAX_CONCEPTS else None
    return ParsedQuery(text, found[:MAX_CONCEPTS], ignored=tuple(c.text for c in found[MAX_CONCEPTS:]),
                       searched_end=cut)


# A query asks for at most this many things; what follows is ignored, and the response says so (as a
# web search engine ignores words past its limit). A relaxed search widens through combinations of
# the concepts, its work growing with their square: 40 words of a 200-character query cost seconds.
MAX_CONCEPTS = 12


@dataclass(frozen=True)
class _TopicGroup:
    pieces: tuple[int, ...]  # indexes into the query's pieces
    text: str  # the pieces' text as one (what is looked up)
    topics: tuple[str, ...]  # the topics it names: the text itself when it is a term, else ``fuzzy.topics``


def _topic_groups(text: str, pieces: list[tuple[str, str, int, int]], vocabulary: TermVocabulary) -> list[_TopicGroup]:
    """Stretches of the query that name one topic together although the parser cut them in several
    pieces: pieces written together (化学 + 是一门以实验为基础 + 科学, where vocabulary words sit inside
    the topic; 空间点、直线、平面之间的位置关系, cut at its commas), then pieces typed apart, in any order
    (斗争 挽救民族危亡 = 挽救民族危亡的斗争; 生物 调查周边环境中 = 调查周边环境中的生物): runs of neighbouring
    pieces, and all free pieces together. Longest first, none sharing a piece. A stretch must be the
    topic itself, or its characters in another order (stop characters and near-synonyms of method
    words aside, ``fuzzy.signature``); free text typed apart may also name a topic that holds all its
    characters (``fuzzy.topics`` near matches, not mere bigram similarity: a modifier word typed next
    to a topic is no part of it)."""
    free = {i for i, (kind, *_) in enumerate(pieces) if kind == "free"}
    if not len(vocabulary) or len(pieces) < 2 or not free:
        return []
    together: dict[tuple[int, ...], str] = {}
    for first in range(len(pieces)):
        for last in range(first + 1, min(first + MAX_GROUP_PIECES, len(pieces))):
            if _SPACE.search(text[pieces[last - 1][3]:pieces[last][2]]):
                break
            together[tuple(range(first, last + 1))] = text[pieces[first][2]:pieces[last][3]]
    apart = {tuple(range(first, last + 1)): "" for first in range(len(pieces))
             for last in range(first + 1, min(first + MAX_GROUP_PIECES, len(pieces)))}
    if 2 <= len(free) <= MAX_GROUP_PIECES:
        apart[tuple(sorted(free))] = ""
    candidates = [(span, joined, False) for span, joined in sorted(together.items(), key=lambda kv: -len(kv[1]))]
    candidates += sorted(((span, "".join(pieces[i][1] for i in span), free.issuperset(span))
                          for span in apart if span not in together),
                         key=lambda c: -len(c[1]))
    taken: set[int] = set()
    out: list[_TopicGroup] = []
    for span, joined, near in candidates:
        if free.isdisjoint(span) or not taken.isdisjoint(span) or len(joined) > MAX_TOPIC_LENGTH:
            continue
        topics = (joined,) if vocabulary.is_term(joined) else vocabulary.topics(
            joined, near=near, similar=False, inner=False)
        if topics:
            out.append(_TopicGroup(span, joined, topics))
            taken.update(span)
    return out


MAX_TOPIC_LENGTH = 24  # as fuzzy.MAX_TERM_LENGTH: longer stretches name no single topic
MAX_GROUP_PIECES = 4  # a topic is typed in at most this many pieces (bounds the stretches looked up)


def _group_concept(group: _TopicGroup, pieces: list[tuple[str, str, int, int]], vocabulary: TermVocabulary) -> Concept:
    """The concept of pieces read as one topic: matched as typed when all its free text (and plain
    vocabulary words) occurs, else through the topic it names and that topic's chapter (lower-weighted,
    like any topic alternative). Vocabulary words with boosts stay concepts of their own."""
    lex = lexicon()
    typed = tuple(piece for i in group.pieces for kind, piece, _, _ in [pieces[i]]
                  if tokenize(piece) and (kind == "free" or not lex.entries[piece].boosts))
    broader = tuple(p for t in group.topics for p in vocabulary.parents.get(t, ()))
    fuzzy = tuple(t for t in dict.fromkeys(group.topics + broader) if tokenize(t))
    return Concept(group.text, (typed,), (), (group.text,), fuzzy, True)


# --- documents ------------------------------------------------------------------------------

TEXT_FIELDS = ("title", "chapter", "section", "keywords", "description", "meta")
META_FIELDS = ("stage", "subject", "grade", "edition", "volume", "resource_type", "publisher")


def meta_text(doc: dict[str, Any]) -> str:
    """The vocabulary values of a document as text, so a concept matches a field value too."""
    return " ".join(str(doc.get(f) or "") for f in META_FIELDS if doc.get(f))


def suggestion_terms(doc: dict[str, Any]) -> list[str]:
    """Completions a document contributes (normalized): its keywords, chapter and section topics
    and vocabulary values. Titles are completed separately."""
    raw: list[str] = list(doc.get("keywords") or [])
    raw += [chapter_topic(doc.get("chapter") or ""), chapter_topic(doc.get("section") or "")]
    raw += [doc.get(f) or "" for f in ("subject", "grade", "edition", "resource_type")]
    return list(dict.fromkeys(t for t in (normalize(r) for r in raw) if t and len(t) <= 64))


TOPIC_PARENT_SEP = "\x1f"


def topic_parent(doc: dict[str, Any]) -> str:
    """``section topic␟chapter topic`` of a document filed under a section, else empty: the node's
    chapter/section tree as the index sees it (a query naming a section also finds its chapter)."""
    section = normalize(chapter_topic(doc.get("section") or ""))
    chapter = normalize(chapter_topic(doc.get("chapter") or ""))
    return f"{section}{TOPIC_PARENT_SEP}{chapter}" if section and chapter and section != chapter else ""


def highlight(text: str, phrases: Iterable[tuple[str, ...]]) -> str | None:
    """``text`` (HTML-escaped) with each occurrence of a query phrase wrapped in ``<em>``; None when
    nothing matches. Matching is by tokens, exactly as the index matches; escaping is Lucene's
    ``SimpleHTMLEncoder`` (Elasticsearch's ``encoder: html``).

    The text is not tokenized: the phrases become one regular expression over the folded text
    (``_phrase_matcher``, remembered per set of phrases) whose boundaries say where tokens begin and end."""
    return highlighter(tuple(map(tuple, phrases)))(text)


class _Highlighter:
    """``highlight`` for one set of phrases (``highlighter``): the pattern compiled once, and the
    characters one of which a text must hold for any phrase to match."""

    def __init__(self, phrases: tuple[tuple[str, ...], ...]) -> None:
        self.matcher = _phrase_matcher(phrases)
        firsts = {p[0] for p in phrases if p and p[0]}
        # CJK characters are their own folded form in NFKC-normalized text: a text holding none of the
        # phrases' first tokens as they are then cannot match, and need not be folded at all.
        self.cjk_firsts = frozenset(firsts) if firsts and all(_CJK_TOKEN.fullmatch(t) for t in firsts) else None

    def __call__(self, text: str) -> str | None:
        if not text or self.matcher is None:
            return None
        if self.cjk_firsts is not None and not any(t in text for t in self.cjk_firsts) and \
                unicodedata.is_normalized("NFKC", text):
            return None
        return _highlight(text, self.matcher)


@lru_cache(maxsize=1024)
def highlighter(phrases: tuple[tuple[str, ...], ...]) -> _Highlighter:
    """``highlight`` with these phrases, as a function of the text (a page of hits uses one)."""
    return _Highlighter(phrases)


def _highlight(text: str, matcher: re.Pattern[str]) -> str | None:
    classed = "".join(map(_fold_and_mark, text))  # folded, each character followed by its class mark
    found = matcher.search(classed)
    if found is None:
        return None
    # Offsets in the folded text are those of ``text`` unless some character folded to several.
    origin = None if len(classed) == 2 * len(text) else _normalize_mapped(text)[1]
    spans: list[list[int]] = []  # merged, in order: each match starts after the previous one's start
    while found is not None:
        start, end = found.start(1) // 2, found.end(1) // 2
        if origin is not None:
            start, end = origin[start], origin[end - 1] + 1
        if spans and start <= spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], end)
        else:
            spans.append([start, end])
        found = matcher.search(classed, found.start(1) + 2)  # occurrences may overlap
    if _OPEN in text or _CLOSE in text:
        out, pos = [], 0
        for start, end in spans:
            out.append(html_escape(text[pos:start]))
            out.append(f"<em>{html_escape(text[start:end])}</em>")
            pos = end
        out.append(html_escape(text[pos:]))
        return "".join(out)
    # Usually: mark the spans with two control characters the text does not have, escape once.
    marked, pos = [], 0
    for start, end in spans:
        marked += (text[pos:start], _OPEN, text[start:end], _CLOSE)
        pos = end
    marked.append(text[pos:])
    return "".join(marked).translate(_HTML_ESCAPES_AND_MARKS)


_OPEN, _CLOSE = "\x02", "\x03"


_C = f"[{_CJK}]"
_J = "['’._]"
_CJK_TOKEN = re.compile(f"{_C}{{1,2}}")
_WORD_TOKEN = re.compile(rf"{_WORD}+(?:{_J}{_WORD}+)*")
_IS_CJK = re.compile(_C)
# Phrases are matched in the folded text with each character followed by its class: a character
# class over the CJK ranges costs Python's re compiler 1.5 ms per occurrence in a pattern (20 ms for
# a typical query's phrases, on every new query), a class mark one test. Marks are control characters
# no token holds.
_MARK_CJK, _MARK_WORD, _MARK_JOINER, _MARK_OTHER = "\x11", "\x12", "\x13", "\x14"
_GAP = f"(?:.[{_MARK_JOINER}{_MARK_OTHER}])*"  # characters no token contains: what lies between two tokens
_NOT_AFTER_CJK = f"(?<!{_MARK_CJK})"
_NOT_BEFORE_CJK = f"(?!.{_MARK_CJK})"
_WORD_START = f"(?<!{_MARK_WORD})(?<!{_MARK_WORD}.{_MARK_JOINER})"  # not inside a word (nor after a joiner in one)
_WORD_END = f"(?!.{_MARK_WORD})(?!.{_MARK_JOINER}.{_MARK_WORD})"


@lru_cache(maxsize=65536)
def _mark(char: str) -> str:
    """A folded character followed by its class mark (CJK, word character, joiner, anything else)."""
    if _IS_CJK.match(char):
        return char + _MARK_CJK
    if _IS_WORD_CHAR.match(char):
        return char + _MARK_WORD
    return char + (_MARK_JOINER if char in "'’._" else _MARK_OTHER)


@lru_cache(maxsize=65536)
def _fold_and_mark(char: str) -> str:
    """``_fold_char`` with each resulting character marked (``_mark``)."""
    return "".join(map(_mark, _fold_char(char)))


@lru_cache(maxsize=1024)
def _phrase_matcher(phrases: tuple[tuple[str, ...], ...]) -> re.Pattern[str] | None:
    """One pattern matching, at each position of a marked folded text (``_mark``: every character
    followed by its class) where one of ``phrases`` occurs as consecutive tokens of ``_tokens_of``, the
    occurrence (group 1) that ends last; None when no phrase can ever match. Token by token: a CJK bigram
    is its two characters anywhere in a run and is followed in the same run by the bigram sharing its
    second character, else (at the end of the run) by the token after the gap; a lone CJK character is
    a run of one; a word is not preceded or followed by a word character or a joiner next to one.
    Longer phrases come first, so of the phrases starting at one token the one reaching furthest is
    found."""
    patterns = [(len(p), pattern) for p in dict.fromkeys(phrases) if p and (pattern := _phrase_pattern(p))]
    if not patterns:
        return None
    patterns.sort(key=lambda item: -item[0])
    return re.compile("(?=(" + "|".join(pattern for _, pattern in patterns) + "))", re.DOTALL)


def _marked_literal(text: str) -> str:
    return "".join(re.escape(char) + "." for char in text)


def _phrase_pattern(phrase: tuple[str, ...]) -> str | None:
    parts: list[str] = []
    previous = ""  # the previous token when it is a CJK bigram
    for index, token in enumerate(phrase):
        literal = _marked_literal(token)
        if _CJK_TOKEN.fullmatch(token):
            bigram = len(token) == 2
            start, body = _NOT_AFTER_CJK, literal if bigram else literal + _NOT_BEFORE_CJK
        elif _WORD_TOKEN.fullmatch(token):
            bigram = False
            start, body = _WORD_START, literal + _WORD_END
        else:
            return None  # not a token: never matches
        if index == 0:
            parts.append(body if bigram else start + body)  # a bigram may begin anywhere in a run
        elif previous:
            after_run = f"{_NOT_BEFORE_CJK}{_GAP}{start}{body}"
            if bigram and token[0] == previous[1]:  # the run's next bigram, or a new run after this one
                parts.append(f"(?:{_marked_literal(token[1])}|{after_run})")
            else:
                parts.append(after_run)
        else:
            parts.append(_GAP + start + body)
        previous = token if bigram else ""
    return "".join(parts)


_HTML_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#x27;", "/": "&#x2F;"})
_HTML_ESCAPES_AND_MARKS = {**_HTML_ESCAPES, ord(_OPEN): "<em>", ord(_CLOSE): "</em>"}


def html_escape(text: str) -> str:
    return text.translate(_HTML_ESCAPES)
