"""Sample catalog generator and the vocabulary it must agree with.

Plain pytest, no Django: ``pytest -p no:django tests/catalog/test_sampledata.py``.
Tests that compare against the shared corpus generator (``../shared/data/generate_corpus.py``) are
skipped when that checkout is absent; the product itself never reads it.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from catalog import sampledata
from catalog.sampledata import generate, load_chapters, load_textbooks, load_vocabularies, vocabulary_codes

REPO = Path(__file__).resolve().parents[2]
SHARED_GENERATOR = REPO.parent / "shared" / "data" / "generate_corpus.py"
VOCABULARY_FIELDS = ("stage", "subject", "grade", "edition", "volume", "resource_type", "language")
TERM_KEYS = {"code", "label", "order", "parent", "data"}
K12 = {"小学", "初中", "高中"}


def _shared_records(n: int) -> list[dict]:
    if not SHARED_GENERATOR.is_file():
        pytest.skip(
            f"shared corpus generator not found at {SHARED_GENERATOR} (only the product repository is present)"
        )
    out = subprocess.run(
        [sys.executable, str(SHARED_GENERATOR), "--n", str(n), "--out", "-"],
        check=True,
        capture_output=True,
        timeout=120,
    ).stdout.decode("utf-8")
    return [json.loads(line) for line in out.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def sample() -> list[dict]:
    return list(generate(5000))


@pytest.fixture(scope="module")
def shared_5000() -> list[dict]:
    return _shared_records(5000)


# ------------------------------------------------------------------------------------------- determinism
def test_same_seed_gives_identical_records():
    """The output is a pure function of the seed."""
    assert list(generate(400, seed=7)) == list(generate(400, seed=7))


def test_different_seeds_give_different_records():
    a, b = list(generate(50, seed=1)), list(generate(50, seed=2))
    assert {r["id"] for r in a}.isdisjoint(r["id"] for r in b)
    assert [r["title"] for r in a] != [r["title"] for r in b]


def test_output_is_prefix_stable():
    """The first k records of a larger run are exactly the k-record run."""
    assert list(generate(4000, seed=3))[:3500] == list(generate(3500, seed=3))


def test_ids_are_unique_uuid4(sample):
    ids = [r["id"] for r in sample]
    assert len(set(ids)) == len(ids)
    for value in ids[:500]:
        parsed = uuid.UUID(value)
        assert parsed.version == 4 and str(parsed) == value


def test_negative_n_is_rejected():
    with pytest.raises(ValueError, match="n must be"):
        generate(-1)


# ------------------------------------------------------------------------------------------- record format
def _shape(record: dict) -> dict[str, object]:
    shape: dict[str, object] = {k: type(v).__name__ for k, v in record.items()}
    shape["file"] = {k: type(v).__name__ for k, v in record["file"].items()}
    shape["keywords"] = sorted({type(k).__name__ for k in record["keywords"]})
    return shape


def test_record_shape_matches_shared_generator(sample):
    """Same field names, order and types as the shared corpus format, so one importer reads both."""
    shared = _shared_records(50)
    assert [list(r) for r in sample[:50]] == [list(shared[0])] * 50
    ours = {
        json.dumps(_shape(r), sort_keys=True)
        for r in sample
        if r["stage"] != "高中" and r["resource_type"] != "微课"
    }
    theirs = {
        json.dumps(_shape(r), sort_keys=True)
        for r in shared
        if r["stage"] != "高中" and r["resource_type"] != "微课"
    }
    assert ours == theirs
    # grade is null for 高中 in both; 微课 files add duration_seconds in both
    for records in (sample, shared):
        assert all((r["grade"] is None) == (r["stage"] == "高中") for r in records)
        for r in records:
            expected = {"name", "mime", "size_bytes"} | (
                {"duration_seconds"} if r["resource_type"] == "微课" else set()
            )
            assert set(r["file"]) == expected


def test_field_values_are_well_formed(sample):
    start = datetime(2019, 9, 1, tzinfo=UTC)
    end = datetime(2025, 6, 30, 23, 59, 59, tzinfo=UTC)
    for r in sample:
        assert r["title"].strip() and r["description"].strip()
        assert r["keywords"] and len(set(r["keywords"])) == len(r["keywords"])
        assert all(isinstance(k, str) and k for k in r["keywords"])
        assert isinstance(r["chapter"], str) and isinstance(r["section"], str)
        assert not (r["section"] and not r["chapter"])
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", r["created_at"])
        created = datetime.strptime(r["created_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        assert start <= created <= end
        f = r["file"]
        assert isinstance(f["size_bytes"], int) and f["size_bytes"] > 0
        assert not re.search(r'[\\/:*?"<>|\s]', f["name"])
        ext = f["name"].rsplit(".", 1)[1]
        assert sampledata.MIME_TYPES[ext] == f["mime"]
        if r["resource_type"] == "微课":
            assert (
                f["mime"] == "video/mp4"
                and isinstance(f["duration_seconds"], int)
                and f["duration_seconds"] > 0
            )


def test_records_agree_with_the_real_textbook_catalog(sample):
    """Vocabulary fields come from the textbook; chapter/section are real headings of that book."""
    books = {b["id"]: b for b in load_textbooks()}
    headings = {(c["textbook_id"], c["chapter"], c["section"]) for c in load_chapters()}
    chapters = {(t, c) for t, c, _ in headings}
    for r in sample:
        book = books[r["textbook_id"]]
        assert book["stage"] in K12
        assert (r["stage"], r["subject"], r["grade"], r["edition"], r["volume"]) == (
            book["stage"],
            book["subject"],
            book["grade"],
            book["edition_short"],
            book["volume"],
        )
        if r["section"]:
            assert (r["textbook_id"], r["chapter"], r["section"]) in headings
        elif r["chapter"]:
            assert (r["textbook_id"], r["chapter"]) in chapters


def test_first_records_cover_the_catalog(sample):
    """Every usable book, every heading and every resource type appears within 5,000 records."""
    usable = {b["id"] for b in load_textbooks() if b["stage"] in K12 and b["edition_short"]}
    assert {r["textbook_id"] for r in sample} == usable
    lessons = {(c["textbook_id"], c["chapter"], c["section"]) for c in load_chapters()}
    seen = {(r["textbook_id"], r["chapter"], r["section"]) for r in sample if r["chapter"]}
    assert lessons <= seen
    assert set(Counter(r["resource_type"] for r in sample)) == set(sampledata.RESOURCE_TYPES)


def test_license_and_price_are_coherent(sample):
    """Prices (vouchers) only on all-rights-reserved resources; open licenses are always free."""
    licenses = Counter()
    for r in sample:
        assert r["license"] in sampledata.LICENSES
        assert isinstance(r["price"], int) and not isinstance(r["price"], bool) and r["price"] >= 0
        if r["price"] > 0:
            assert r["license"] == "ALL-RIGHTS-RESERVED"
        licenses[r["license"]] += 1
    assert set(licenses) == set(sampledata.LICENSES)
    assert any(r["price"] > 0 for r in sample)
    license_file = sampledata.DATA_DIR / "licenses.json"
    if license_file.is_file():  # the node's licence table must know every licence the samples use
        known = {lic["id"] for lic in json.loads(license_file.read_text(encoding="utf-8"))["licenses"]}
        assert set(licenses) <= known


def test_shared_corpus_license_and_price_are_coherent(shared_5000):
    for r in shared_5000:
        assert r["license"] in sampledata.LICENSES
        assert r["price"] == 0 or r["license"] == "ALL-RIGHTS-RESERVED"


# ------------------------------------------------------------------------------------------- vocabulary
def _assert_codes(records: list[dict]) -> None:
    for field in VOCABULARY_FIELDS:
        codes = vocabulary_codes(field)
        values = {r[field] for r in records} - ({None} if field == "grade" else set())
        assert values <= codes, f"{field} values missing from vocabularies.json: {sorted(values - codes)}"


def test_generated_values_are_vocabulary_codes(sample):
    _assert_codes(sample)


def test_shared_corpus_values_are_vocabulary_codes(shared_5000):
    """The importer validates against the vocabulary, so the shared corpus must pass too."""
    _assert_codes(shared_5000)
    assert {r["grade"] for r in shared_5000 if r["stage"] == "高中"} == {None}


def test_every_textbook_value_is_a_vocabulary_code():
    for b in load_textbooks():
        if b["stage"] not in K12:
            continue
        assert b["stage"] in vocabulary_codes("stage")
        assert b["subject"] in vocabulary_codes("subject")
        assert b["grade"] is None or b["grade"] in vocabulary_codes("grade")
        assert b["edition_short"] is None or b["edition_short"] in vocabulary_codes("edition")
        assert b["volume"] is None or b["volume"] in vocabulary_codes("volume")


def test_vocabulary_file_structure():
    data = load_vocabularies()
    assert set(data) == {"version", "vocabularies", "synonyms"} and data["version"] == 1
    required = {
        "stage",
        "subject",
        "grade",
        "edition",
        "volume",
        "resource_type",
        "language",
        "region",
        "school_category",
        "audience",
    }
    assert required <= set(data["vocabularies"])
    for name, terms in data["vocabularies"].items():
        codes = [t["code"] for t in terms]
        assert len(codes) == len(set(codes)), f"duplicate code in {name}"
        orders = [t["order"] for t in terms]
        assert len(orders) == len(set(orders)), f"duplicate order in {name}"
        for t in terms:
            assert set(t) == TERM_KEYS, t
            assert isinstance(t["code"], str) and t["code"]
            assert isinstance(t["order"], int) and isinstance(t["data"], dict)
            assert set(t["label"]) == {"zh-Hans", "en"}
            assert t["label"]["zh-Hans"].strip() and t["label"]["en"].strip()
            assert re.search(r"[\u4e00-\u9fff]", t["label"]["zh-Hans"]), t
            assert t["label"]["en"].isascii() or "–" in t["label"]["en"], t
            assert t["parent"] is None or isinstance(t["parent"], str)


def test_vocabulary_cross_references():
    v = load_vocabularies()["vocabularies"]
    stages = vocabulary_codes("stage")
    assert stages == K12
    for t in v["grade"]:
        assert t["parent"] in stages and t["data"]["stage"] == t["parent"]
    assert {"高一", "高二", "高三"} <= vocabulary_codes("grade")
    for t in v["subject"]:
        assert t["data"]["stages"] and set(t["data"]["stages"]) <= stages
    for t in v["edition"]:
        assert t["data"]["publisher"]
    for t in v["resource_type"]:
        assert re.fullmatch(r"[a-z_]+", t["data"]["code_en"])
    assert {"教案", "课件", "习题", "学案", "试卷", "微课", "素材", "教材"} == vocabulary_codes(
        "resource_type"
    )
    assert {"zh-Hans", "en", "bo", "ug", "mn", "ii", "za", "ko"} <= vocabulary_codes("language")
    assert vocabulary_codes("school_category") == {"rural", "remote", "poor", "ethnic_minority"}
    assert vocabulary_codes("audience") == {"teachers", "students", "public"}
    textbooks = load_textbooks()
    assert {b["edition_short"] for b in textbooks if b["edition_short"]} == vocabulary_codes("edition")
    assert {b["volume"] for b in textbooks if b["volume"]} <= vocabulary_codes("volume")


def test_regions_are_the_32_federated_education_systems():
    regions = load_vocabularies()["vocabularies"]["region"]
    for t in regions:
        assert re.fullmatch(r"[1-8]\d0000", t["code"])
        assert t["data"]["node_id"] == f"cn-{t['code'][:2]}" and t["data"]["short"]
    federated = {t["code"] for t in regions if t["data"]["federated"]}
    assert len(federated) == 32 and "660000" in federated
    assert {"110000", "440000", "540000", "650000"} <= federated
    gbt = {t["code"] for t in regions if t["data"]["gbt2260"]}
    assert len(federated & gbt) == 31 and "660000" not in gbt
    not_federated = {t["code"] for t in regions if not t["data"]["federated"]}
    assert not_federated == {"710000", "810000", "820000"}


def test_synonym_groups():
    data = load_vocabularies()
    groups = data["synonyms"]
    assert len(groups) >= 40
    for g in groups:
        assert g["type"] in ("equivalent", "expand")
        assert g["terms"] and len(set(g["terms"])) == len(g["terms"])
        assert all(isinstance(t, str) and t.strip() == t and t for t in g["terms"])
        if g["type"] == "equivalent":
            assert g["canonical"] in g["terms"] and len(g["terms"]) >= 2
        else:
            assert g["canonical"] not in g["terms"]
        if g["vocabulary"] is not None:
            assert g["canonical"] in vocabulary_codes(g["vocabulary"]), g
    pairs = {(t, g["canonical"]) for g in groups for t in g["terms"]}
    for term, canonical in [
        ("初一", "七年级"),
        ("初二", "八年级"),
        ("初三", "九年级"),
        ("教学设计", "教案"),
        ("导学案", "学案"),
        ("PPT", "课件"),
        ("部编版", "统编版"),
        ("生物", "生物学"),
        ("政治", "思想政治"),
        ("道法", "道德与法治"),
        ("第1章", "第一章"),
        ("试题", "试卷"),
        ("高一", "必修"),
        ("北师", "北师大版"),
        ("苏教", "苏教版"),
        ("微课视频", "微课"),
    ]:
        assert (term, canonical) in pairs, (term, canonical)


# ------------------------------------------------------------------------------------------- loaders, CLI
def test_loaders_read_the_shipped_files():
    assert sampledata.DATA_DIR == Path(sampledata.__file__).resolve().parent / "data"
    books, chapters = load_textbooks(), load_chapters()
    assert len(books) == 198 and len(chapters) == 459
    books[0]["stage"] = "mutated"
    assert load_textbooks()[0]["stage"] != "mutated"
    assert load_vocabularies() is load_vocabularies()


def test_shipped_catalog_files_equal_the_shared_ones():
    shared = SHARED_GENERATOR.parent
    if not shared.is_dir():
        pytest.skip("../shared/data is not beside the repository: nothing to compare the shipped copies with")
    for name in ("textbooks.jsonl", "chapters.jsonl"):
        assert (sampledata.DATA_DIR / name).read_bytes() == (shared / name).read_bytes()


def test_main_writes_jsonl_file(tmp_path):
    target = tmp_path / "sample.jsonl"
    assert sampledata.main(["--n", "25", "--seed", "1", "--out", str(target)]) == 0
    text = target.read_text(encoding="utf-8")
    assert "\\u" not in text  # ensure_ascii=False
    assert [json.loads(line) for line in text.splitlines()] == list(generate(25, seed=1))


def test_module_cli_writes_to_stdout():
    out = subprocess.run(
        [sys.executable, "-m", "catalog.sampledata", "--n", "5", "--seed", "1", "--out", "-"],
        cwd=REPO,
        check=True,
        capture_output=True,
        timeout=60,
    ).stdout.decode("utf-8")
    assert [json.loads(line) for line in out.splitlines()] == list(generate(5, seed=1))


def test_generation_is_fast():
    """100k records must take well under 10 s; 20k here keeps the default lane quick."""
    started = time.perf_counter()
    for _ in generate(20_000):
        pass
    assert time.perf_counter() - started < 2.0
