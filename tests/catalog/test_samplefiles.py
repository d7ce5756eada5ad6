"""Sample files are documents a teacher can open: a DOCX lesson plan with its sections, a PPTX of several
slides, a PDF test paper whose Chinese text is really there (an embedded CJK font), an MP4 micro-lecture (or
its poster without ffmpeg); ``import_corpus`` stores them (and placeholders only when asked, for benchmarks)."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest
from django.core.management import call_command
from docx import Document
from PIL import Image
from pptx import Presentation
from pypdf import PdfReader

from catalog import samplefiles
from catalog.files import sniff
from catalog.models import ResourceFile
from catalog.sampledata import generate
from catalog.samplefiles import sample_file
from catalog.storage import get_blob_store

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"


@pytest.fixture(autouse=True)
def fresh_cache():
    """Each test builds its documents afresh (they are cached per process, and some tests change the system)."""
    samplefiles._built.cache_clear()
    samplefiles.cjk_font.cache_clear()
    yield
    samplefiles._built.cache_clear()
    samplefiles.cjk_font.cache_clear()


def sniffed(tmp_path: Path, name: str, body: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(body)
    return sniff(str(path), os.path.splitext(name)[1]).mime


def test_a_lesson_plan_is_a_docx_with_its_sections(tmp_path):
    made = sample_file("人教版 有理数 教学设计.doc", stage="初中", resource_type="教案")
    assert made.name == "人教版 有理数 教学设计.docx"  # legacy .doc records get the OOXML equivalent
    assert sniffed(tmp_path, made.name, made.body) == DOCX
    text = [p.text for p in Document(io.BytesIO(made.body)).paragraphs]
    assert text[0] == "初中教学设计示例"
    assert {"教学目标", "教学重点与难点", "教学过程"} <= set(text)


def test_courseware_is_a_pptx_of_several_slides_of_chinese_text(tmp_path):
    made = sample_file("课件.pptx", stage="小学", resource_type="课件")
    assert sniffed(tmp_path, made.name, made.body) == PPTX
    deck = Presentation(io.BytesIO(made.body))
    titles = [slide.shapes.title.text for slide in deck.slides]
    assert len(titles) >= 4 and titles[0] == "小学课件示例：探究新知" and "课堂小结" in titles


def test_a_test_paper_is_a_pdf_with_its_chinese_text_embedded(tmp_path):
    made = sample_file("试卷.pdf", stage="高中", resource_type="试卷")
    assert sniffed(tmp_path, made.name, made.body) == "application/pdf"
    # pypdf reads fpdf2's two-byte ToUnicode entries with a NUL before each character (poppler does not)
    text = PdfReader(io.BytesIO(made.body)).pages[0].extract_text().replace("\x00", "")
    assert "高中单元测试卷示例" in text and "选择题" in text


def test_without_a_cjk_font_the_pdf_falls_back_to_a_valid_minimal_one(tmp_path, monkeypatch):
    monkeypatch.setenv("EXCHANGE_SAMPLE_CJK_FONT", "")  # as on a system without fonts-noto-cjk
    made = sample_file("试卷.pdf", stage="高中", resource_type="试卷")
    assert sniffed(tmp_path, made.name, made.body) == "application/pdf"
    reader = PdfReader(io.BytesIO(made.body))
    assert len(reader.pages) == 1 and reader.metadata.title == "高中单元测试卷示例"


@pytest.mark.usefixtures("ffmpeg")
def test_a_micro_lecture_is_a_short_mp4(tmp_path):
    made = sample_file("浮力 微课.mp4", stage="初中", resource_type="微课")
    assert made.name == "浮力 微课.mp4"
    assert sniffed(tmp_path, made.name, made.body) == "video/mp4"
    assert 1_000 < len(made.body) < 200_000


def test_without_ffmpeg_a_micro_lecture_is_its_poster(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no ffmpeg to be found
    made = sample_file("浮力 微课.mp4", stage="初中", resource_type="微课")
    assert made.name == "浮力 微课.png"
    assert sniffed(tmp_path, made.name, made.body) == "image/png"
    with Image.open(io.BytesIO(made.body)) as poster:
        assert poster.size == (640, 360)


def write_corpus(path: Path, records) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def test_import_stores_real_documents_and_placeholders_only_when_asked(db, tmp_path, capsys):
    records = list(generate(40, seed=11))
    call_command("import_corpus", str(write_corpus(tmp_path / "c.jsonl", records)), "--no-progress")
    assert "created 40" in capsys.readouterr().out
    files = list(ResourceFile.objects.all())
    assert len(files) == 40
    by_mime = {f.mime for f in files}
    assert {DOCX, PPTX, "application/pdf"} <= by_mime
    docx = next(f for f in files if f.mime == DOCX)
    with get_blob_store().open(docx.storage_key) as handle:
        assert len(Document(handle).paragraphs) > 5
    assert len({f.sha256 for f in files}) < len(files)  # documents are shared by (type, stage): previews once

    more = list(generate(45, seed=11))[40:]
    call_command("import_corpus", str(write_corpus(tmp_path / "p.jsonl", more)), "--no-progress",
                 "--placeholder-files")
    placeholders = ResourceFile.objects.filter(resource_id__in=[r["id"] for r in more])
    assert placeholders.count() == 5 and all(f.size < 2_000 for f in placeholders)
