"""Hostile inputs built in the test run (never committed as binaries): ZIP archives written byte by
byte (so their directories can lie), deflate streams of zeros that inflate to gigabytes from a
few kilobytes, polyglots, and raw multipart bodies whose file names the test client would repair."""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

STORED, DEFLATED = 0, 8
MiB = 1024 * 1024


@dataclass(frozen=True)
class Entry:
    """One ZIP entry: its raw (already compressed) bytes and what the directory declares."""

    name: str
    data: bytes
    method: int
    crc: int
    size: int  # declared uncompressed size
    compressed_size: int | None = None  # declared; default: len(data)


def deflated(raw: bytes) -> Entry:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    data = compressor.compress(raw) + compressor.flush()
    return Entry("", data, DEFLATED, zlib.crc32(raw), len(raw))


def stored(raw: bytes) -> Entry:
    return Entry("", raw, STORED, zlib.crc32(raw), len(raw))


def named(entry: Entry, name: str, **changes) -> Entry:
    return Entry(**{**entry.__dict__, "name": name, **changes})


def zeros_deflated(size: int, *, prefix: bytes = b"", fill: bytes = b"\0") -> Entry:
    """A deflate stream of ``prefix`` then ``size`` bytes of ``fill`` (size in whole MiB) in about
    size/1000 bytes, built without compressing ``size`` bytes: one MiB compressed after a full flush
    gives the same bytes every time, so the stream is that block repeated (the CRC is computed in
    MiB steps)."""
    assert size % MiB == 0 and len(fill) == 1
    chunk = fill * MiB
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    head = compressor.compress(prefix) + compressor.flush(zlib.Z_FULL_FLUSH)
    block = compressor.compress(chunk) + compressor.flush(zlib.Z_FULL_FLUSH)
    assert block == compressor.compress(chunk) + compressor.flush(zlib.Z_FULL_FLUSH)
    tail = compressor.flush()
    crc = zlib.crc32(prefix)
    for _ in range(size // MiB):
        crc = zlib.crc32(chunk, crc)
    return Entry("", head + block * (size // MiB) + tail, DEFLATED, crc, len(prefix) + size)


def zip_archive(entries: list[Entry], *, point_all_at_first: bool = False) -> bytes:
    """The bytes of a ZIP archive of ``entries``. ``point_all_at_first`` makes every directory
    entry point at the first entry's local header (overlapping entries: the same bytes inflate
    once per entry)."""
    body = bytearray()
    directory = bytearray()
    offsets = []
    for entry in entries:
        name = entry.name.encode("utf-8")
        compressed = len(entry.data) if entry.compressed_size is None else entry.compressed_size
        offsets.append(len(body))
        body += struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0x800, entry.method, 0, 0x21,
                            entry.crc, compressed, entry.size, len(name), 0) + name + entry.data
    for index, entry in enumerate(entries):
        name = entry.name.encode("utf-8")
        compressed = len(entry.data) if entry.compressed_size is None else entry.compressed_size
        offset = offsets[0] if point_all_at_first else offsets[index]
        directory += struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0x800, entry.method, 0, 0x21,
                                 entry.crc, compressed, entry.size, len(name), 0, 0, 0, 0, 0, offset) + name
    count = len(entries)
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, min(count, 0xFFFF), min(count, 0xFFFF),
                      len(directory), len(body), 0)
    if count >= 0xFFFF:  # ZIP64 end record and locator
        zip64_at = len(body) + len(directory)
        zip64 = struct.pack("<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, count, count, len(directory), len(body))
        locator = struct.pack("<4sLQL", b"PK\x06\x07", 0, zip64_at, 1)
        end = zip64 + locator + struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF,
                                             len(directory), 0xFFFFFFFF, 0)
    return bytes(body + directory + end)


CONTENT_TYPES = deflated(b'<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
                         b'content-types"/>')


def ooxml(part: str, entry: Entry, *extra: Entry) -> bytes:
    """A DOCX/PPTX/XLSX-shaped archive whose ``part`` holds ``entry``."""
    return zip_archive([named(CONTENT_TYPES, "[Content_Types].xml"), named(entry, part), *extra])


def odf(mimetype_entry: Entry) -> bytes:
    """An ODT-shaped archive whose ``mimetype`` entry is ``mimetype_entry``."""
    return zip_archive([named(mimetype_entry, "mimetype"), named(deflated(b"<office/>"), "content.xml")])


def many_entries(count: int) -> bytes:
    """An archive of ``count`` empty entries (a few dozen bytes each)."""
    empty = Entry("", b"", STORED, 0, 0)
    return zip_archive([named(CONTENT_TYPES, "[Content_Types].xml"), named(empty, "word/document.xml"),
                        *(named(empty, f"word/{i}") for i in range(count))])


def multipart(fields: dict[str, str], files: list[tuple[str, bytes]], *, boundary: str = "xXxBoundaryxXx",
              raw_names: bool = True, file_field: str = "files") -> tuple[bytes, str]:
    """A multipart/form-data body with ``files`` sent under the field ``file_field`` with their names as
    given (path separators, control characters and all), and its Content-Type."""
    out = bytearray()
    for key, value in fields.items():
        out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{key}\"\r\n\r\n").encode()
        out += value.encode("utf-8") + b"\r\n"
    for filename, body in files:
        quoted = filename.replace('"', "%22") if raw_names else filename
        out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{file_field}\"; filename=\"{quoted}\"\r\n"
                "Content-Type: application/octet-stream\r\n\r\n").encode("utf-8", "surrogatepass")
        out += body + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"
