"""ZIP bombs and their relatives, uploaded through the API: each is refused with a stable 4xx code
before anything is stored, and checking one never inflates an entry whole into memory.

The archives are built here, byte by byte (tests/adversarial/craft.py): a 1 MB upload that inflates
to a gigabyte, 100,000 entries, entries that overlap, directories that lie about sizes or CRCs.
"""

from __future__ import annotations

import json
import tracemalloc
import zlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from catalog.files import sniff
from catalog.models import BlobLease, Resource, ResourceFile
from tests.adversarial.craft import (
    Entry,
    MiB,
    deflated,
    many_entries,
    named,
    odf,
    ooxml,
    zeros_deflated,
    zip_archive,
)
from tests.factories import METADATA, RIGHTS

ODT = "application/vnd.oasis.opendocument.text"


def deposit(client, name: str, body: bytes):
    return client.post("/api/v1/resources", {
        "metadata": json.dumps(METADATA, ensure_ascii=False), "rights": json.dumps(RIGHTS, ensure_ascii=False),
        "files": [SimpleUploadedFile(name, body)]}, format="multipart")


def stored_blobs(settings) -> int:
    root = settings.CATALOG_BLOB_ROOT / "sha256"
    return sum(1 for p in root.rglob("*") if p.is_file()) if root.exists() else 0


def assert_refused(response, settings, *, status: int, code: str, **details):
    assert response.status_code == status, response.content[:500]
    error = response.json()["error"]
    assert error["code"] == code, error
    for key, value in details.items():
        assert error["details"][key] == value, error
    assert Resource.objects.count() == 0 and ResourceFile.objects.count() == 0
    assert stored_blobs(settings) == 0 and BlobLease.objects.count() == 0


def test_a_one_megabyte_docx_inflating_to_a_gigabyte_is_refused(api_as, users, settings):
    """The review's bomb: ~1 MB whose main part inflates to 1 GiB. Refused from the declared size,
    before a byte is inflated (the default entry limit is 512 MiB)."""
    body = ooxml("word/document.xml", zeros_deflated(1024 * MiB))
    assert len(body) < 1.1 * MiB
    response = deposit(api_as(users["publisher"]), "bomb.docx", body)
    assert_refused(response, settings, status=413, code="archive_too_large", limit="entry_bytes")


def test_an_extreme_compression_ratio_is_refused(api_as, users, settings):
    """64 MiB of zeros in a 64 KiB part: under the size limits, but a thousand times its size."""
    response = deposit(api_as(users["publisher"]), "slides.pptx",
                       ooxml("ppt/presentation.xml", zeros_deflated(64 * MiB)))
    assert_refused(response, settings, status=400, code="archive_bomb", reason="ratio")


def test_an_odf_mimetype_bomb_is_refused(api_as, users, settings):
    """Type sniffing read the ``mimetype`` entry whole: 256 MiB of it."""
    response = deposit(api_as(users["publisher"]), "lesson.odt",
                       odf(zeros_deflated(256 * MiB, prefix=ODT.encode(), fill=b" ")))
    assert_refused(response, settings, status=400, code="archive_bomb", reason="ratio")


def test_a_hundred_thousand_entries_are_refused_before_the_directory_is_read(api_as, users, settings):
    response = deposit(api_as(users["publisher"]), "many.docx", many_entries(100_000))
    assert_refused(response, settings, status=413, code="archive_too_large", limit="entries")


def test_all_entries_together_may_not_inflate_beyond_the_total_limit(api_as, users, settings):
    settings.CATALOG_ARCHIVE_MAX_TOTAL_BYTES = 8 * MiB
    parts = [named(zeros_deflated(MiB, fill=b"a"), f"xl/worksheets/sheet{i}.xml") for i in range(9)]
    response = deposit(api_as(users["publisher"]), "book.xlsx", ooxml("xl/workbook.xml", deflated(b"<w/>"), *parts))
    assert_refused(response, settings, status=413, code="archive_too_large", limit="total_bytes")


