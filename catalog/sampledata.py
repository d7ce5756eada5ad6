"""Sample courseware catalog: reference data loaders and a deterministic record generator.

The reference data lives in ``catalog/data/`` (see its README): the real textbook catalog
(``textbooks.jsonl``, ``chapters.jsonl``) and the national education vocabulary
(``vocabularies.json``). This module reads nothing else.

``generate(n, seed=...)`` yields invented resource records built on the real textbooks and headings,
in the record format that ``manage.py import_corpus`` reads (the shared corpus format: id, title,
description, subject, stage, grade, edition, volume, chapter, section, resource_type, keywords,
language, publisher, license, price, file, created_at, textbook_id). Output is a pure function of the
seed, and prefix-stable: the first ``k`` records of ``generate(n)`` are ``generate(k)``. The first few
thousand records cover every lesson x lesson type, every unit x {test paper, unit plan} and every book x
{final exam, whole-book plan, review slides}; random sampling follows.

Command line::

    python -m catalog.sampledata --n 3000 --seed 1 --out sample.jsonl
    python -m catalog.sampledata --n 100000 --out - | gzip > big.jsonl.gz

Standard library only; the module must stay importable without Django.
"""

from __future__ import annotations

import argparse
import bisect
import functools
import json
import random
import re
import sys
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

DATA_DIR = Path(__file__).resolve().parent / "data"
DEFAULT_SEED = 20240901
K12_STAGES = ("小学", "初中", "高中")
RESOURCE_TYPES = ("教案", "课件", "习题", "学案", "试卷", "微课")
LICENSES = (
    "CC-BY-4.0",
    "CC-BY-SA-4.0",
    "CC-BY-NC-4.0",
    "CC-BY-NC-SA-4.0",
    "CC-BY-ND-4.0",
    "ALL-RIGHTS-RESERVED",
)
PAID_LICENSE = "ALL-RIGHTS-RESERVED"

__all__ = [
    "DATA_DIR",
    "DEFAULT_SEED",
    "K12_STAGES",
    "LICENSES",
    "RESOURCE_TYPES",
    "generate",
    "load_chapters",
    "load_textbooks",
    "load_vocabularies",
    "main",
    "vocabulary_codes",
]


