"""Looking inside ZIP containers (DOCX/PPTX/XLSX, ODF, EPUB, plain ZIP) without trusting them.

A ZIP's central directory declares every entry's sizes. A bomb declares little and inflates to
gigabytes, lists so many entries that reading the directory alone exhausts memory, lets entries
overlap so the same compressed bytes inflate many times, or uses a compression method whose output
one read cannot bound. So, before any entry is read:

1. the end-of-central-directory record gives the entry count and the directory size; too many
   entries are refused before Python builds one object per entry;
2. each entry's declared sizes are checked against the limits (one entry, all entries, the ratio of
   inflated to compressed size), and the compressed sizes together must fit in the file;
3. only STORED and DEFLATED entries are accepted (what every office and e-book format uses), since
   they inflate in bounded steps;

then every entry is inflated from its own compressed bytes, in bounded chunks, and must end exactly
where and as its directory says (size, end of the deflate stream, CRC-32), so a directory that lies
is caught by the bytes themselves. Nothing is ever inflated whole into memory.
"""

from __future__ import annotations

import os
import struct
import zipfile
import zlib
from dataclasses import dataclass

from django.conf import settings

from catalog.errors import ArchiveBombError, ArchiveTooLargeError, FileTypeNotAllowedError

#: Inflate this much at a time.
CHUNK_BYTES = 64 * 1024
#: Entries this small may compress arbitrarily well (a short, repetitive XML part) without counting
#: as a bomb; the total-size limit still bounds them.
RATIO_GRACE_BYTES = 1024 * 1024
#: A central directory entry is 46 bytes plus its name, extra field and comment: far less than this.
DIRECTORY_BYTES_PER_ENTRY = 4096
#: The ``mimetype`` entry of ODF and EPUB is read up to this many bytes.
MIMETYPE_BYTES = 128
ACCEPTED_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED}

LOCAL_HEADER = struct.Struct("<4s5H3L2H")  # local file header (signature … name length, extra length)
_EOCD = struct.Struct("<4s4H2LH")  # end of central directory record
_EOCD64_LOCATOR = struct.Struct("<4sLQL")
_EOCD64 = struct.Struct("<4sQ2H2L4Q")


@dataclass(frozen=True)
class ArchiveLimits:
    max_entries: int
    max_entry_bytes: int
    max_total_bytes: int
    max_ratio: int

    @classmethod
    def from_settings(cls) -> ArchiveLimits:
        return cls(max_entries=settings.CATALOG_ARCHIVE_MAX_ENTRIES,
                   max_entry_bytes=settings.CATALOG_ARCHIVE_MAX_ENTRY_BYTES,
                   max_total_bytes=settings.CATALOG_ARCHIVE_MAX_TOTAL_BYTES,
                   max_ratio=settings.CATALOG_ARCHIVE_MAX_RATIO)


@dataclass(frozen=True)
class ArchiveContents:
    names: frozenset[str]
    mimetype: str | None  # the first bytes of the ``mimetype`` entry (ODF, EPUB), if there is one


@dataclass(frozen=True)
class DirectoryFigures:
    """What the end-of-central-directory record declares."""

    entries: int
    directory_bytes: int


def directory_figures(path: str) -> DirectoryFigures | None:
    """The entry count and central directory size a ZIP reader would find at the end of the file at
    ``path`` (ZIP64 records included), or None when no reader would take it for a ZIP archive: the
    record must be followed by nothing but its comment, and a non-empty directory must start with a
    central directory header where the record says it ends. Reads at most the last 64 KiB."""
    size = os.path.getsize(path)
    tail_start = max(0, size - (1 << 16) - _EOCD.size)
    with open(path, "rb") as fh:
        fh.seek(tail_start)
        tail = fh.read()
        at = tail.rfind(b"PK\x05\x06")
        while at >= 0:
            record = tail[at:at + _EOCD.size]
            if len(record) == _EOCD.size:
                _, _, _, _, entries, directory_bytes, _, comment = _EOCD.unpack(record)
                if at + _EOCD.size + comment <= len(tail):
                    figures = _with_zip64(fh, tail_start + at, entries, directory_bytes)
                    if figures is not None and _directory_starts(fh, tail_start + at, figures):
                        return figures
            at = tail.rfind(b"PK\x05\x06", 0, at)
    return None


def _with_zip64(fh, eocd_at: int, entries: int, directory_bytes: int) -> DirectoryFigures | None:
    if entries != 0xFFFF and directory_bytes != 0xFFFFFFFF:
        return DirectoryFigures(entries, directory_bytes)
    if eocd_at < _EOCD64_LOCATOR.size:
        return DirectoryFigures(entries, directory_bytes)
    fh.seek(eocd_at - _EOCD64_LOCATOR.size)
    signature, _, offset, _ = _EOCD64_LOCATOR.unpack(fh.read(_EOCD64_LOCATOR.size))
    if signature != b"PK\x06\x07":
        return DirectoryFigures(entries, directory_bytes)
    # The ZIP64 record sits right before its locator (archives with data prepended move it).
    record_at = eocd_at - _EOCD64_LOCATOR.size - _EOCD64.size
    if record_at < 0:
        return None
    fh.seek(record_at)
    record = fh.read(_EOCD64.size)
    if len(record) != _EOCD64.size or record[:4] != b"PK\x06\x06":
        return None
    fields = _EOCD64.unpack(record)
    return DirectoryFigures(entries=fields[7], directory_bytes=fields[8])


