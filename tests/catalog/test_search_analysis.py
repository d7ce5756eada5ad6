"""Query understanding and text analysis shared by both search backends (no index needed)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from catalog.search.analysis import (
    chapter_topic,
    highlight,
    html_escape,
    lexicon,
    normalize,
    parse_query,
    tokenize,
)


def concepts(q: str) -> dict[str, tuple[set[str], dict[str, set[str]]]]:
    """{typed word: (alternatives, {field: boosted codes})}"""
    return {c.text: (set(c.alternatives), {f: set(codes) for f, codes in c.boosts}) for c in parse_query(q).concepts}


def test_tokens_are_cjk_bigrams_and_folded_words():
    """CJK runs become bigrams (a lone character stays), words are lower-cased, full-width folded,
    numbers with dots kept whole."""
    assert tokenize("初一数学") == ["初一", "一数", "数学"]
    assert tokenize("第 3 课时 力") == ["第", "3", "课时", "力"]
    assert tokenize("ＰＰＴ课件 Unit 3 2.1 What's") == ["ppt", "课件", "unit", "3", "2.1", "what's"]
    assert normalize("  Ｕｎｉｔ　３ ") == "unit 3"


@pytest.mark.parametrize(("colloquial", "grade"), [("初一", "七年级"), ("初二", "八年级"), ("初三", "九年级")])
def test_junior_grades_by_their_colloquial_names(colloquial, grade):
    alternatives, boosts = concepts(f"{colloquial}数学")[colloquial]
    assert grade in alternatives and boosts == {"grade": {grade}}
    assert concepts(f"{colloquial}数学")["数学"][1] == {"subject": {"数学"}}


def test_teacher_words_expand_once_without_chaining():
    """高一 → 必修 (one way), 教学设计 = 教案, 试题 → 习题 and 试卷, 练习 = 习题, 人教 = 人教版 (and the
    人教 editions); 试题 does not chain on to 练习."""
    assert "必修" in concepts("高一")["高一"][0]
    assert concepts("必修 物理")["必修"][0] == {"必修"}
    assert concepts("教学设计")["教学设计"][1] == {"resource_type": {"教案"}}
    alternatives, boosts = concepts("试题")["试题"]
    assert boosts == {"resource_type": {"习题", "试卷"}} and "练习" not in alternatives
    assert concepts("练习")["练习"][1] == {"resource_type": {"习题"}}
    assert concepts("人教")["人教"][1] == {"edition": {"人教版", "人教A版", "人教版（PEP）"}}


def test_chapter_numbers_and_english_units():
    assert concepts("第2章")["第2章"][0] == {"第2章", "第二章"}
    assert concepts("2.1 整式") == {"2.1": ({"2.1"}, {}), "整式": ({"整式"}, {})}
    unit = concepts("七年级英语 Unit 3 课件")["unit 3"][0]
    assert unit == {"unit 3", "第三单元"}
    assert "unit 3" not in concepts("第三单元")["第三单元"][0]
    assert "unit 3" not in concepts("unit 30")


def test_compound_queries_are_split_into_concepts():
    """Without spaces too; free text in between is one phrase; a lone character is glued to the
    word the lexicon cut it from, a stop character is dropped."""
    assert list(concepts("初一数学有理数课件")) == ["初一", "数学", "有理数", "课件"]
    assert list(concepts("生物圈")) == ["生物圈"]
    assert list(concepts("数学的课件")) == ["数学", "课件"]
    assert list(concepts("七年级上册数学")) == ["七年级", "上册", "数学"]
    assert parse_query("！！ …").is_empty


def test_vocabulary_words_are_optional_next_to_a_topic():
    parsed = parse_query("初一数学 有理数 课件")
    assert [c.text for c in parsed.required] == ["有理数"]
    assert [c.text for c in parsed.optional] == ["初一", "数学", "课件"]
    only_vocabulary = parse_query("初一数学 课件")
    assert [c.text for c in only_vocabulary.required] == ["初一", "数学", "课件"] and not only_vocabulary.optional


def test_a_grade_and_volume_shorthand_matches_word_by_word():
    """七上 = 七年级上册, which titles write apart (七年级数学上册): the words must each occur."""
    concept = parse_query("七上").concepts[0]
    assert ("七年级", "上册") in concept.options


def test_synonym_rules_for_elasticsearch_come_from_the_vocabulary():
    rules = lexicon().synonym_rules
    assert "七年级, 初一, 初中一年级" in rules
    assert "高一 => 高一, 必修" in rules
    assert all("," in rule for rule in rules)


def test_highlight_marks_whole_phrases_and_escapes_like_lucene():
    phrases = [("有理", "理数"), ("ppt",)]
    assert highlight("第一章 有理数 <b>PPT</b>", phrases) == "第一章 <em>有理数</em> &lt;b&gt;<em>PPT</em>&lt;&#x2F;b&gt;"
    assert highlight("无关的标题", phrases) is None


def test_chapter_topics_drop_the_numbering():
    assert chapter_topic("第三单元 第二章 被子植物的一生") == "被子植物的一生"
    assert chapter_topic("1.2 有理数") == "有理数"
    assert chapter_topic("Unit 3 Getting around") == "Getting around"


@pytest.mark.parametrize("text", ["", "七年级", "ＡＢＣ　全角", "Photo-synthesis 光合作用", "人教版八年级物理下册 第十二章 简单机械 第2节 滑轮 新授课课件" * 3])
def test_token_text_and_normalize_give_the_same_for_short_and_long_text(text: str) -> None:
    """Short texts are remembered; long ones are not: both give what the plain functions give."""
    from catalog.search.analysis import _normalize, token_text

    assert token_text(text) == " ".join(tokenize(text)) == token_text(text)
    assert normalize(text) == _normalize(text) == normalize(text)


def test_pinyin_typos_are_graded_by_how_alike_they_sound():
    from catalog.search.fuzzy import CONFUSABLE, HOMOPHONE, TONELESS, sound_grade

    assert sound_grade("里", "理") == HOMOPHONE  # li3
    assert sound_grade("书", "数") == TONELESS  # shu1 / shu4
    assert sound_grade("资", "质") == CONFUSABLE  # zi / zhi
    assert sound_grade("猫", "数") is None


def test_corrections_and_topics_come_from_the_vocabulary_only():
    """A stretch one homophone away from a term is corrected; a term, a part of one or a vocabulary
    word never is; a topic phrased differently is recognised."""
    from catalog.search.fuzzy import TermVocabulary

    vocabulary = TermVocabulary({"勾股定理": 5, "三角形全等的判定": 4, "光合作用与能量转化": 3, "数学": 9})
    (group,) = vocabulary.corrections("勾股定里")
    assert [(c.typed, c.term) for c in group] == [("勾股定里", "勾股定理")]
    assert vocabulary.corrections("勾股定理") == [] and vocabulary.corrections("光合作用") == []
    assert [c.term for c in vocabulary.corrections("光和作用")[0]] == ["光合作用"]
    assert vocabulary.topics("全等三角形的判断") == ("三角形全等的判定",)
    parsed = parse_query("初一数雪 勾股定里", vocabulary)
    assert parsed.corrections == (("勾股定里", "勾股定理"),)


def _reference_highlight(text: str, phrases: list[tuple[str, ...]]) -> str | None:
    """The plain definition of ``highlight``: fold character by character, tokenize everything, compare
    every phrase at every position."""
    import unicodedata

    from catalog.search.analysis import _TOKEN

    out_chars, origin = [], []
    for index, char in enumerate(text):
        folded = unicodedata.normalize("NFKC", char).lower()
        out_chars.append(folded)
        origin.extend([index] * len(folded))
    folded_text = "".join(out_chars)
    toks = []
    for match in _TOKEN.finditer(folded_text):
        start, end = match.span()
        if match.group("cjk"):
            run = match.group("cjk")
            if len(run) == 1:
                toks.append((run, origin[start], origin[start] + 1))
            for i in range(len(run) - 1):
                toks.append((run[i:i + 2], origin[start + i], origin[start + i + 1] + 1))
        else:
            toks.append((match.group("word"), origin[start], origin[end - 1] + 1))
    spans = [(toks[i][1], toks[i + len(p) - 1][2]) for p in phrases if p
             for i in range(len(toks) - len(p) + 1) if tuple(t[0] for t in toks[i:i + len(p)]) == p]
    return _wrap_spans(text, spans)


def _wrap_spans(text: str, spans: list[tuple[int, int]]) -> str | None:
    """``text`` escaped, with the union of ``spans`` (merged where they overlap or touch) in ``<em>``."""
    if not spans:
        return None
    spans = sorted(spans)
    merged = [list(spans[0])]
    for start, end in spans[1:]:
        if start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    pieces, pos = [], 0
    for start, end in merged:
        pieces += [html_escape(text[pos:start]), f"<em>{html_escape(text[start:end])}</em>"]
        pos = end
    return "".join(pieces) + html_escape(text[pos:])


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet=st.sampled_from(list("有理数的乘方ＡＢab 12ΣςİßＴ<&'第一章")), max_size=40),
       phrase_texts=st.lists(st.sampled_from(["有理数", "乘方", "ab", "12", "σ", "ss", "t", "有", "第一章 有理"]),
                             max_size=3))
def test_highlight_is_its_plain_definition(text, phrase_texts):
    """``highlight`` skips texts no phrase can match and finds phrases by their first token; it marks
    exactly what folding and comparing every phrase at every token would (full-width, upper case,
    characters whose lower case is longer, HTML)."""
    from catalog.search.analysis import highlight, tokenize

    phrases = [tuple(tokenize(p)) for p in phrase_texts]
    assert highlight(text, phrases) == _reference_highlight(text, phrases)


def _tree_vocabulary():
    """The term vocabulary of a small index: sections (with their chapters), and a keyword."""
    from catalog.search.fuzzy import TermVocabulary

    tree = {"细胞的分化": "细胞的生命历程", "细胞的增殖": "细胞的生命历程", "挽救民族危亡的斗争": "中华民族的抗日战争",
            "化学是一门以实验为基础的科学": "走进化学世界", "单细胞生物": "细胞怎样构成生物体",
            "空间点、直线、平面之间的位置关系": "立体几何初步", "调查周边环境中的生物": "认识生物",
            "有理数的加减法": "有理数"}
    counts = {term: 3 for pair in tree.items() for term in pair} | {"同步练习": 9}
    return TermVocabulary(counts, {section: [chapter] for section, chapter in tree.items()})


def _by_text(q: str, vocabulary) -> dict[str, object]:
    return {c.text: c for c in parse_query(q, vocabulary).concepts}


@pytest.mark.parametrize(("q", "typed", "topic", "chapter"), [
    ("分化 细胞", ("分化", "细胞"), "细胞的分化", "细胞的生命历程"),
    ("斗争 挽救民族危亡", ("斗争", "挽救民族危亡"), "挽救民族危亡的斗争", "中华民族的抗日战争"),
    ("加减法 有理数", ("加减法", "有理数"), "有理数的加减法", "有理数"),
    ("有理数 加减", ("有理数", "加减"), "有理数的加减法", "有理数"),  # all of its characters, in a longer topic
])
def test_free_pieces_typed_apart_are_read_as_the_topic_they_name_together(q, typed, topic, chapter):
    """The pieces of a topic typed in another order (的 left out) are one concept: matched as typed when
    every piece occurs, else through the topic and its chapter (lower-weighted alternatives)."""
    (concept,) = parse_query(q, _tree_vocabulary()).concepts
    assert concept.options == (typed,)
    assert concept.fuzzy[:2] == (topic, chapter) and concept.known
    assert len(parse_query(q).concepts) == 2  # without an index's vocabulary, two pieces as before


def test_vocabulary_words_inside_a_topic_do_not_cut_it_apart():
    """化学 and 科学 are subjects: in 化学是一门以实验为基础科学 (的 dropped) they cut the topic into three
    pieces. Read as written together it is the section; the subject words still boost, the free text in
    between is what must occur as typed. 空间点、直线、平面之间的位置关系 is cut at its commas the same way."""
    vocabulary = _tree_vocabulary()
    found = _by_text("化学是一门以实验为基础科学 教案", vocabulary)
    topic = found["化学是一门以实验为基础科学"]
    assert topic.options == (("是一门以实验为基础",),) and not topic.boosts
    assert topic.fuzzy == ("化学是一门以实验为基础的科学", "走进化学世界")
    assert found["化学"].boosts == (("subject", ("化学",)),) and found["教案"].boosts
    found = _by_text("空间点、直线、平面之间的位置关系 公开课 素材包", vocabulary)
    assert list(found) == ["空间点、直线、平面之间的位置关系", "公开课", "素材包"]
    assert found["空间点、直线、平面之间的位置关系"].fuzzy[-1] == "立体几何初步"
    # a vocabulary word typed apart from the rest of its topic, in another order
    found = _by_text("生物 调查周边环境中 学案", vocabulary)
    assert found["生物调查周边环境中"].fuzzy == ("调查周边环境中的生物", "认识生物")
    assert found["生物"].boosts and not found["生物"].known


def test_pieces_naming_no_topic_together_stay_apart():
    """Words that only share characters with a topic, or a topic next to words it does not hold, are
    not merged: the extra word stays a concept of its own (and an unknown one)."""
    vocabulary = _tree_vocabulary()
    assert list(_by_text("细胞 名师", vocabulary)) == ["细胞", "名师"]
    found = _by_text("单细胞生物 名师 讲座实录", vocabulary)
    assert [(text, c.known) for text, c in found.items() if not c.boosts] == [
        ("单细胞生物", True), ("名师", False), ("讲座实录", False)]


def test_a_relaxed_search_keeps_the_known_concepts_longest():
    """Relaxation levels, each holding the one before: the known concepts with all unknown words but
    one, the known ones alone, then any concept; with no known or no unknown concept, all but one and
    then any (as before)."""
    from catalog.search.base import RelaxStep, relaxation_steps

    vocabulary = _tree_vocabulary()
    topic, master, talk = parse_query("单细胞生物 名师 讲座实录", vocabulary).required
    assert relaxation_steps((topic, master, talk)) == (
        RelaxStep((topic,), (master, talk), 1), RelaxStep((topic,), (master, talk), 0),
        RelaxStep((), (topic, master, talk), 1))
    assert relaxation_steps((master, talk)) == (RelaxStep((), (master, talk), 1),)
    first, second, third = parse_query("细胞 名师 讲座实录", vocabulary).required
    assert relaxation_steps((first, second, third)) == (
        RelaxStep((), (first, second, third), 2), RelaxStep((), (first, second, third), 1))
    assert relaxation_steps((topic,)) == ()


def _previous_highlight(text: str, phrases) -> str | None:
    """``highlight`` as it was before it became one regular expression per set of phrases: tokenize the
    text (when some phrase's first token occurs in it) and compare phrases token by token. The reference
    the rewrite must equal byte for byte."""
    from catalog.search.analysis import _TOKEN, _normalize_mapped

    phrases = [p for p in phrases if p]
    if not text or not phrases:
        return None
    folded, origin = _normalize_mapped(text)
    phrases = [p for p in phrases if p[0] in folded]
    if not phrases:
        return None
    texts: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    for match in _TOKEN.finditer(folded):
        start, end = match.span()
        run = match.group("cjk")
        if run:
            if len(run) == 1:
                texts.append(run)
                starts.append(origin[start])
                ends.append(origin[start] + 1)
            else:
                texts += map(str.__add__, run, run[1:])
                starts += origin[start:end - 1]
                ends += [o + 1 for o in origin[start + 1:end]]
        else:
            texts.append(match.group("word"))
            starts.append(origin[start])
            ends.append(origin[end - 1] + 1)
    at: dict[str, list[int]] = {}
    for i, tok in enumerate(texts):
        at.setdefault(tok, []).append(i)
    spans: list[tuple[int, int]] = []
    for phrase in phrases:
        n = len(phrase)
        for i in at.get(phrase[0], ()):
            if i + n <= len(texts) and all(texts[i + j] == phrase[j] for j in range(1, n)):
                spans.append((starts[i], ends[i + n - 1]))
    return _wrap_spans(text, spans)


# Chinese (runs and lone characters), kana and its middle dot, Latin words with the joiners, digits and
# decimals, full-width letters/digits/punctuation, characters whose folding is longer (ß, ﬁ, ½, İ),
# HTML-special characters, spaces of several kinds, control characters.
_ALPHABET = list("有理数的乘方第一章课件习题光合作用力ア・ーabcAZ019ＡＢｂ１２．’'._-<>&\"/ 　\tßﬁ½İΣς，。（）\x02\x03")
_WORDS = ["有理数", "有理", "理数", "乘方", "第一章", "一章", "课件", "习题", "光合作用", "力", "ア・ー", "ab", "abc",
          "a.b", "b", "2.1", "2", "1", "what's", "s", "ss", "fi", "1⁄2", "σ", "i̇", "ppt", "_a", "a_b", "ＡＢ", "有 理",
          "力 ab", "ab 有理", "第一章 有理", "数 的", "的"]


@st.composite
def _texts_and_phrases(draw):
    pieces = draw(st.lists(st.one_of(st.text(alphabet=st.sampled_from(_ALPHABET), max_size=6),
                                     st.sampled_from(_WORDS)), max_size=12))
    text = "".join(pieces)
    sources = st.one_of(st.sampled_from(_WORDS), st.text(alphabet=st.sampled_from(_ALPHABET), max_size=5))
    if text:  # pieces of the text itself, so that many phrases do occur
        sources = st.one_of(sources, st.integers(0, len(text)).flatmap(
            lambda i: st.integers(i, min(len(text), i + 8)).map(lambda j: text[i:j])))
    return text, draw(st.lists(sources, max_size=5))


@settings(max_examples=1500, deadline=None)
@given(case=_texts_and_phrases())
def test_highlight_equals_the_tokenizing_highlight_it_replaced(case):
    """The regular-expression ``highlight`` marks byte for byte what tokenizing the text and comparing
    phrases token by token marked (and the plain definition too), over generated texts and phrases:
    Chinese runs and lone characters, overlapping bigrams, words with joiners, decimals, full-width and
    multi-character foldings, HTML specials; phrases taken from the text itself or from elsewhere."""
    from catalog.search.analysis import tokenize

    text, phrase_texts = case
    phrases = [tuple(tokenize(p)) for p in phrase_texts]
    expected = _previous_highlight(text, phrases)
    assert highlight(text, phrases) == expected
    assert _reference_highlight(text, phrases) == expected


def test_highlight_edge_cases_equal_the_tokenizing_highlight():
    """Cases a random walk may miss: overlaps of one phrase with itself, phrases that are not tokens,
    a bigram ending one run and beginning the next, joiners at a word's edge, empty phrases."""
    cases = [
        ("ababab", ["abab", "ba"]), ("有理有理有理", ["有理有理"]), ("有理 理数", ["有理数"]), ("有理数", [("有理", "理数")]),
        ("a.b a b", ["a b", "a.b", "b"]), ("'a' _a_ a'", ["a"]), ("2.1.3 2.1", ["2.1"]), ("数 数学 数", ["数"]),
        ("x ab ab", ["ab ab"]), ("课件ppt课件", ["课件 ppt", "ppt 课件"]), ("Ｕｎｉｔ　３", ["unit 3"]),
        ("a<b>&c", ["b", "c"]), ("a\x02b\x03", ["a", "b"]), ("", ["a"]), ("abc", []), ("abc", [()]), ("abc", [("a b",), ("ab c",)]),
        ("ア・ー ア", ["ア・ー", "ア"]), ("ß ss", ["ss"]), ("½", ["1 2"]), ("ﬁ fi", ["fi"]),
    ]
    from catalog.search.analysis import tokenize

    for text, raw in cases:
        phrases = [p if isinstance(p, tuple) else tuple(tokenize(p)) for p in raw]
        assert highlight(text, phrases) == _previous_highlight(text, phrases), (text, raw)
    assert highlight("有理 理数", [("有理", "理数")]) == "<em>有理 理数</em>"  # bigrams of the phrase in two runs
    assert highlight("ababab", [("abab",)]) is None and highlight("a.b", [("a", "b")]) is None


def test_the_phrases_of_a_parsed_query_are_worked_out_once():
    """Every hit of a page is highlighted with the query's phrases: they are remembered on the parsed
    query, handed out as a fresh list each time, and do not make two equal queries unequal."""
    from catalog.search.analysis import ParsedQuery

    parsed = parse_query("初一数学 有理数 课件")
    first = parsed.phrases()
    assert first == list(dict.fromkeys(p for v in parsed.variants for c in v.concepts for p in c.phrases()))
    first.clear()
    assert parsed.phrases() and parsed.phrases() is not parsed.phrases()
    again = ParsedQuery(parsed.text, parsed.concepts, parsed.rewrites, parsed.corrections)
    assert again == parsed and hash(again) == hash(parsed)


def test_a_new_querys_highlight_pattern_holds_no_class_over_the_cjk_ranges():
    """Python's re compiler spends about 1.5 ms on each character class over the CJK ranges: a pattern with
    one per token cost 13–24 ms to compile for each new query. The phrase pattern tests class marks instead."""
    from catalog.search.analysis import _phrase_matcher

    phrases = tuple(tuple(tokenize(p)) for p in ("有理数的乘方", "有理数", "unit 3", "七年级", "2.1 整式"))
    pattern = _phrase_matcher(phrases).pattern
    assert "\u4e00" not in pattern and "\\u4e00" not in pattern and "\\w" not in pattern


def test_term_vocabularies_are_kept_safely_by_threads_searching_at_once():
    """gunicorn serves searches from threads; each builds or reuses the term vocabulary of its index
    generation (``fuzzy.term_vocabulary``, a few kept per process). Threads replacing the oldest at once
    must not fail (the PostgreSQL lane once saw a KeyError: two threads popping the same oldest set)."""
    import sys
    import threading

    from catalog.search import fuzzy

    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def work(offset: int) -> None:
        try:
            start.wait()
            for i in range(3000):
                n = (i + offset) % (fuzzy._BUILT_KEPT * 3)
                fuzzy.term_vocabulary([(f"词{n}", 1), ("数学", 2)])
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible: the race needs an unlucky switch
    try:
        threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert not errors
