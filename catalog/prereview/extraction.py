"""Text and active content of an uploaded file: what the pre-review reads from its bytes.

* **PDF** (pypdf): the document information (title, subject, keywords) and the text of at most
  ``max_pages`` pages; every object of the file is visited (``max_pdf_objects`` at most) to flag
  JavaScript (``/JS``, ``/S /JavaScript``, a ``/JavaScript`` name tree), launch actions, automatic
  actions (``/OpenAction``, ``/AA``), embedded files and XFA forms. pypdf resolves name escapes
  (``/J#61vaScript``) and compressed object streams, which a byte scan would miss.
* **DOCX / PPTX / XLSX** and **ODF**: first checked as a whole by ``catalog.archives.inspect_zip``
  (bounded inflation, the same limits as uploads), then the parts that hold text are parsed: Word's
  body, headers, footers, notes and comments; every slide and its notes in order; Excel's shared
  strings; ODF's ``content.xml``; the core properties. A part declaring a DTD is refused (no entity
  expansion). Macros are flagged: ``vbaProject.bin``, macro-enabled content types, Excel 4 macro
  sheets, OpenOffice Basic/script folders.
* **Office 97–2003** (OLE2): no text; the directory is scanned for a VBA project storage.
* **Plain text**: at most ``max_chars`` characters, UTF-8.

Everything here trusts nothing in the file and is bounded in what it reads; the time it may take is
bounded by the caller, which runs it in a child process (``catalog.prereview.worker``) that it kills
on a deadline. Pure Python without Django settings: limits are passed in.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any
from xml.etree import ElementTree

from catalog.archives import ArchiveLimits, inspect_zip
from exchange.errors import ExchangeError

PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ODF = frozenset({"application/vnd.oasis.opendocument.text", "application/vnd.oasis.opendocument.presentation",
                 "application/vnd.oasis.opendocument.spreadsheet"})
OLE2 = frozenset({"application/msword", "application/vnd.ms-powerpoint", "application/vnd.ms-excel"})
TEXT = frozenset({"text/plain", "text/markdown", "text/csv"})
#: Types whose text is read; other types (images, audio, video) have none to read.
TEXT_BEARING = frozenset({PDF, DOCX, PPTX, XLSX, *ODF, *TEXT})
#: Directory entry names of a VBA project inside an OLE2 file (UTF-16LE, as the directory stores them).
OLE_VBA_NAMES = (b"_\x00V\x00B\x00A\x00_\x00P\x00R\x00O\x00J\x00E\x00C\x00T\x00",)
OLE_SCAN_CHUNK = 1024 * 1024
#: How deep direct objects nested in one PDF object are examined, and how many items of an array.
MAX_PDF_NESTING = 32
MAX_PDF_ARRAY_ITEMS = 10_000
_DTD = re.compile(rb"<!(DOCTYPE|ENTITY)", re.IGNORECASE)
_NUMBERED = re.compile(r"(\d+)\.xml$")


@dataclass(frozen=True)
class ExtractionLimits:
    max_chars: int = 200_000
    max_pages: int = 1000
    max_pdf_objects: int = 200_000
    max_part_bytes: int = 64 * 1024 * 1024
    archive: ArchiveLimits = field(default_factory=lambda: ArchiveLimits(
        max_entries=10_000, max_entry_bytes=512 * 1024 * 1024, max_total_bytes=1024 * 1024 * 1024, max_ratio=100))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExtractionLimits:
        values = dict(data)
        values["archive"] = ArchiveLimits(**values["archive"])
        return cls(**values)


@dataclass
class Extraction:
    """What was read: ``text`` (at most max_chars), flags of active content (``{"code", "detail"}``),
    and ``error``: why no (or not all) text could be read (``encrypted``, ``damaged``,
    ``archive_refused``, ``timeout``, ``worker_failed``), or None."""

    text: str = ""
    truncated: bool = False
    flags: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    error_detail: str = ""

    def flag(self, code: str, **detail: Any) -> None:
        if not any(f["code"] == code for f in self.flags):
            self.flags.append({"code": code, "detail": detail})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Text:
    """Collects text up to a limit."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.parts: list[str] = []
        self.size = 0
        self.truncated = False

    @property
    def full(self) -> bool:
        return self.size >= self.limit

    def add(self, text: str) -> None:
        if not text or self.full:
            if text and self.full:
                self.truncated = True
            return
        room = self.limit - self.size
        if len(text) > room:
            text, self.truncated = text[:room], True
        self.parts.append(text)
        self.size += len(text)

    def value(self) -> str:
        return "".join(self.parts)


