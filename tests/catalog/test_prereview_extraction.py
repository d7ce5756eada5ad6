"""Reading files for the pre-review: real PDF, DOCX and PPTX files with planted negative-list terms
(including evasions) give their text; JavaScript in PDFs and macros in Office files are flagged; zip bombs
and DTDs are refused; a file that hangs its reader is cut off by the deadline of the child process."""

from __future__ import annotations

import os

import pytest

from catalog.prereview.extraction import DOCX, PDF, PPTX, ExtractionLimits, extract
from catalog.prereview.files import run_worker
from catalog.prereview.matching import Term, TermMatcher
from tests.catalog import prereview_files as made

MATCHER = TermMatcher([Term("t1", "违禁词"), Term("t2", "赌博网站")])


def read(tmp_path, body: bytes, mime: str, name: str = "f", **limits):
    path = tmp_path / name
    path.write_bytes(body)
    return extract(str(path), mime=mime, name=name, limits=ExtractionLimits(**limits))


def found(text: str) -> set[str]:
    hits, _ = MATCHER.find(text)
    return {h.key for h in hits}


def test_pdf_text_with_traditional_and_spaced_terms(tmp_path):
    body = made.pdf("第一章 有理数的概念", "这一页写着違 禁 詞，", "另一页提到赌\u3000博网站。", title="讲义")
    result = read(tmp_path, body, PDF)
    assert result.error is None and result.flags == []
    assert "有理数的概念" in result.text and "讲义" in result.text
    assert found(result.text) == {"t1", "t2"}


def test_docx_paragraphs_and_core_properties(tmp_path):
    body = made.docx("教学目标：理解有理数。", "附录：ＷＥＩ违\u200b禁词", title="赌·博·网·站 练习")
    result = read(tmp_path, body, DOCX, "a.docx")
    assert result.error is None and result.flags == []
    assert "教学目标" in result.text
    assert found(result.text) == {"t1", "t2"}


def test_pptx_slides_and_speaker_notes_in_order(tmp_path):
    body = made.pptx(("第一课", "有理数", ""), ("第二课", "数轴", "讲者备注：違禁詞"))
    result = read(tmp_path, body, PPTX, "a.pptx")
    assert result.error is None
    assert result.text.index("第一课") < result.text.index("第二课") < result.text.index("讲者备注")
    assert found(result.text) == {"t1"}


def test_clean_files_have_no_hits(tmp_path):
    for body, mime in ((made.pdf("有理数的加法"), PDF), (made.docx("有理数的减法"), DOCX),
                       (made.pptx(("乘法", "有理数的乘法", "")), PPTX)):
        assert found(read(tmp_path, body, mime).text) == set()


def test_pdf_javascript_open_action_is_flagged(tmp_path):
    result = read(tmp_path, made.pdf_with_javascript(), PDF)
    codes = {f["code"] for f in result.flags}
    assert {"pdf_javascript", "pdf_auto_action"} <= codes
    assert "含有脚本的讲义" in result.text


def test_pdf_javascript_behind_escaped_names_is_flagged(tmp_path):
    body = made.pdf_with_escaped_javascript_name()
    assert b"/JavaScript" not in body and b"/JS " not in body
    assert {f["code"] for f in read(tmp_path, body, PDF).flags} == {"pdf_javascript"}


def test_plain_pdf_has_no_flags(tmp_path):
    assert read(tmp_path, made.pdf("有理数"), PDF).flags == []


@pytest.mark.parametrize(("folder", "mime", "make"), [
    ("word", DOCX, lambda: made.docx("宏文档")),
    ("ppt", PPTX, lambda: made.pptx(("宏", "演示", ""))),
])
def test_macro_enabled_office_files_are_flagged(tmp_path, folder, mime, make):
    plain = read(tmp_path, make(), mime)
    assert plain.flags == []
    result = read(tmp_path, made.with_macro(make(), folder=folder), mime)
    [flag] = result.flags
    assert flag["code"] == "office_macro"
    assert flag["detail"]["macro_enabled_type"] is True and f"{folder}/vbaProject.bin" in flag["detail"]["parts"]


def test_zip_bomb_is_refused_before_parsing(tmp_path):
    result = read(tmp_path, made.docx_bomb(), DOCX)
    assert result.error == "archive_refused" and result.error_detail == "archive_bomb"
    assert result.text == ""


def test_part_declaring_a_dtd_is_not_parsed(tmp_path):
    result = read(tmp_path, made.docx_with_dtd(), DOCX)
    assert {f["code"] for f in result.flags} == {"xml_dtd_refused"}
    assert "正文" not in result.text


def test_text_is_bounded(tmp_path):
    result = read(tmp_path, made.docx("有理数" * 5000), DOCX, max_chars=1000)
    assert len(result.text) == 1000 and result.truncated


def test_damaged_pdf_is_reported_not_raised(tmp_path):
    result = read(tmp_path, b"%PDF-1.7\n" + b"\x00garbage" * 100, PDF)
    assert result.error in ("damaged", None) and result.text.strip() == ""


def test_worker_process_reads_a_real_file(tmp_path, settings):
    """The child process gives the same result as reading in-process."""
    path = tmp_path / "a.docx"
    path.write_bytes(made.docx("子进程读取：违禁词"))
    result = run_worker(str(path), mime=DOCX, name="a.docx")
    assert result.error is None and found(result.text) == {"t1"}


def test_worker_that_hangs_is_killed_at_the_deadline(tmp_path, settings):
    """A file whose reading never ends (here a named pipe nobody writes to: opening it blocks) is cut off at
    CATALOG_PREREVIEW_EXTRACT_SECONDS: the pre-review goes on with the error ``timeout``."""
    settings.CATALOG_PREREVIEW_EXTRACT_SECONDS = 2
    fifo = tmp_path / "hangs.txt"
    os.mkfifo(fifo)
    result = run_worker(str(fifo), mime="text/plain", name="hangs.txt")
    assert result.error == "timeout"


def test_worker_environment_holds_no_secrets(settings, monkeypatch):
    from catalog.prereview.files import _worker_env

    monkeypatch.setenv("SECRET_KEY", "do-not-pass")
    monkeypatch.setenv("DATABASE_URL", "postgres://user:pw@host/db")
    env = _worker_env()
    assert "SECRET_KEY" not in env and "DATABASE_URL" not in env
