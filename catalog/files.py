"""Checking uploaded files: safe names, size, checksum, and the type sniffed from the bytes.

The client's file name and Content-Type are never trusted: the type comes from the content, must be
on the allowlist, and must agree with the file's extension (a renamed executable is refused, and so
is a PNG called ``.pdf``). A file must be one type only: a PDF or an image that is also a ZIP archive
(a polyglot), or markup (HTML, SVG) dressed as text, is refused. ZIP containers are inflated under
limits (:mod:`catalog.archives`), and names that climb directories, hide their real extension or
name a device are refused rather than repaired.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import unicodedata
from dataclasses import dataclass
from typing import IO

from catalog.archives import ArchiveLimits, directory_figures, inspect_zip
from catalog.errors import (
    ChecksumMismatchError,
    EmptyFileError,
    FileNameInvalidError,
    FileTooLargeError,
    FileTypeMismatchError,
    FileTypeNotAllowedError,
)

OOXML = {
    "ppt/": ("application/vnd.openxmlformats-officedocument.presentationml.presentation", {".pptx"}),
    "word/": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", {".docx"}),
    "xl/": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", {".xlsx"}),
}
ODF = {
    "application/vnd.oasis.opendocument.presentation": {".odp"},
    "application/vnd.oasis.opendocument.text": {".odt"},
    "application/vnd.oasis.opendocument.spreadsheet": {".ods"},
    "application/epub+zip": {".epub"},
}
OLE2_BY_EXT = {
    ".doc": "application/msword", ".wps": "application/msword",
    ".ppt": "application/vnd.ms-powerpoint", ".dps": "application/vnd.ms-powerpoint",
    ".xls": "application/vnd.ms-excel", ".et": "application/vnd.ms-excel",
}
TEXT_EXT = {".txt": "text/plain", ".md": "text/markdown", ".csv": "text/csv"}
REFUSED_SIGNATURES = [
    (b"MZ", "Windows executable"),
    (b"\x7fELF", "ELF executable"),
    (b"\xca\xfe\xba\xbe", "Mach-O/Java class"),
    (b"\xcf\xfa\xed\xfe", "Mach-O executable"),
    (b"#!", "script"),
]
SNIFF_BYTES = 8192
#: PDF readers look for their header anywhere in the first KiB.
PDF_HEADER_WINDOW = 1024
#: Markup a browser or an image viewer would render or run, refused in text files.
MARKUP_TAGS = (b"<!doctype", b"<html", b"<head", b"<body", b"<script", b"<svg", b"<?xml", b"<iframe", b"<object",
               b"<embed", b"<meta", b"<style", b"<link", b"<xml", b"<math")


@dataclass(frozen=True)
class SniffResult:
    mime: str
    extensions: frozenset[str]


def _zip_kind(path: str, name: str) -> SniffResult:
    contents = inspect_zip(path, name=name, limits=ArchiveLimits.from_settings())
    if contents.mimetype in ODF:
        return SniffResult(contents.mimetype, frozenset(ODF[contents.mimetype]))
    if "[Content_Types].xml" in contents.names:
        for prefix, (mime, exts) in OOXML.items():
            if any(n.startswith(prefix) for n in contents.names):
                return SniffResult(mime, frozenset(exts))
    return SniffResult("application/zip", frozenset({".zip"}))


def _looks_like_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the sniff boundary is still text.
        if exc.start < len(head) - 4:
            return False
    return not _holds_markup(head)


def _holds_markup(head: bytes) -> bool:
    """Whether text starts like markup (``<`` and a tag name) or holds one of MARKUP_TAGS."""
    lowered = head.removeprefix(b"\xef\xbb\xbf").lstrip().lower()
    if re.match(rb"<[a-z!?/]", lowered):
        return True
    return any(tag in lowered for tag in MARKUP_TAGS)


def _polyglot(path: str, head: bytes, mime: str) -> None:
    """Refuse a file that other readers take for another type: a PDF header within the first KiB of
    a non-PDF, or a ZIP directory at the end of a file that is not a ZIP container."""
    if mime != "application/pdf" and b"%PDF-" in head[:PDF_HEADER_WINDOW]:
        raise FileTypeNotAllowedError("The file is also a PDF document; a file must be one type only.",
                                      details={"detected": mime, "also": "application/pdf", "reason": "polyglot"})
    figures = None if head.startswith(b"PK\x03\x04") else directory_figures(path)
    if figures is not None and figures.entries > 0:
        raise FileTypeNotAllowedError("The file is also a ZIP archive; a file must be one type only.",
                                      details={"detected": mime, "also": "application/zip", "reason": "polyglot"})


def sniff(path: str, extension: str, *, name: str = "") -> SniffResult:
    """The type of the file at ``path`` from its bytes. Raises FileTypeNotAllowedError, or for ZIP
    containers beyond the limits ArchiveTooLargeError / ArchiveBombError."""
    with open(path, "rb") as fh:
        head = fh.read(SNIFF_BYTES)
    kind = _sniff_head(path, head, extension, name=name or os.path.basename(path))
    _polyglot(path, head, kind.mime)
    return kind


def _sniff_head(path: str, head: bytes, extension: str, *, name: str) -> SniffResult:
    for signature, what in REFUSED_SIGNATURES:
        if head.startswith(signature):
            raise FileTypeNotAllowedError(f"Executable content is not accepted ({what}).",
                                          details={"detected": what})
    if head.startswith(b"%PDF-"):
        return SniffResult("application/pdf", frozenset({".pdf"}))
    if head.startswith(b"PK\x03\x04"):
        return _zip_kind(path, name)
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        mime = OLE2_BY_EXT.get(extension)
        if mime is None:
            raise FileTypeMismatchError("An Office 97-2003 document must have a .doc, .ppt, .xls, .wps, "
                                        ".dps or .et extension.", details={"extension": extension})
        return SniffResult(mime, frozenset(OLE2_BY_EXT))
    if len(head) >= 12 and head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in {b"M4A ", b"M4B "}:
            return SniffResult("audio/mp4", frozenset({".m4a"}))
        return SniffResult("video/mp4", frozenset({".mp4", ".m4v"}))
    if head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return SniffResult("audio/mpeg", frozenset({".mp3"}))
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return SniffResult("image/png", frozenset({".png"}))
    if head.startswith(b"\xff\xd8\xff"):
        return SniffResult("image/jpeg", frozenset({".jpg", ".jpeg"}))
    if head.startswith((b"GIF87a", b"GIF89a")):
        return SniffResult("image/gif", frozenset({".gif"}))
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return SniffResult("image/webp", frozenset({".webp"}))
    if head and _looks_like_text(head) and extension in TEXT_EXT:
        return SniffResult(TEXT_EXT[extension], frozenset({extension}))
    raise FileTypeNotAllowedError("This file type is not accepted.", details={"extension": extension})


_UNSAFE_CHARS = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*]')
#: Device names Windows resolves in any directory and with any extension (``CON.pdf`` is the console).
WINDOWS_RESERVED_NAMES = frozenset(
    {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"}
    | {f"{device}{n}" for device in ("COM", "LPT") for n in (*"123456789", "¹", "²", "³")}
)
#: File systems store at most 255 bytes per name.
MAX_NAME_BYTES = 255
#: Control and format characters: NUL and friends, bidirectional overrides (``evil\u202egpj.pdf``
#: shows as ``evilfdp.jpg``), zero-width characters, line and paragraph separators, lone surrogates.
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def file_name_problem(name: str) -> str | None:
    """Why an uploaded file's ``name`` is refused (``empty``, ``path``, ``control_character``,
    ``reserved_name``, ``too_long``), or None. Such names are refused, not repaired: a name that climbs
    directories, hides its real extension behind invisible characters, names a device or overflows
    a file system comes from an attacker or a broken client. (Other awkward characters are replaced
    by :func:`safe_filename`.)"""
    if not name or not name.strip():
        return "empty"
    if "/" in name or "\\" in name or name.strip() in {".", ".."}:
        return "path"
    if any(unicodedata.category(char) in _INVISIBLE_CATEGORIES for char in name):
        return "control_character"
    if name.strip().split(".")[0].strip().upper() in WINDOWS_RESERVED_NAMES:
        return "reserved_name"
    if len(name.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
        return "too_long"
    return None


def check_file_name(name: str) -> None:
    """Raise FileNameInvalidError when :func:`file_name_problem` finds one."""
    problem = file_name_problem(name)
    if problem is not None:
        shown = name.encode("unicode_escape").decode("ascii")[:300]
        raise FileNameInvalidError(f"The file name {shown!r} is not accepted ({problem}).",
                                   details={"file": shown, "reason": problem})


def safe_filename(name: str, *, max_bytes: int = 200) -> str:
    """A file name safe to store and to send back in Content-Disposition: no directories, control
    or reserved characters, no leading dots, NFC-normalised, at most ``max_bytes`` UTF-8 bytes
    (the extension kept)."""
    name = unicodedata.normalize("NFC", name or "")
    name = name.replace("\\", "/").split("/")[-1]
    name = _UNSAFE_CHARS.sub("_", name).strip().lstrip(".").strip()
    name = re.sub(r"\s+", " ", name)
    if not name:
        name = "file"
    stem, ext = os.path.splitext(name)
    ext = ext[:16]
    while len((stem + ext).encode("utf-8")) > max_bytes and stem:
        stem = stem[:-1]
    return (stem or "file") + ext


@dataclass(frozen=True)
class CheckedFile:
    """An upload copied to a temporary file, hashed and typed, ready to store."""

    temp_path: str
    original_name: str
    sha256: str
    size: int
    mime: str


def check_upload(stream: IO[bytes], *, name: str, max_bytes: int, expected_sha256: str | None = None,
                 temp_dir: str | None = None) -> CheckedFile:
    """Check the name; copy ``stream`` to a temp file while hashing; check size, type and checksum. On
    any error the temp file is removed and a catalog error is raised."""
    check_file_name(name)
    clean = safe_filename(name)
    ext = os.path.splitext(clean)[1].lower()
    digest = hashlib.sha256()
    size = 0
    fd, temp_path = tempfile.mkstemp(prefix="upload-", dir=temp_dir)
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := stream.read(1024 * 1024):
                size += len(chunk)
                if size > max_bytes:
                    raise FileTooLargeError(
                        f"{clean} is larger than the limit of {max_bytes} bytes.",
                        details={"file": clean, "max_bytes": max_bytes},
                    )
                digest.update(chunk)
                out.write(chunk)
        if size == 0:
            raise EmptyFileError(f"{clean} is empty.", details={"file": clean})
        hexdigest = digest.hexdigest()
        if expected_sha256 and expected_sha256.lower() != hexdigest:
            raise ChecksumMismatchError(
                f"The sha256 of {clean} does not match the checksum sent with it.",
                details={"file": clean, "expected": expected_sha256.lower(), "actual": hexdigest},
            )
        kind = sniff(temp_path, ext, name=clean)
        if ext not in kind.extensions:
            raise FileTypeMismatchError(
                f"{clean} contains {kind.mime}, which does not match its extension {ext or '(none)'}.",
                details={"file": clean, "detected": kind.mime, "extension": ext},
            )
        return CheckedFile(temp_path=temp_path, original_name=clean, sha256=hexdigest, size=size, mime=kind.mime)
    except BaseException:
        os.unlink(temp_path)
        raise