# ---------------------------------------------------------------------------------------------------
# Reference data
# ---------------------------------------------------------------------------------------------------
def _read_jsonl(name: str) -> list[dict[str, Any]]:
    with open(DATA_DIR / name, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


@functools.cache
def _textbooks() -> tuple[dict[str, Any], ...]:
    return tuple(_read_jsonl("textbooks.jsonl"))


@functools.cache
def _chapters() -> tuple[dict[str, Any], ...]:
    return tuple(_read_jsonl("chapters.jsonl"))


@functools.cache
def load_vocabularies() -> dict[str, Any]:
    """Return the parsed ``vocabularies.json`` (cached: treat it as read-only)."""
    with open(DATA_DIR / "vocabularies.json", encoding="utf-8") as fh:
        return json.load(fh)


@functools.cache
def vocabulary_codes(name: str) -> frozenset[str]:
    """Return the codes of one vocabulary, e.g. ``vocabulary_codes("grade")``. Raises KeyError if unknown."""
    return frozenset(term["code"] for term in load_vocabularies()["vocabularies"][name])


def load_textbooks() -> list[dict[str, Any]]:
    """Return every textbook of ``textbooks.jsonl`` (all stages, in file order) as fresh dicts."""
    return [dict(book) for book in _textbooks()]


def load_chapters() -> list[dict[str, Any]]:
    """Return every heading row of ``chapters.jsonl`` (in file order) as fresh dicts."""
    return [dict(row) for row in _chapters()]


# ---------------------------------------------------------------------------------------------------
# Phrasing
# ---------------------------------------------------------------------------------------------------
# Fictional organisations: any likeness to a real body is accidental. The kind steers their licensing;
# school groups and subject studios only publish for their own stages and subjects.
PUBLISHERS: tuple[tuple[str, str, tuple[str, ...] | None, tuple[str, ...] | None], ...] = (
    # name, kind, stages (None = all), subjects (None = all)
    ("澄江教育出版社数字出版部", "press", None, None),
    ("鸿渐教育出版社数字资源中心", "press", None, None),
    ("青禾数字教育出版有限公司", "press", None, None),
    ("远帆教育科技有限公司", "press", None, None),
    ("知源课程资源有限公司", "press", ("初中", "高中"), None),
    (
        "墨韵文化传媒教育事业部",
        "press",
        None,
        ("语文", "历史", "道德与法治", "思想政治", "音乐", "美术", "艺术"),
    ),
    ("望舒市教育科学研究院", "research", None, None),
    ("晴岚市基础教育研究室", "research", None, None),
    ("云岫县教师发展中心", "research", ("小学", "初中"), None),
    ("桐川区教研室", "research", None, None),
    ("星澜实验中学数学组", "school", ("初中", "高中"), ("数学",)),
    ("梧桐巷小学语文教研组", "school", ("小学",), ("语文",)),
    ("晓岚中学理化生教研组", "school", ("初中", "高中"), ("物理", "化学", "生物学")),
    ("青萝实验学校英语组", "school", ("小学", "初中"), ("英语",)),
    ("云杉路小学", "school", ("小学",), None),
    ("林间名师工作室", "community", None, None),
    ("拾光教研共同体", "community", None, None),
    ("山乡教师互助联盟", "community", ("小学", "初中"), None),
    ("格物物理教学工作室", "community", ("初中", "高中"), ("物理",)),
    ("思源历史教学研究会", "community", ("初中", "高中"), ("历史",)),
)
# License mix per publisher kind: presses mostly sell, schools and teacher communities mostly share.
LICENSE_MIX = {
    "press": (8, 3, 10, 12, 7, 60),
    "research": (30, 15, 20, 20, 5, 10),
    "school": (25, 20, 20, 25, 4, 6),
    "community": (30, 25, 15, 22, 3, 5),
}
PRICES = (1, 2, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25)
FREE_PROPRIETARY_SHARE = 0.1  # all rights reserved, yet free of charge

SUBJECT_WEIGHT = {
    "数学": 3.2,
    "语文": 3.0,
    "英语": 2.6,
    "物理": 1.8,
    "化学": 1.6,
    "生物学": 1.3,
    "历史": 1.2,
    "地理": 1.0,
    "道德与法治": 1.0,
    "思想政治": 1.0,
    "科学": 1.0,
}
OTHER_SUBJECT_WEIGHT = 0.4
# How a subject may be written in a title (the record keeps the vocabulary code).
SUBJECT_SPELLINGS = {
    "生物学": ("生物学", "生物", "生物"),
    "思想政治": ("思想政治", "政治", "思想政治"),
    "道德与法治": ("道德与法治", "道德与法治", "道法"),
}
JUNIOR_ALIAS = {"七年级": "初一", "八年级": "初二", "九年级": "初三"}

LEVEL_SHARE = (("lesson", 72), ("unit", 12), ("book", 16))
TYPE_MIX = {
    "lesson": (("课件", 28), ("教案", 24), ("习题", 22), ("学案", 12), ("微课", 14)),
    "unit": (("试卷", 60), ("教案", 15), ("课件", 15), ("习题", 10)),
    "book": (("试卷", 40), ("课件", 18), ("教案", 14), ("习题", 18), ("学案", 5), ("微课", 5)),
}
COVER = {
    "lesson": ("教案", "课件", "习题", "学案", "微课"),
    "unit": ("试卷", "教案"),
    "book": ("试卷", "教案", "课件"),
}

LESSON_ENDINGS = {
    "教案": (
        "教案",
        "教学设计",
        "优秀教案",
        "教学设计（第{k}课时）",
        "表格式教案",
        "教案及教学反思",
        "核心素养导向教学设计",
    ),
    "课件": ("课件", "PPT课件", "课件（{p}张PPT）", "精品课件", "新授课课件", "课件（第{k}课时）"),
    "习题": ("同步练习", "课时练习", "分层作业", "课后作业（含答案）", "基础达标练习", "一课一练"),
    "学案": ("导学案", "学案", "预习案", "导学案（无答案）"),
    "微课": ("微课", "微课视频", "知识点微课", "微课精讲"),
}
UNIT_ENDINGS = {
    "试卷": ("单元测试卷", "单元检测卷（含答案）", "单元达标卷", "单元素养测评卷", "章末检测"),
    "教案": ("大单元教学设计", "单元整体教学设计"),
    "课件": ("单元复习课件", "单元复习PPT"),
    "习题": ("单元复习练习", "单元知识梳理与练习"),
}
BOOK_ENDINGS = {
    "试卷": ("期末测试卷", "期中测试卷", "期末模拟卷（含答案）", "期中质量检测卷"),
    "教案": ("全册教案", "全册教学设计"),
    "课件": ("期末总复习课件", "全册复习课件"),
    "习题": ("{holiday}作业", "期末复习专项训练"),
    "学案": ("全册导学案",),
    "微课": ("期末复习微课合集",),
}
TYPE_KEYWORDS = {
    "教案": ("教案", "教学设计"),
    "课件": ("课件",),
    "习题": ("练习",),
    "学案": ("导学案",),
    "微课": ("微课",),
    "试卷": ("测试卷",),
}
EXTRA_KEYWORDS = ("新课标", "核心素养", "公开课", "新教材", "课堂实录", "分层教学")

FORMATS = {  # extension weights per resource type
    "教案": (("docx", 72), ("doc", 12), ("pdf", 16)),
    "课件": (("pptx", 88), ("ppt", 8), ("pdf", 4)),
    "习题": (("docx", 62), ("pdf", 32), ("doc", 6)),
    "学案": (("docx", 75), ("pdf", 25)),
    "试卷": (("docx", 58), ("pdf", 42)),
    "微课": (("mp4", 1),),
}
MIME_TYPES = {
    "doc": "application/msword",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "ppt": "application/vnd.ms-powerpoint",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "pdf": "application/pdf",
    "mp4": "video/mp4",
}
QUESTION_KINDS = {
    "语文": "积累运用、阅读理解与写作",
    "数学": "选择、填空与解答题",
    "英语": "听力理解、语言运用、阅读与写作",
    "物理": "选择、填空、作图、实验与计算题",
    "化学": "选择、填空、实验探究与计算题",
    "生物学": "选择、识图与实验探究题",
    "科学": "选择、填空与实验探究题",
    "历史": "选择题与材料解析题",
    "地理": "选择题与读图综合题",
    "道德与法治": "选择题与材料分析题",
    "思想政治": "选择题与主观论述题",
}
EN_TYPE_NAMES = {
    "lesson": {
        "教案": "Lesson Plan",
        "课件": "Slides",
        "习题": "Practice",
        "学案": "Learning Guide",
        "微课": "Micro-lesson",
    },
    "unit": {
        "试卷": "Unit Test",
        "教案": "Unit Plan",
        "课件": "Unit Review Slides",
        "习题": "Unit Review Practice",
    },
}
EN_SHARE = 0.12  # share of English-subject unit/lesson records written in English

START = datetime(2019, 9, 1, tzinfo=UTC)
END = datetime(2025, 6, 30, 23, 59, 59, tzinfo=UTC)
# Academic years 2019/20 … 2024/25; more material in recent years.
ACADEMIC_YEARS = ((2019, 10), (2020, 13), (2021, 16), (2022, 19), (2023, 22), (2024, 24))

_LABEL = re.compile(
    r"(?:第[〇零一二三四五六七八九十百\d]+(?:章|节|课|单元)|课题\s*\d+|(?:Starter |Welcome )?Unit(?: \d+)?"
    r"|\d+(?:\.\d+)*)\s*"
)
_ENGLISH_UNIT = re.compile(r"(?:Starter |Welcome )?Unit\b")
_UNSAFE_FILENAME = re.compile(r'[\\/:*?"<>|\s]+')


def _topic(heading: str) -> str:
    """The subject matter of a heading without its numbering: '第一章 有理数' -> '有理数'."""
    rest = heading.strip()
    while (m := _LABEL.match(rest)) and m.end():
        rest = rest[m.end() :]
    return rest.strip() or heading.strip()


def _label(heading: str) -> str:
    """The numbering of a heading: '第七章 力' -> '第七章' ('' when it has none)."""
    m = _LABEL.match(heading.strip())
    return m.group(0).strip() if m else ""


class _Table:
    """Weighted choice over a fixed list, by bisection on cumulative weights."""

    __slots__ = ("items", "cum", "total")

    def __init__(self, pairs: Sequence[tuple[Any, float]]):
        self.items, self.cum, acc = [], [], 0.0
        for item, weight in pairs:
            acc += weight
            self.items.append(item)
            self.cum.append(acc)
        self.total = acc

    def draw(self, rng: random.Random) -> Any:
        return self.items[bisect.bisect_right(self.cum, rng.random() * self.total)]


# ---------------------------------------------------------------------------------------------------
# Catalog model (seed independent, built once)
# ---------------------------------------------------------------------------------------------------
class _Book:
    __slots__ = (
        "row",
        "id",
        "stage",
        "subject",
        "grade",
        "edition",
        "volume",
        "scope",
        "names",
        "holiday",
        "weight",
        "has_units",
        "term",
        "publishers",
    )

    def __init__(self, row: dict[str, Any]):
        self.row = row
        self.id, self.stage, self.subject = row["id"], row["stage"], row["subject"]
        self.grade, self.edition, self.volume = row["grade"], row["edition_short"], row["volume"]
        vol = self.volume or ""
        self.scope = f"{self.edition}{self.grade or self.stage}{self.subject}{vol}"
        self.term = "autumn" if vol.endswith("上册") else "spring" if vol.endswith("下册") else None
        self.holiday = "寒假" if self.term == "autumn" else "暑假"
        self.weight = SUBJECT_WEIGHT.get(self.subject, OTHER_SUBJECT_WEIGHT)
        self.has_units = False
        self.names = self._names()
        self.publishers = tuple(
            (name, kind)
            for name, kind, stages, subjects in PUBLISHERS
            if (stages is None or self.stage in stages) and (subjects is None or self.subject in subjects)
        )

    def _names(self) -> tuple[str, ...]:
        """Ways a teacher writes this book in a title (without the edition)."""
        vol = self.volume or ""
        names = []
        for subj in SUBJECT_SPELLINGS.get(self.subject, (self.subject,)):
            if self.stage == "高中":
                m = re.fullmatch(r"((?:选择性)?必修\d*) (.+)", vol)
                if m and m.group(1)[-1].isdigit():  # 必修1 分子与细胞
                    names.append(f"高中{subj}{m.group(1)}《{m.group(2)}》")
                    names.append(f"高中{subj}{vol}")
                elif m:  # 必修 第一册
                    names.append(f"高中{subj}{m.group(1)}{m.group(2)}")
                    names.append(f"高中{subj}{vol}")
                else:
                    names.append(f"高中{subj}{vol}")
            else:
                names.append(f"{self.grade or ''}{subj}{vol}")
                if self.grade in JUNIOR_ALIAS:
                    names.append(f"{JUNIOR_ALIAS[self.grade]}{subj}{vol}")
        return tuple(names)


class _Unit:
    """A place in a book that resources attach to: a lesson, a unit (chapter) or the whole book."""

    __slots__ = ("book", "level", "chapter", "section", "topic", "english_topic", "keywords", "shown")

    def __init__(self, book: _Book, level: str, chapter: str = "", section: str = ""):
        self.book, self.level, self.chapter, self.section = book, level, chapter, section
        english = book.subject == "英语" and bool(_ENGLISH_UNIT.match(chapter))
        self.english_topic = section if english and section else ""
        if level == "lesson" and section and not self.english_topic:
            self.topic = _topic(section)
        elif chapter:
            self.topic = _topic(chapter)
        else:
            self.topic = ""
        kw = [book.subject, book.grade or book.stage, book.edition]
        if chapter:
            kw.append(_topic(chapter))
        if level == "lesson" and section:
            kw.append(_topic(section))
        self.keywords = tuple(dict.fromkeys(k for k in kw if k))
        self.shown = self._shown() if level != "book" else ("",)

    def _shown(self) -> tuple[str, ...]:
        """Ways to write the lesson or unit between the book name and the ending of a title."""
        chapter, section = self.chapter, self.section
        if self.level == "unit" or not section:
            return (chapter,)
        if self.english_topic:
            return (chapter, f"{chapter}（{self.english_topic}）")
        forms = [f"{chapter} {section}"]
        m = re.fullmatch(r"(\d+) ([^（《]+)", section)
        if self.book.subject == "语文" and m and not m.group(2).startswith(("习作", "口语交际", "写作")):
            forms += [f"{chapter} {m.group(1)}《{m.group(2)}》", f"《{m.group(2)}》"]
        elif _label(section):
            forms.append(section)
            if _label(chapter) and _label(chapter) != chapter.strip():
                forms.append(f"{_label(chapter)} {section}")
        return tuple(forms)


@functools.cache
def _english_labels() -> dict[str, dict[str, str]]:
    vocabularies = load_vocabularies()["vocabularies"]
    return {name: {t["code"]: t["label"]["en"] for t in vocabularies[name]} for name in ("grade", "volume")}


@functools.cache
def _model() -> tuple[tuple[_Unit, ...], tuple[_Unit, ...], tuple[_Unit, ...]]:
    books = [_Book(b) for b in _textbooks() if b["stage"] in K12_STAGES and b.get("edition_short")]
    by_id = {b.id: b for b in books}
    lessons: list[_Unit] = []
    units: dict[tuple[str, str], _Unit] = {}
    for row in _chapters():
        book = by_id.get(row["textbook_id"])
        if book is None:
            continue
        book.has_units = True
        lessons.append(_Unit(book, "lesson", row["chapter"], row["section"]))
        key = (book.id, row["chapter"])
        if key not in units:
            units[key] = _Unit(book, "unit", row["chapter"])
    return tuple(lessons), tuple(units.values()), tuple(_Unit(b, "book") for b in books)


# ---------------------------------------------------------------------------------------------------
# Generation
# ---------------------------------------------------------------------------------------------------
class _Generator:
    def __init__(self, seed: int):
        lessons, units, books = _model()
        plan = [(u, t) for u in lessons for t in COVER["lesson"]]
        plan += [(u, t) for u in units for t in COVER["unit"]]
        plan += [(u, t) for u in books for t in COVER["book"]]
        random.Random(f"catalog.sampledata/plan/{seed}").shuffle(plan)
        self.plan = plan
        self.rng = random.Random(f"catalog.sampledata/records/{seed}")
        self.pick_unit = {
            "lesson": _Table([(u, u.book.weight) for u in lessons]),
            "unit": _Table([(u, u.book.weight) for u in units]),
            "book": _Table([(u, u.book.weight) for u in books]),
        }
        self.pick_level = _Table(LEVEL_SHARE)
        self.pick_type = {level: _Table(mix) for level, mix in TYPE_MIX.items()}
        self.pick_license = {
            kind: _Table(list(zip(LICENSES, mix, strict=True))) for kind, mix in LICENSE_MIX.items()
        }
        self.pick_format = {t: _Table(mix) for t, mix in FORMATS.items()}
        self.pick_year = _Table(ACADEMIC_YEARS)
        self.start_ts, self.end_ts = int(START.timestamp()), int(END.timestamp())

    def records(self, n: int) -> Iterator[dict[str, Any]]:
        for i in range(n):
            if i < len(self.plan):
                unit, rtype = self.plan[i]
            else:
                unit = self.pick_unit[self.pick_level.draw(self.rng)].draw(self.rng)
                rtype = self.pick_type[unit.level].draw(self.rng)
            yield self._record(unit, rtype)

    # -- pieces ----------------------------------------------------------------------------------
    def _created(self, book: _Book) -> tuple[int, int, str]:
        """(academic start year, month, ISO timestamp); term books are mostly made during their term."""
        rng = self.rng
        year = self.pick_year.draw(rng)
        lo = datetime(year, 8, 1, tzinfo=UTC)
        hi = datetime(year + 1, 6, 30, 23, 59, 59, tzinfo=UTC)
        if book.term and rng.random() < 0.8:
            split = datetime(year + 1, 1, 20, tzinfo=UTC)
            lo, hi = (lo, split) if book.term == "autumn" else (split, hi)
        ts = rng.randrange(max(int(lo.timestamp()), self.start_ts), min(int(hi.timestamp()), self.end_ts) + 1)
        when = datetime.fromtimestamp(ts, tz=UTC)
        return year, when.month, when.strftime("%Y-%m-%dT%H:%M:%SZ")

    def _book_prefix(self, book: _Book, year: int) -> str:
        rng = self.rng
        name = rng.choice(book.names)
        style = rng.random()
        if style < 0.55:
            return f"{book.edition}{name}"
        if style < 0.68:
            return f"【{book.edition}】{name}"
        if style < 0.80 and book.term:
            season = f"{year}秋" if book.term == "autumn" else f"{year + 1}春"
            return f"{season}{book.edition}{name}"
        if style < 0.90:
            return f"{year}-{year + 1}学年{book.edition}{name}"
        return f"{name}（{book.edition}）"

    def _ending(self, unit: _Unit, rtype: str, pages: int) -> str:
        table = {"lesson": LESSON_ENDINGS, "unit": UNIT_ENDINGS, "book": BOOK_ENDINGS}[unit.level][rtype]
        return self.rng.choice(table).format(k=self.rng.randint(1, 3), p=pages, holiday=unit.book.holiday)

    def _record(self, unit: _Unit, rtype: str) -> dict[str, Any]:
        rng, book = self.rng, unit.book
        year, _month, created = self._created(book)
        pages = rng.randint(14, 52)
        ending = self._ending(unit, rtype, pages)
        shown = rng.choice(unit.shown)
        language = "zh-Hans"
        if unit.english_topic and rng.random() < EN_SHARE:
            language = "en"
            title = f"{shown} {EN_TYPE_NAMES[unit.level][rtype]} | {self._english_book(book)}"
            description = self._describe_en(unit, rtype, pages)
        else:
            prefix = self._book_prefix(book, year)
            title = f"{prefix} {shown} {ending}" if shown else f"{prefix} {ending}"
            description = self._describe(unit, rtype, pages, ending)

        keywords = list(unit.keywords)
        if unit.level == "unit" and len(keywords) > 4:
            keywords = keywords[:4]
        keywords += TYPE_KEYWORDS[rtype]
        if unit.level == "book":
            keywords.append(
                "期末复习" if "期末" in ending else "期中复习" if "期中" in ending else ending.split("（")[0]
            )
        elif unit.level == "unit" and rtype != "试卷":
            keywords.append("单元复习" if "复习" in ending else "大单元教学" if "单元" in ending else ending)
        if rng.random() < 0.25:
            keywords.append(rng.choice(EXTRA_KEYWORDS))
        if unit.english_topic:
            keywords.append(unit.english_topic)

        publisher, kind = rng.choice(book.publishers)
        license_id = self.pick_license[kind].draw(rng)
        price = 0
        if license_id == PAID_LICENSE and rng.random() >= FREE_PROPRIETARY_SHARE:
            price = rng.choice(PRICES)

        ext = self.pick_format[rtype].draw(rng)
        file: dict[str, Any] = {"name": self._file_name(title, ext), "mime": MIME_TYPES[ext]}
        if ext == "mp4":
            seconds = rng.randint(180, 960)
            file["size_bytes"] = int(seconds * rng.uniform(110_000, 320_000))
            file["duration_seconds"] = seconds
        elif ext in ("pptx", "ppt"):
            file["size_bytes"] = int(pages * rng.uniform(70_000, 1_100_000))
        elif ext == "pdf":
            file["size_bytes"] = int(rng.lognormvariate(13.1, 0.7))
        else:
            file["size_bytes"] = int(rng.lognormvariate(11.6, 0.8)) + 12_000

        return {
            "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "title": title,
            "description": description,
            "subject": book.subject,
            "stage": book.stage,
            "grade": book.grade,
            "edition": book.edition,
            "volume": book.volume,
            "chapter": unit.chapter,
            "section": unit.section if unit.level == "lesson" else "",
            "resource_type": rtype,
            "keywords": list(dict.fromkeys(keywords)),
            "language": language,
            "publisher": publisher,
            "license": license_id,
            "price": price,
            "file": file,
            "created_at": created,
            "textbook_id": book.id,
        }

    @staticmethod
    def _file_name(title: str, ext: str) -> str:
        stem = _UNSAFE_FILENAME.sub("_", title).strip("_.")[:100].rstrip("_.")
        return f"{stem or 'resource'}.{ext}"

    def _describe(self, unit: _Unit, rtype: str, pages: int, ending: str) -> str:
        rng, book = self.rng, unit.book
        scope = book.scope
        about = f"“{unit.topic}”" if unit.topic else "全册内容"
        if unit.english_topic:
            about += f"（{unit.english_topic}）"
        place = f"{unit.chapter} {unit.section}".strip() if unit.level == "lesson" else unit.chapter
        if rtype == "试卷":
            return self._describe_test(unit, ending)
        if rtype == "教案":
            first = (
                f"{scope}全册教学设计，按单元编排课时。"
                if unit.level == "book"
                else f"以{about}为课题的教学设计，配套{scope}{place}。"
            )
            return first + rng.choice(
                (
                    "明确了教学目标与重难点，教学过程分导入、新授、巩固、小结四步，附板书设计。",
                    "以真实情境引入，设置小组合作探究任务，落实学科核心素养。",
                    "每个环节标注设计意图，课后附教学反思。",
                    "提供分层作业建议，便于因材施教。",
                )
            )
        if rtype == "课件":
            first = (
                f"{scope}复习课件，共{pages}页，梳理全册知识结构。"
                if unit.level == "book"
                else f"{about}课件，共{pages}页，适用于{scope}。"
            )
            return first + rng.choice(
                (
                    "含情境导入、知识讲解、例题精析和随堂检测。",
                    "动画演示直观，互动环节丰富，可按学情增删。",
                    "版式简洁，便于一线教师直接使用。",
                )
            )
        if rtype == "习题":
            count = rng.randint(10, 36)
            first = (
                f"{scope}{ending}，共{count}题。"
                if unit.level == "book"
                else f"{about}配套练习，共{count}题，适用于{scope}。"
            )
            return first + rng.choice(
                ("题目由易到难分为三个层次。", "附答案与详细解析。", "可用于课堂检测或课后作业。")
            )
        if rtype == "学案":
            return f"{about}学案，适用于{scope}。" + rng.choice(
                ("由学习目标、课前预习、课堂探究和达标检测组成。", "引导学生自主学习，附课后巩固练习。")
            )
        return f"{about}微课，时长约{rng.randint(4, 15)}分钟，适用于{scope}。" + rng.choice(
            ("聚焦重难点，配典型例题讲解。", "适合课前预习与课后复习。", "可用于翻转课堂和线上学习。")
        )

    def _describe_test(self, unit: _Unit, ending: str) -> str:
        rng, book = self.rng, unit.book
        if book.stage == "小学":
            full, minutes = 100, rng.choice((60, 70, 80))
        elif book.stage == "初中":
            full = 120 if book.subject in ("语文", "数学", "英语") and rng.random() < 0.5 else 100
            minutes = rng.choice((90, 100, 120))
        else:
            full = 150 if book.subject in ("语文", "数学", "英语") else 100
            minutes = 120 if full == 150 else rng.choice((75, 90))
        what = f"{unit.chapter}单元测试" if unit.level == "unit" else ending.split("（")[0]
        kinds = QUESTION_KINDS.get(book.subject, "客观题与主观题")
        return f"{book.scope}{what}，满分{full}分，限时{minutes}分钟。题型含{kinds}，附参考答案与评分标准。"

    @staticmethod
    def _english_book(book: _Book) -> str:
        """'Grade 7 English, Volume 1 (autumn term), 人教版' from the vocabulary's English labels."""
        labels = _english_labels()
        grade = labels["grade"].get(book.grade or "", "Senior High")
        volume = labels["volume"].get(book.volume or "", book.volume or "")
        return f"{grade} English, {volume}, {book.edition}"

    def _describe_en(self, unit: _Unit, rtype: str, pages: int) -> str:
        kind = EN_TYPE_NAMES[unit.level][rtype]
        first = f"{kind} for {unit.chapter} ({unit.english_topic}), {self._english_book(unit.book)}."
        if rtype == "课件":
            return first + f" {pages} slides: warm-up, presentation, practice and production."
        if rtype == "微课":
            return first + " A short video on the key words and sentence patterns of the unit."
        if rtype == "教案":
            return first + " Objectives, procedures and a board plan, written in English."
        return first + " Written in English for classroom use; answer key included."


def generate(n: int, *, seed: int = DEFAULT_SEED) -> Iterator[dict[str, Any]]:
    """Yield ``n`` sample resource records, deterministic for ``seed`` and prefix-stable.

    Raises ValueError when ``n`` is negative.
    """
    if n < 0:
        raise ValueError("n must be >= 0")
    return _Generator(seed).records(n)


# ---------------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m catalog.sampledata",
        description="Write deterministic sample courseware records as JSON lines.",
    )
    parser.add_argument("--n", type=int, default=3000, help="number of records (default 3000)")
    parser.add_argument(
        "--seed", type=int, default=DEFAULT_SEED, help=f"random seed (default {DEFAULT_SEED})"
    )
    parser.add_argument("--out", default="-", help="output file, or '-' for standard output (default)")
    args = parser.parse_args(argv)
    if args.n < 0:
        parser.error("--n must be >= 0")

    encode = json.JSONEncoder(ensure_ascii=False, check_circular=False).encode
    if args.out == "-":
        out = sys.stdout
        if hasattr(out, "reconfigure"):  # JSONL is UTF-8 whatever the locale says
            out.reconfigure(encoding="utf-8")
    else:
        out = open(args.out, "w", encoding="utf-8", newline="\n")
    try:
        batch: list[str] = []
        for record in generate(args.n, seed=args.seed):
            batch.append(encode(record))
            if len(batch) == 2000:
                out.write("\n".join(batch) + "\n")
                batch.clear()
        if batch:
            out.write("\n".join(batch) + "\n")
        out.flush()
    except BrokenPipeError:  # `... | head`
        sys.stderr.close()
        return 0
    finally:
        if out is not sys.stdout:
            out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