def extract(path: str, *, mime: str, name: str, limits: ExtractionLimits) -> Extraction:
    """Read the file at ``path`` of type ``mime`` (as sniffed at upload). Never raises for a bad file:
    the problem is in ``error``."""
    result = Extraction()
    try:
        if mime == PDF:
            _pdf(path, limits, result)
        elif mime in (DOCX, PPTX, XLSX) or mime in ODF:
            _zip_container(path, mime=mime, name=name, limits=limits, result=result)
        elif mime in OLE2:
            _ole2(path, result)
        elif mime in TEXT:
            _plain(path, limits, result)
    except ExchangeError as exc:  # the archive checks: a bomb, too large, damaged
        result.error, result.error_detail = "archive_refused", exc.code
    except Exception as exc:  # noqa: BLE001 - hostile input makes parsers raise anything
        result.error, result.error_detail = "damaged", f"{exc.__class__.__name__}: {str(exc)[:200]}"
    return result


# --- PDF -------------------------------------------------------------------------------------------------

def _pdf(path: str, limits: ExtractionLimits, result: Extraction) -> None:
    from pypdf import PdfReader

    reader = PdfReader(path, strict=False)
    if reader.is_encrypted:
        try:
            opened = bool(reader.decrypt(""))
        except Exception:  # noqa: BLE001 - unsupported encryption
            opened = False
        if not opened:
            result.error = "encrypted"
            return
    _pdf_active_content(reader, limits, result)
    text = _Text(limits.max_chars)
    try:
        info: Any = reader.metadata or {}
        for key in ("/Title", "/Subject", "/Keywords"):
            value = info.get(key)
            if isinstance(value, str) and value.strip():
                text.add(value.strip() + "\n")
    except Exception:  # noqa: BLE001, S110 - a broken info dictionary is no reason to skip the pages
        pass
    pages = reader.pages
    for number in range(min(len(pages), limits.max_pages)):
        if text.full:
            text.truncated = True
            break
        text.add(pages[number].extract_text() or "")
        text.add("\n")
    if len(pages) > limits.max_pages:
        text.truncated = True
    result.text, result.truncated = text.value(), text.truncated


def _pdf_object_refs(reader: Any) -> Iterator[tuple[int, int]]:
    for generation, numbers in (reader.xref or {}).items():
        for number in numbers:
            yield number, generation
    for number in reader.xref_objStm or {}:
        yield number, 0


def _pdf_active_content(reader: Any, limits: ExtractionLimits, result: Extraction) -> None:
    from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject

    def examine(obj: Any, depth: int = 0) -> None:
        """One object and the direct objects nested in it (indirect ones are visited on their own)."""
        if depth > MAX_PDF_NESTING:
            return
        if isinstance(obj, ArrayObject):
            for item in obj[:MAX_PDF_ARRAY_ITEMS]:
                if not isinstance(item, IndirectObject):
                    examine(item, depth + 1)
            return
        if not isinstance(obj, DictionaryObject):
            return
        for key, value in obj.items():
            if key != "/Parent" and isinstance(value, (DictionaryObject, ArrayObject)):
                examine(value, depth + 1)
        keys = set(obj.keys())
        action = obj.get("/S")
        if "/JS" in keys or action == "/JavaScript" or "/JavaScript" in keys:
            result.flag("pdf_javascript")
        if action == "/Launch":
            result.flag("pdf_launch_action")
        if "/OpenAction" in keys or "/AA" in keys:
            result.flag("pdf_auto_action")
        if obj.get("/Type") == "/EmbeddedFile" or "/EmbeddedFiles" in keys or obj.get("/Subtype") in (
                "/FileAttachment", "/RichMedia"):
            result.flag("pdf_embedded_file")
        if "/XFA" in keys:
            result.flag("pdf_xfa_form")

    try:
        examine(reader.trailer)
        examine(reader.trailer.get("/Root"))
    except Exception:  # noqa: BLE001, S110 - the objects are visited one by one below anyway
        pass
    seen = 0
    for number, generation in _pdf_object_refs(reader):
        seen += 1
        if seen > limits.max_pdf_objects:
            result.flag("pdf_not_fully_examined", objects=limits.max_pdf_objects)
            break
        try:
            examine(reader.get_object(IndirectObject(number, generation, reader)))
        except Exception:  # noqa: BLE001, S112 - a broken object among good ones
            continue


# --- ZIP containers ---------------------------------------------------------------------------------------

