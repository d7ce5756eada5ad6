"""Small but genuine files for sample and imported records that arrive without their bytes.

Corpus records describe a file (name, type, size) but carry no content. So that sample resources can
be previewed, downloaded and synced like real ones, the importer stores a small valid file of the
declared type whose text names the resource. Each passes the same sniffing as an upload.
"""

from __future__ import annotations

import io
import os
import struct
import zipfile

_ZIP_DATE = (2024, 1, 1, 0, 0, 0)


def _pdf(text: str) -> bytes:
    # Minimal PDF 1.4 with one page; the title goes into the document info so it stays readable.
    title = text.encode("utf-16-be").hex().upper()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>",
        b"<< /Length 0 >>\nstream\n\nendstream",
        b"<< /Title <FEFF" + title.encode() + b"> /Producer (courseware-exchange sample) >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n".encode() + body + b"\nendobj\n")
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for offset in offsets:
        out.write(f"{offset:010d} 00000 n \n".encode())
    out.write(f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R /Info 5 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()


def _ooxml(text: str, part: str) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, body in (
            ("[Content_Types].xml", '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.'
             'openxmlformats.org/package/2006/content-types"/>'),
            (f"{part}/sample.txt", text),
        ):
            zf.writestr(zipfile.ZipInfo(name, _ZIP_DATE), body)
    return out.getvalue()


def _mp4(text: str) -> bytes:
    ftyp = struct.pack(">I4s4sI", 24, b"ftyp", b"isom", 512) + b"isomiso2"
    payload = text.encode("utf-8")
    free = struct.pack(">I4s", 8 + len(payload), b"free") + payload
    return ftyp + free


def placeholder_bytes(file_name: str, text: str) -> bytes:
    """Bytes of a small valid file matching ``file_name``'s extension, naming ``text``."""
    ext = os.path.splitext(file_name)[1].lower()
    if ext == ".pptx":
        return _ooxml(text, "ppt")
    if ext == ".docx":
        return _ooxml(text, "word")
    if ext == ".xlsx":
        return _ooxml(text, "xl")
    if ext in (".mp4", ".m4v"):
        return _mp4(text)
    return _pdf(text)


def placeholder_name(file_name: str) -> str:
    ext = os.path.splitext(file_name)[1].lower()
    return file_name if ext in (".pptx", ".docx", ".xlsx", ".mp4", ".m4v", ".pdf") else file_name + ".pdf"
