"""Folding and term matching of the pre-review: negative-list terms are found through the common evasions
(full-width letters, inserted spaces and symbols, zero-width characters, traditional characters, case),
hits map back to the original text for the snippet, and ASCII words do not match inside other words."""

from __future__ import annotations

import pytest

from catalog.prereview.fingerprints import MIN_CHARS, NEAR_IDENTICAL, fingerprint
from catalog.prereview.matching import Term, TermMatcher, fold, snippet

MATCHER = TermMatcher([Term("t1", "违禁词"), Term("t2", "sex"), Term("t3", "ＢＡＤ样例"), Term("t4", "賭博網站")])


def keys(text: str) -> list[str]:
    hits, _ = MATCHER.find(text)
    return [h.key for h in hits]


@pytest.mark.parametrize("text", [
    "这里有违禁词。",
    "这里有違禁詞。",  # traditional characters
    "这里有违 禁 词。",  # spaces inserted
    "这里有违\u3000禁\u3000词。",  # ideographic spaces
    "这里有违\u200b禁\u200d词。",  # zero-width space and joiner
    "这里有违★禁·词。",  # symbols and punctuation inserted
    "这里有违-禁_词。",
    "这里有違\ufe0f禁\u00ad詞。",  # a variation selector and a soft hyphen
    "这里有违\n禁\n词。",  # line breaks (a term cut across lines of a file)
])
def test_chinese_term_is_found_through_evasions(text):
    """Every variant of 违禁词 is found, as the one entry t1."""
    assert keys(text) == ["t1"]


@pytest.mark.parametrize("text", ["S E X", "Ｓｅｘ", "s.e.x", "SEX!", "s\u200be\u200bx"])
def test_ascii_term_is_found_through_full_width_case_and_separators(text):
    assert keys(text) == ["t2"]


@pytest.mark.parametrize("text", ["Sussex", "Essex county", "sextant", "unisex"])
def test_ascii_term_does_not_match_inside_another_word(text):
    assert keys(text) == []


def test_full_width_term_matches_half_width_text_and_traditional_term_matches_simplified():
    assert keys("bad样例") == ["t3"]
    assert keys("一个赌博网站") == ["t4"]


def test_folding_is_nfkc_casefold_without_separators_and_simplified():
    assert fold("Ｆｕｌｌ－Ｗｉｄｔｈ　１２３") == "fullwidth123"
    assert fold("違禁詞 ㊙") == "违禁词秘"
    assert fold("a\u200bb\u2060c\u202ed") == "abcd"


def test_hit_maps_back_to_the_original_span_and_snippet_is_bounded():
    text = "前" * 200 + "违 禁\u200b詞" + "后" * 200
    hits, total = MATCHER.find(text)
    assert total == 1
    hit = hits[0]
    assert text[hit.start:hit.end] == "违 禁\u200b詞"
    assert "【违 禁[U+200B]詞】" in hit.snippet
    assert len(hit.snippet) < 80 and hit.snippet.startswith("…") and hit.snippet.endswith("…")


def test_every_occurrence_is_counted_but_hits_are_capped():
    hits, total = MATCHER.find("违禁词，" * 50, max_hits=5)
    assert total == 50 and len(hits) == 5


def test_clean_text_has_no_hits():
    assert keys("有理数的概念与分类，含课堂练习。Unit 3 Essex") == []


def test_snippet_of_a_short_text_has_no_ellipsis():
    assert snippet("ab违禁词cd", 2, 5) == "ab【违禁词】cd"


# --- fingerprints ---------------------------------------------------------------------------------------------

BASE = ("有理数是整数与分数的统称。正整数、零、负整数统称整数；正分数、负分数统称分数。"
        "数轴是规定了原点、正方向和单位长度的直线，任何一个有理数都可以用数轴上的一个点来表示。"
        "只有符号不同的两个数叫做互为相反数，零的相反数是零。一个数在数轴上所对应的点与原点的距离"
        "叫做该数的绝对值。正数的绝对值是它本身，负数的绝对值是它的相反数，零的绝对值是零。"
        "两个负数比较大小，绝对值大的反而小。有理数加法法则：同号两数相加，取相同的符号，并把绝对值相加。")


def test_near_identical_texts_have_similar_fingerprints_and_different_ones_do_not():
    """A few changed words keep the estimated similarity high; an unrelated text of the same length does not."""
    text = fold(BASE * 2)
    edited = fold((BASE * 2).replace("数轴", "数线", 1).replace("绝对值大的反而小", "绝对值大的那个反而较小", 1))
    other = fold("光合作用是绿色植物利用光能，把二氧化碳和水合成有机物并释放氧气的过程。" * 8)
    a, b, c = fingerprint(text), fingerprint(edited), fingerprint(other)
    assert a is not None and b is not None and c is not None
    assert a.similarity(b) >= NEAR_IDENTICAL
    assert a.similarity(c) < 0.2
    assert set(a.band_keys()) & set(b.band_keys())
    assert not set(a.band_keys()) & set(c.band_keys())


def test_short_texts_get_no_fingerprint():
    assert fingerprint("有理数" * ((MIN_CHARS - 1) // 3)) is None