def _directory_starts(fh, eocd_at: int, figures: DirectoryFigures) -> bool:
    """Whether a central directory header starts where the directory must start: right before the
    end record, or before the ZIP64 record and its locator."""
    if figures.entries == 0:
        return True
    zip64_bytes = _EOCD64_LOCATOR.size + _EOCD64.size
    for start in (eocd_at - figures.directory_bytes, eocd_at - zip64_bytes - figures.directory_bytes):
        if start >= 0:
            fh.seek(start)
            if fh.read(4) == b"PK\x01\x02":
                return True
    return False


def _bomb(message: str, *, file: str, reason: str, **details: object) -> ArchiveBombError:
    return ArchiveBombError(message, details={"file": file, "reason": reason, **details})


def _too_large(message: str, *, file: str, limit: str, maximum: int, **details: object) -> ArchiveTooLargeError:
    return ArchiveTooLargeError(message, details={"file": file, "limit": limit, "max": maximum, **details})


def inspect_zip(path: str, *, name: str, limits: ArchiveLimits) -> ArchiveContents:
    """The entry names (and ODF/EPUB ``mimetype``) of the ZIP archive at ``path``, after checking it
    against ``limits`` as the module docstring describes. ``name`` is the file's name for messages.

    Raises ArchiveTooLargeError (too many entries, an entry or all of them too large),
    ArchiveBombError (an extreme compression ratio, overlapping entries, an oversized directory,
    sizes the bytes contradict) or FileTypeNotAllowedError (damaged: unreadable, a wrong CRC; or
    not checkable: encrypted, another compression method)."""
    figures = directory_figures(path)
    if figures is None:
        raise FileTypeNotAllowedError("The file looks like a ZIP archive but is damaged.",
                                      details={"file": name, "reason": "bad_zip"})
    if figures.entries > limits.max_entries:
        raise _too_large(f"{name} holds {figures.entries} entries; at most {limits.max_entries} are accepted.",
                         file=name, limit="entries", maximum=limits.max_entries, actual=figures.entries)
    if figures.directory_bytes > max(figures.entries, 1) * DIRECTORY_BYTES_PER_ENTRY:
        raise _bomb(f"{name} has an oversized archive directory.", file=name, reason="directory",
                    directory_bytes=figures.directory_bytes)
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
        _check_declared(infos, name=name, limits=limits, file_bytes=os.path.getsize(path))
        with open(path, "rb") as raw:
            mimetype = _inflate_all(raw, infos, name=name, limits=limits)
    except (zipfile.BadZipFile, EOFError, NotImplementedError, ValueError, struct.error) as exc:
        raise _damaged(name, str(exc)) from exc
    return ArchiveContents(names=frozenset(info.filename for info in infos), mimetype=mimetype)


def _damaged(name: str, why: str) -> FileTypeNotAllowedError:
    return FileTypeNotAllowedError(f"{name} is a damaged ZIP archive ({why[:200]}).",
                                   details={"file": name, "reason": "bad_zip"})


def _check_declared(infos: list[zipfile.ZipInfo], *, name: str, limits: ArchiveLimits, file_bytes: int) -> None:
    if len(infos) > limits.max_entries:
        raise _too_large(f"{name} holds {len(infos)} entries; at most {limits.max_entries} are accepted.",
                         file=name, limit="entries", maximum=limits.max_entries, actual=len(infos))
    declared_total = 0
    for info in infos:
        if info.flag_bits & 0x1:
            raise FileTypeNotAllowedError(f"{name} holds encrypted entries, which cannot be checked.",
                                          details={"file": name, "reason": "encrypted", "entry": info.filename})
        if info.compress_type not in ACCEPTED_METHODS:
            raise FileTypeNotAllowedError(
                f"{name} uses a compression method that is not accepted (only stored and deflated entries).",
                details={"file": name, "reason": "compression_method", "entry": info.filename})
        if info.file_size > limits.max_entry_bytes:
            raise _too_large(f"An entry of {name} inflates to {info.file_size} bytes; at most "
                             f"{limits.max_entry_bytes} are accepted.", file=name, limit="entry_bytes",
                             maximum=limits.max_entry_bytes, entry=info.filename, actual=info.file_size)
        if info.file_size > RATIO_GRACE_BYTES and info.file_size > limits.max_ratio * max(info.compress_size, 1):
            raise _bomb(f"An entry of {name} inflates more than {limits.max_ratio} times.", file=name,
                        reason="ratio", entry=info.filename, max_ratio=limits.max_ratio)
        declared_total += info.file_size
    if declared_total > limits.max_total_bytes:
        raise _too_large(f"{name} inflates to {declared_total} bytes; at most {limits.max_total_bytes} are "
                         "accepted.", file=name, limit="total_bytes", maximum=limits.max_total_bytes,
                         actual=declared_total)
    _check_apart(infos, name=name, file_bytes=file_bytes)