def test_overlapping_entries_are_refused(api_as, users, settings):
    """A thousand directory entries that all point at the same 1 MiB deflate stream: each inflates
    the same bytes (Fifield's non-recursive bomb); the total declared stays under the limit."""
    kernel = zeros_deflated(MiB)
    entries = [named(kernel, "[Content_Types].xml")] + [named(kernel, f"word/part{i}.xml") for i in range(1000)]
    response = deposit(api_as(users["publisher"]), "overlap.docx", zip_archive(entries, point_all_at_first=True))
    assert_refused(response, settings, status=400, code="archive_bomb", reason="overlapping_entries")


def test_a_directory_that_understates_an_entry_is_caught_by_the_bytes(api_as, users, settings):
    """The directory says 1,000 bytes (with the CRC of those bytes); the stream inflates to 8 MiB.
    A reader that trusts the directory stops early; one that streams the data does not."""
    liar = zeros_deflated(8 * MiB)
    understated = Entry(liar.name, liar.data, liar.method, zlib.crc32(b"\0" * 1000), 1000)
    response = deposit(api_as(users["publisher"]), "liar.docx", ooxml("word/document.xml", understated))
    assert_refused(response, settings, status=400, code="archive_bomb", reason="size_mismatch")


def test_a_directory_that_overstates_an_entry_is_caught(api_as, users, settings):
    honest = deflated(b"<w:document/>" * 100)
    overstated = Entry(honest.name, honest.data, honest.method, honest.crc, honest.size + 5000)
    response = deposit(api_as(users["publisher"]), "short.docx", ooxml("word/document.xml", overstated))
    assert_refused(response, settings, status=400, code="archive_bomb", reason="size_mismatch")


def test_a_wrong_crc_is_a_damaged_archive(api_as, users, settings):
    honest = deflated(b"<w:document/>" * 100)
    wrong = Entry(honest.name, honest.data, honest.method, honest.crc ^ 1, honest.size)
    response = deposit(api_as(users["publisher"]), "crc.docx", ooxml("word/document.xml", wrong))
    assert_refused(response, settings, status=415, code="file_type_not_allowed", reason="bad_zip")


def test_compression_methods_that_cannot_be_inflated_in_bounded_steps_are_refused(api_as, users, settings):
    """bzip2 (12) and LZMA (14) inflate without an output bound per read; office formats never use them."""
    bzip = Entry("", b"BZh91AY&SY" + b"\0" * 40, 12, 0, 10 * MiB)
    response = deposit(api_as(users["publisher"]), "bz.docx", ooxml("word/document.xml", bzip))
    assert_refused(response, settings, status=415, code="file_type_not_allowed", reason="compression_method")


def test_checking_a_large_entry_never_holds_it_in_memory(settings, tmp_path):
    """An ODT whose ``mimetype`` entry inflates to 256 MiB, with the ratio limit lifted so it is
    inflated in full: the check's memory stays a few chunks, not the entry (type sniffing used to
    read the entry whole)."""
    settings.CATALOG_ARCHIVE_MAX_RATIO = 10**6
    path = tmp_path / "big.odt"
    path.write_bytes(odf(zeros_deflated(256 * MiB, prefix=ODT.encode(), fill=b" ")))
    tracemalloc.start()
    try:
        kind = sniff(str(path), ".odt")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert kind.mime == ODT
    assert peak < 4 * MiB, f"peak {peak / MiB:.1f} MiB"


@pytest.mark.parametrize("name", ["document.docx", "slides.pptx", "book.xlsx"])
def test_small_honest_office_documents_still_pass(api_as, users, name):
    part = {"docx": "word/document.xml", "pptx": "ppt/presentation.xml", "xlsx": "xl/workbook.xml"}[name[-4:]]
    response = deposit(api_as(users["publisher"]), name, ooxml(part, deflated(b"<x/>" * 10_000)))
    assert response.status_code == 201, response.json()
