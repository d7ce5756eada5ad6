"""Unit rules of file checking: names and type sniffing."""

import pytest

from catalog.errors import FileTypeMismatchError, FileTypeNotAllowedError
from catalog.files import safe_filename, sniff
from catalog.placeholders import placeholder_bytes


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\a\\课件.pptx", "课件.pptx"),
        ("..hidden.pdf", "hidden.pdf"),
        ("a<b>c:d|e?.pdf", "a_b_c_d_e_.pdf"),
        ("", "file"),
        ("   ", "file"),
        ("第一章\x00\x1f.pdf", "第一章__.pdf"),
    ],
)
def test_safe_filename(raw, clean):
    assert safe_filename(raw) == clean


def test_safe_filename_limits_bytes_and_keeps_extension():
    name = safe_filename("有" * 300 + ".pptx")
    assert name.endswith(".pptx") and len(name.encode()) <= 200


@pytest.mark.parametrize("ext", [".pdf", ".pptx", ".docx", ".xlsx", ".mp4"])
def test_placeholders_sniff_as_their_type(tmp_path, ext):
    path = tmp_path / f"f{ext}"
    path.write_bytes(placeholder_bytes(path.name, "标题"))
    assert ext in sniff(str(path), ext).extensions


def test_ole2_needs_an_office_extension(tmp_path):
    path = tmp_path / "x.bin"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100)
    assert sniff(str(path), ".ppt").mime == "application/vnd.ms-powerpoint"
    with pytest.raises(FileTypeMismatchError, match="Office 97-2003"):
        sniff(str(path), ".pdf")


def test_elf_is_refused(tmp_path):
    path = tmp_path / "x.pdf"
    path.write_bytes(b"\x7fELF" + b"\x00" * 60)
    with pytest.raises(FileTypeNotAllowedError, match="ELF"):
        sniff(str(path), ".pdf")