def _ooxml_text_parts(names: list[str], mime: str) -> list[str]:
    def numbered(prefix: str) -> list[str]:
        found = [n for n in names if n.startswith(prefix) and _NUMBERED.search(n) and "/_rels/" not in n]
        return sorted(found, key=lambda n: int(_NUMBERED.search(n).group(1)))  # type: ignore[union-attr]

    parts = ["docProps/core.xml"]
    if mime == DOCX:
        parts += ["word/document.xml", *numbered("word/header"), *numbered("word/footer"),
                  "word/footnotes.xml", "word/endnotes.xml", "word/comments.xml"]
    elif mime == PPTX:
        parts += [*numbered("ppt/slides/slide"), *numbered("ppt/notesSlides/notesSlide")]
    elif mime == XLSX:
        parts += ["xl/sharedStrings.xml"]
    else:
        parts = ["meta.xml", "content.xml"]
    present = set(names)
    return [p for p in parts if p in present]


def _macros(archive: zipfile.ZipFile, names: list[str], result: Extraction, limits: ExtractionLimits) -> None:
    lowered = [n.lower() for n in names]
    vba = [n for n, low in zip(names, lowered, strict=True)
           if low.endswith("vbaproject.bin") or low.endswith("vbadata.xml") or low.startswith("xl/macrosheets/")]
    odf = [n for n, low in zip(names, lowered, strict=True) if low.startswith(("basic/", "scripts/"))]
    macro_type = False
    if "[Content_Types].xml" in names:
        types = _read_part(archive, "[Content_Types].xml", limits)[0].lower()
        macro_type = b"macroenabled" in types or b"vbaproject" in types
    if vba or odf or macro_type:
        result.flag("office_macro", parts=sorted(vba + odf)[:10], macro_enabled_type=macro_type)


def _read_part(archive: zipfile.ZipFile, name: str, limits: ExtractionLimits) -> tuple[bytes, bool]:
    with archive.open(name) as part:
        data = part.read(limits.max_part_bytes + 1)
    return data[:limits.max_part_bytes], len(data) > limits.max_part_bytes


def _zip_container(path: str, *, mime: str, name: str, limits: ExtractionLimits, result: Extraction) -> None:
    contents = inspect_zip(path, name=name, limits=limits.archive)
    names = sorted(contents.names)
    text = _Text(limits.max_chars)
    with zipfile.ZipFile(path) as archive:
        _macros(archive, names, result, limits)
        for part in _ooxml_text_parts(names, mime):
            if text.full:
                text.truncated = True
                break
            data, cut = _read_part(archive, part, limits)
            if _DTD.search(data):
                result.flag("xml_dtd_refused", part=part)
                continue
            _xml_text(data, text, odf=mime in ODF, cut=cut)
            text.truncated = text.truncated or cut
    result.text, result.truncated = text.value(), text.truncated


_BLOCK_ENDS = {"p", "h", "title", "subject", "keywords", "description", "tr", "si"}


def _xml_text(data: bytes, text: _Text, *, odf: bool, cut: bool) -> None:
    """Text of an OOXML part (``t`` elements, paragraph breaks) or an ODF part (every text node of
    paragraphs and headings)."""
    try:
        # A part declaring a DTD was refused before this point: no entity can be expanded.
        for _event, element in ElementTree.iterparse(io.BytesIO(data), events=("end",)):  # noqa: S314
            local = element.tag.rsplit("}", 1)[-1]
            if odf:
                if local in ("p", "h"):
                    text.add("".join(element.itertext()) + "\n")
                    element.clear()
                elif local in ("title", "subject", "keyword", "description") and element.text:
                    text.add(element.text + "\n")
                continue
            if local == "t" and element.text:
                text.add(element.text)
            elif local in ("tab",):
                text.add("\t")
            elif local in ("br", "cr"):
                text.add("\n")
            elif local in _BLOCK_ENDS:
                if local in ("title", "subject", "keywords", "description") and element.text:
                    text.add(element.text)
                text.add("\n")
                element.clear()
            if text.full:
                return
    except ElementTree.ParseError:
        if not cut:  # a part cut at the byte limit ends mid-element; what was read counts
            raise


# --- OLE2 and plain text ----------------------------------------------------------------------------------

def _ole2(path: str, result: Extraction) -> None:
    tail = b""
    keep = max(len(n) for n in OLE_VBA_NAMES)
    with open(path, "rb") as fh:
        while chunk := fh.read(OLE_SCAN_CHUNK):
            window = tail + chunk
            if any(n in window for n in OLE_VBA_NAMES):
                result.flag("office_macro", parts=["_VBA_PROJECT"], macro_enabled_type=False)
                return
            tail = window[-keep:]


def _plain(path: str, limits: ExtractionLimits, result: Extraction) -> None:
    with open(path, "rb") as fh:
        raw = fh.read(limits.max_chars * 4 + 1)
    text = raw.decode("utf-8", errors="replace").removeprefix("\ufeff")
    result.truncated = len(text) > limits.max_chars or len(raw) > limits.max_chars * 4
    result.text = text[:limits.max_chars]
