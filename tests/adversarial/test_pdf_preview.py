"""The first-page excerpt of a priced PDF parses the stored PDF on every preview: a hostile PDF
(pypdf refusing it with an error other than a read error, or one too large to parse in memory) gives
no excerpt (404), never a server error."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from tests.factories import ResourceFactory, pdf_bytes, store_file


def pdf(*objects: bytes) -> bytes:
    """A PDF of ``objects`` (numbered from 1, the first the catalog) with a correct cross-reference table."""
    out, offsets = b"%PDF-1.4\n", []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    return out + b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)


PAGES = (b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>")
HOSTILE = {
    "a stream declaring 100 MB": pdf(*PAGES, b"<< /Type /Page /Parent 2 0 R /Contents 4 0 R >>",
                                     b"<< /Length 100000000 >>\nstream\nabc\nendstream"),
    "an array of 200,000 elements": pdf(*PAGES, b"<< /Type /Page /Parent 2 0 R /MediaBox [" + b"0 " * 200_000 + b"] >>"),
    "nesting 50,000 deep": pdf(*PAGES, b"<< /Type /Page /Parent 2 0 R /MediaBox " + b"[" * 50_000 + b"]" * 50_000
                               + b" >>"),
    "pages that contain themselves": pdf(PAGES[0], b"<< /Type /Pages /Kids [2 0 R] /Count 1 >>"),
}


def excerpt(orgs, users, body: bytes):
    resource = ResourceFactory(publisher=orgs["publisher"], license="ALL-RIGHTS-RESERVED", price=5, with_file=False)
    file = store_file(resource, "试卷.pdf", body)
    client = Client()
    client.raise_request_exception = False
    client.force_login(users["teacher"])  # may preview, may not download: gets the first-page excerpt
    return client.get(reverse("file-preview", args=[resource.pk, file.pk]))


def test_an_honest_pdf_gets_its_first_page(orgs, users):
    response = excerpt(orgs, users, pdf_bytes("第一页"))
    assert response.status_code == 200 and response.content.startswith(b"%PDF-")


@pytest.mark.parametrize("name", list(HOSTILE))
def test_a_hostile_pdf_gets_no_excerpt_not_a_server_error(orgs, users, name):
    assert excerpt(orgs, users, HOSTILE[name]).status_code == 404


def test_a_pdf_beyond_the_excerpt_limit_is_not_read_into_memory(orgs, users, settings):
    settings.CATALOG_PREVIEW_MAX_PDF_BYTES = 10_000
    body = pdf_bytes("大") + b"%" + b"0" * 20_000 + b"\n"
    assert excerpt(orgs, users, body).status_code == 404
