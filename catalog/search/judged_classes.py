"""Judged queries of the failure classes a plain judged set misses, generated from the textbook tree.

    python -m catalog.search.judged_classes            # rewrite both files

Teachers mistype and rephrase; the hand-written queries of ``judged_queries.json`` do not. This module
writes queries of three classes over the chapter/section topics of ``chapters.jsonl``, each judged by
fields like the hand-written ones (grade 2: the topic's own section or chapter, with the resource type
when the query names one; grade 1: the topic's chapter):

* ``typo`` — one character of a topic of 3–6 characters replaced by another that a pinyin input method
  offers for the same syllable (same pinyin, another tone, or a usual confusion: z/zh, c/ch, s/sh, n/l,
  in/ing, en/eng, an/ang), taken from the characters of the catalog data itself;
* ``rephrase`` — the topic as a teacher says it: 的 dropped or added, the two sides of 与/和/及 swapped,
  a method word in another form (判定 → 判断, 解一元二次方程 → 一元二次方程的解法, 图象 → 图像);
* ``partial`` — the topic with a word no resource carries (公开课 素材包, 思维导图 …).

Queries are split by a hash of their text: one in three goes to ``judged_queries_heldout.json``, which
is never used to tune (``search_eval --queries``), the rest join the project's judged set as
``class``-tagged entries. The rules here were written from how teachers type, not from the engine.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from catalog.search.analysis import chapter_topic
from catalog.search.fuzzy import fold, readings

DATA = Path(__file__).resolve().parents[1] / "data"
HELD_OUT = DATA / "judged_queries_heldout.json"
JUDGED = DATA / "judged_queries.json"
SEED = 1717
TYPES = ("课件", "教案", "习题", "学案", "微课", "")
EXTRA_WORDS = ("公开课 素材包", "思维导图", "一等奖 获奖作品", "说课稿 优秀", "名师 讲座实录", "易错点 整理")
# Method and relation words as teachers write them instead of the textbook's form.
METHOD_FORMS = (("判定", "判断"), ("性质", "特点"), ("图象", "图像"), ("运算", "计算"), ("应用", "运用"),
                ("认识", "初步认识"), ("定律", "定理"), ("测量", "测定"), ("加减法", "加减运算"),
                ("乘除法", "乘除运算"), ("转化", "转换"), ("关系", "联系"))
_HAN = re.compile(r"^[\u4e00-\u9fff]+$")


def _topics() -> list[dict[str, Any]]:
    books = {b["id"]: b for b in map(json.loads, (DATA / "textbooks.jsonl").read_text("utf-8").splitlines())}
    out, seen = [], set()
    for row in map(json.loads, (DATA / "chapters.jsonl").read_text("utf-8").splitlines()):
        book = books[row["textbook_id"]]
        if book["subject"] == "英语":
            continue
        for level, heading in (("section", row["section"]), ("chapter", row["chapter"])):
            topic = chapter_topic(heading or "")
            if topic and (book["subject"], topic) not in seen:
                seen.add((book["subject"], topic))
                out.append({"subject": book["subject"], "topic": topic, "level": level,
                            "chapter": chapter_topic(row["chapter"])})
    return out


def _char_pool() -> list[str]:
    """Han characters of the catalog data (what an input method offers first: common ones)."""
    text = (DATA / "chapters.jsonl").read_text("utf-8") + (DATA / "textbooks.jsonl").read_text("utf-8")
    text += (DATA / "vocabularies.json").read_text("utf-8")
    return sorted({c for c in text if "\u4e00" <= c <= "\u9fff"})


def _sound_alikes(pool: list[str]) -> dict[str, list[str]]:
    by_sound: dict[str, set[str]] = {}
    for char in pool:
        for r in readings(char):
            by_sound.setdefault(fold(r), set()).add(char)
    return {c: sorted({o for r in readings(c) for o in by_sound.get(fold(r), ()) if o != c}) for c in pool}


def _typo(topic: str, alikes: dict[str, list[str]], rng: random.Random) -> str | None:
    if not (3 <= len(topic) <= 6 and _HAN.match(topic)):
        return None
    positions = [i for i, c in enumerate(topic) if alikes.get(c)]
    if not positions:
        return None
    i = rng.choice(positions)
    return topic[:i] + rng.choice(alikes[topic[i]]) + topic[i + 1:]


def _rephrase(topic: str, rng: random.Random) -> str | None:
    options = []
    if "的" in topic:
        options.append(topic.replace("的", "", 1))
        left, _, right = topic.partition("的")
        if left and right and len(right) >= 2:
            options.append(f"{right} {left}")
    for sep in ("与", "和", "及"):
        if topic.count(sep) == 1:
            left, _, right = topic.partition(sep)
            if len(left) >= 2 and len(right) >= 2:
                options.append(f"{right}{sep}{left}")
    for textbook, teacher in METHOD_FORMS:
        if textbook in topic:
            options.append(topic.replace(textbook, teacher, 1))
    if topic.startswith("解") and len(topic) >= 4:
        options.append(f"{topic[1:]}的解法")
    if len(topic) >= 4 and "的" not in topic and _HAN.match(topic):
        for i in range(2, len(topic) - 1):
            if topic[:i] in ("二次函数", "一次函数", "有理数", "平行线", "二次根式", "整式", "分式", "细胞", "地球"):
                options.append(f"{topic[:i]}的{topic[i:]}")
    options = [o for o in dict.fromkeys(options) if o != topic]
    return rng.choice(options) if options else None


def _rules(item: dict[str, Any], rtype: str) -> list[dict[str, Any]]:
    where = {"subject": item["subject"], f"{item['level']}~": item["topic"]}
    rules = [{"grade": 2, "match": {**where, "resource_type": rtype} if rtype else where}]
    if rtype:
        rules.append({"grade": 1, "match": where})
    if item["level"] == "section" and item["chapter"] and item["chapter"] != item["topic"]:
        rules.append({"grade": 1, "match": {"subject": item["subject"], "chapter~": item["chapter"]}})
    return rules


def generate() -> Iterator[dict[str, Any]]:
    rng = random.Random(SEED)
    alikes = _sound_alikes(_char_pool())
    for item in _topics():
        rtype = rng.choice(TYPES)
        suffix = f" {rtype}" if rtype else ""
        typo = _typo(item["topic"], alikes, rng)
        if typo:
            yield {"class": "typo", "q": typo + suffix, "relevant": _rules(item, rtype),
                   "note": f"typo of {item['topic']}"}
        rephrased = _rephrase(item["topic"], rng)
        if rephrased:
            yield {"class": "rephrase", "q": rephrased + suffix, "relevant": _rules(item, rtype),
                   "note": f"rephrasing of {item['topic']}"}
        if len(item["topic"]) >= 3 and rng.random() < 0.25:
            yield {"class": "partial", "q": f"{item['topic']} {rng.choice(EXTRA_WORDS)}",
                   "relevant": _rules(item, ""), "note": f"{item['topic']} with words no resource has"}


def held_out(q: str) -> bool:
    return int(hashlib.sha256(q.encode()).hexdigest(), 16) % 3 == 0


def write(*, per_class: int = 40) -> tuple[int, int]:
    """Sample ``per_class`` queries of each class (seeded) and write the tuning and held-out files."""
    rng = random.Random(SEED + 1)
    by_class: dict[str, list[dict[str, Any]]] = {}
    for query in generate():
        by_class.setdefault(query["class"], []).append(query)
    chosen = [q for name in sorted(by_class) for q in rng.sample(by_class[name], min(per_class, len(by_class[name])))]
    for i, query in enumerate(chosen):
        query["id"] = f"{query['class']}-{i:03d}"
    tuning = [q for q in chosen if not held_out(q["q"])]
    aside = [q for q in chosen if held_out(q["q"])]
    judged = json.loads(JUDGED.read_text("utf-8"))
    judged["queries"] = [q for q in judged["queries"] if "class" not in q] + tuning
    JUDGED.write_text(json.dumps(judged, ensure_ascii=False, indent=1) + "\n", "utf-8")
    HELD_OUT.write_text(json.dumps({
        "version": 1, "description": "Generated class queries held out from tuning (catalog/search/judged_classes.py).",
        "queries": aside}, ensure_ascii=False, indent=1) + "\n", "utf-8")
    return len(tuning), len(aside)


if __name__ == "__main__":
    tuning, aside = write()
    print(f"tuning {tuning}, held out {aside}")
