"""Real small files for the pre-review tests, made by the libraries people make them with: PDFs with CJK text
(reportlab, its built-in STSong-Light CID font), Word and PowerPoint files (python-docx, python-pptx), and
variants with JavaScript, macros or a zip bomb inside."""

from __future__ import annotations

import io
import zipfile

MACRO_TYPES = {
    "word": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml",
             "application/vnd.ms-word.document.macroEnabled.main+xml"),
    "ppt": ("application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml",
            "application/vnd.ms-powerpoint.presentation.macroEnabled.main+xml"),
}


def pdf(*lines: str, title: str = "") -> bytes:
    """A one-page PDF with each line drawn in a CJK font (text extractable, as Chinese PDFs are)."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    out = io.BytesIO()
    page = canvas.Canvas(out, invariant=1)
    if title:
        page.setTitle(title)
    page.setFont("STSong-Light", 11)
    y = 800
    for line in lines:
        for start in range(0, len(line), 40):
            page.drawString(40, y, line[start:start + 40])
            y -= 16
            if y < 40:
                page.showPage()
                page.setFont("STSong-Light", 11)
                y = 800
    page.showPage()
    page.save()
    return out.getvalue()


def pdf_with_javascript(*, open_action: bool = True) -> bytes:
    """A PDF whose document opens with a JavaScript action (in the catalog, as a direct object)."""
    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import DictionaryObject, NameObject, TextStringObject

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf("含有脚本的讲义"))))
    action = DictionaryObject({NameObject("/S"): NameObject("/JavaScript"),
                               NameObject("/JS"): TextStringObject("app.alert('hi');")})
    key = "/OpenAction" if open_action else "/AA"
    writer._root_object[NameObject(key)] = action if open_action else DictionaryObject({NameObject("/O"): action})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def pdf_with_escaped_javascript_name() -> bytes:
    """A hand-made PDF naming its JavaScript action with hex escapes (``/J#61vaScript``, ``/J#53``): readers
    decode them, so must the check; a byte scan for ``/JavaScript`` would not see them."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R /Names << /J#61vaScript 4 0 R >> >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>",
        b"<< /Names [(x) 5 0 R] >>",
        b"<< /S /J#61vaScript /J#53 (app.alert\\(1\\)) >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n".encode() + body + b"\nendobj\n")
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for offset in offsets:
        out.write(f"{offset:010d} 00000 n \n".encode())
    out.write(f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()


def docx(*paragraphs: str, title: str = "") -> bytes:
    from docx import Document

    document = Document()
    for paragraph in paragraphs:
        document.add_paragraph(paragraph)
    if title:
        document.core_properties.title = title
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def pptx(*slides: tuple[str, str, str]) -> bytes:
    """Slides of (title, body, speaker notes)."""
    from pptx import Presentation

    deck = Presentation()
    for title, body, notes in slides:
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = title
        slide.placeholders[1].text = body
        if notes:
            slide.notes_slide.notes_text_frame.text = notes
    out = io.BytesIO()
    deck.save(out)
    return out.getvalue()


def with_macro(ooxml: bytes, *, folder: str) -> bytes:
    """The same document saved macro-enabled, as Word and PowerPoint save .docm/.pptm: a ``vbaProject.bin``
    part and the macro-enabled main content type."""
    plain_type, macro_type = MACRO_TYPES[folder]
    source = zipfile.ZipFile(io.BytesIO(ooxml))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            data = source.read(info.filename)
            if info.filename == "[Content_Types].xml":
                data = data.replace(plain_type.encode(), macro_type.encode()).replace(
                    b"</Types>", b'<Default Extension="bin" ContentType="application/vnd.ms-office.vbaProject"/></Types>')
            target.writestr(info, data)
        target.writestr(f"{folder}/vbaProject.bin", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504 + b"Attribute VB_Name")
    return out.getvalue()


def docx_bomb() -> bytes:
    """A .docx whose one extra part inflates 1000-fold (refused as a bomb before any part is parsed)."""
    out = io.BytesIO()
    source = zipfile.ZipFile(io.BytesIO(docx("正文")))
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            target.writestr(info, source.read(info.filename))
        target.writestr("word/media/filler.xml", b"0" * (8 * 1024 * 1024))
    return out.getvalue()


def docx_with_dtd() -> bytes:
    """A .docx whose document part declares an entity (the billion-laughs shape): never expanded."""
    out = io.BytesIO()
    source = zipfile.ZipFile(io.BytesIO(docx("正文")))
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            data = source.read(info.filename)
            if info.filename == "word/document.xml":
                data = data.replace(b"?>", b'?><!DOCTYPE w [<!ENTITY a "aaaaaaaaaa">]>', 1)
            target.writestr(info, data)
    return out.getvalue()