def _check_apart(infos: list[zipfile.ZipInfo], *, name: str, file_bytes: int) -> None:
    """Each entry's header and compressed bytes must lie inside the file and apart from every other
    entry's: entries that share bytes (overlapping, or quoting each other's headers) inflate the
    same data many times over. (The local headers' own lengths are checked while inflating.)"""
    previous_end = 0
    for info in sorted(infos, key=lambda info: info.header_offset):
        if info.header_offset < previous_end:
            raise _bomb(f"The entries of {name} overlap.", file=name, reason="overlapping_entries",
                        entry=info.filename)
        previous_end = info.header_offset + LOCAL_HEADER.size + info.compress_size
        if previous_end > file_bytes:
            raise _bomb(f"An entry of {name} claims more bytes than the file holds.", file=name,
                        reason="overlapping_entries", entry=info.filename)


def _data_starts(raw, infos: list[zipfile.ZipInfo], *, name: str) -> list[int]:
    """Where each entry's compressed bytes start (after its local header), checking that no entry's
    header or bytes overlap another's."""
    starts, spans = [], []
    for info in infos:
        raw.seek(info.header_offset)
        header = raw.read(LOCAL_HEADER.size)
        if len(header) != LOCAL_HEADER.size or header[:4] != b"PK\x03\x04":
            raise _damaged(name, f"no local header for {info.filename!r}")
        name_len, extra_len = LOCAL_HEADER.unpack(header)[-2:]
        start = info.header_offset + LOCAL_HEADER.size + name_len + extra_len
        starts.append(start)
        spans.append((info.header_offset, start + info.compress_size, info.filename))
    spans.sort()
    for (_, end, _), (next_start, _, entry) in zip(spans, spans[1:], strict=False):
        if next_start < end:
            raise _bomb(f"The entries of {name} overlap.", file=name, reason="overlapping_entries", entry=entry)
    return starts


def _inflate_all(raw, infos: list[zipfile.ZipInfo], *, name: str, limits: ArchiveLimits) -> str | None:
    """Inflate every entry from its own compressed bytes in bounded chunks, checking that it ends
    exactly at its declared size with its declared CRC."""
    total = 0
    mimetype: str | None = None
    for info, start in zip(infos, _data_starts(raw, infos, name=name), strict=True):
        raw.seek(start)
        inflated, crc, head = 0, 0, b""
        for piece in _pieces(raw, info, name=name):
            inflated += len(piece)
            total += len(piece)
            if inflated > info.file_size:
                raise _bomb(f"An entry of {name} inflates beyond the size its directory declares.", file=name,
                            reason="size_mismatch", entry=info.filename)
            if total > limits.max_total_bytes:
                raise _too_large(f"{name} inflates beyond the accepted size.", file=name, limit="total_bytes",
                                 maximum=limits.max_total_bytes)
            crc = zlib.crc32(piece, crc)
            if info.filename == "mimetype" and len(head) < MIMETYPE_BYTES:
                head += piece[:MIMETYPE_BYTES - len(head)]
        if inflated != info.file_size:
            raise _bomb(f"An entry of {name} does not hold the size its directory declares.", file=name,
                        reason="size_mismatch", entry=info.filename)
        if crc != info.CRC:
            raise _damaged(name, f"bad CRC-32 for {info.filename!r}")
        if info.filename == "mimetype":
            mimetype = head.decode("ascii", "replace").strip()
    return mimetype


def _pieces(raw, info: zipfile.ZipInfo, *, name: str):
    """The inflated bytes of one entry, at most CHUNK_BYTES at a time."""
    remaining = info.compress_size
    if info.compress_type == zipfile.ZIP_STORED:
        while remaining:
            chunk = raw.read(min(CHUNK_BYTES, remaining))
            if not chunk:
                raise _damaged(name, f"{info.filename!r} is cut short")
            remaining -= len(chunk)
            yield chunk
        return
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    try:
        while remaining and not inflater.eof:
            chunk = raw.read(min(CHUNK_BYTES, remaining))
            if not chunk:
                raise _damaged(name, f"{info.filename!r} is cut short")
            remaining -= len(chunk)
            piece = inflater.decompress(chunk, CHUNK_BYTES)
            while True:
                if piece:
                    yield piece
                if not inflater.unconsumed_tail or inflater.eof:
                    break
                piece = inflater.decompress(inflater.unconsumed_tail, CHUNK_BYTES)
        if not inflater.eof or remaining or inflater.unused_data:
            raise _bomb(f"An entry of {name} does not end where its directory says.", file=name,
                        reason="size_mismatch", entry=info.filename)
    except zlib.error as exc:
        raise _damaged(name, f"{info.filename!r}: {exc}") from exc
