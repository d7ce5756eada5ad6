"""The bad-input corpus: hostile requests to every write endpoint of the API.

The write endpoints (POST/PUT/PATCH/DELETE under /api/v1/) are enumerated from the URL conf; each must
be in ``TARGETS`` (who may write there, and where), so a new write endpoint without corpus coverage
fails ``test_every_write_endpoint_is_in_the_corpus``. Every endpoint gets every request-level attack
(``ATTACKS``: deep JSON, NaN and overflowing numbers, NUL, bad UTF-8, unknown members, too many
fields or files, bodies too large, broken multipart …); the endpoints that take files, numbers,
dates and text get payload attacks on top (``PAYLOADS``: path tricks in file names, polyglots,
prices of 10**30, dates in the year 1 or 9999 …). Each must be answered with a 4xx in the one JSON
error shape, and nothing may be stored: the rows of every table of the node and the blobs in the
blob store are counted before and after.

Bombs (ZIP, OOXML) are in ``test_archives.py``; GET endpoints get hostile query strings at the end.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.apps import apps
from django.conf import settings as django_settings
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from catalog.models import Resource
from catalog.prereview.services import negative_term_create
from exchange.models import Organisation
from licensing import services as licensing_services
from tests.adversarial.craft import CONTENT_TYPES, deflated, multipart, named, ooxml, stored, zip_archive
from tests.factories import METADATA, RIGHTS, ResourceFactory, pdf_bytes, pptx_bytes

WRITE_METHODS = ("post", "put", "patch", "delete")
OUR_APPS = ("exchange", "catalog", "licensing", "federation", "spaces", "authtoken")
LIMIT = 64 * 1024  # DATA_UPLOAD_MAX_MEMORY_SIZE in these tests, so "too large" stays cheap
NO_ENTRY = "00000000-0000-4000-8000-0000000e1e1e"  # names no negative-list entry


# --- the endpoints ---------------------------------------------------------------------------------------

def _walk(patterns, prefix: str = "") -> Iterator[tuple[str, URLPattern]]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            yield prefix + str(pattern.pattern), pattern


def api_endpoints(methods: tuple[str, ...]) -> set[tuple[str, str]]:
    """(route name, method) of every API endpoint under /api/v1/ answering one of ``methods``."""
    out = set()
    for route, pattern in _walk(get_resolver().url_patterns):
        view_class = getattr(pattern.callback, "view_class", None) or getattr(pattern.callback, "cls", None)
        if route.startswith("api/v1/") and view_class is not None:
            out |= {(pattern.name, method) for method in methods if hasattr(view_class, method)}
    return out


@dataclass
class World:
    orgs: dict[str, Organisation]
    users: dict[str, Any]
    made: dict[str, Any] = field(default_factory=dict)
    clients: dict[str | None, Client] = field(default_factory=dict)

    def resource(self, status: str = "published", **kwargs: Any) -> Resource:
        key = (status, tuple(sorted(kwargs.items())))
        if key not in self.made:
            self.made[key] = ResourceFactory(publisher=self.orgs["publisher"], status=status, **kwargs)
        return self.made[key]

    def local_entry(self):
        if "entry" not in self.made:
            self.made["entry"] = negative_term_create(actor=self.users["province_admin"], scope="local", term="禁语语料")
        return self.made["entry"]

    def collection(self):
        """The teacher's collection with one published resource in it."""
        if "collection" not in self.made:
            from spaces import services as spaces_services

            collection = spaces_services.collection_create(user=self.users["teacher"], title="语料备课包")
            spaces_services.collection_item_add(user=self.users["teacher"], collection=collection,
                                                resource_id=self.resource().pk, step="导入")
            self.made["collection"] = collection
        return self.made["collection"]

    def notice(self):
        if "notice" not in self.made:
            other = ResourceFactory(publisher=self.orgs["other_publisher"])
            self.made["notice"] = licensing_services.takedown_file(
                user=self.users["publisher"], resource=other, grounds="copyright", statement="侵权")
        return self.made["notice"]


@dataclass(frozen=True)
class Target:
    """Who may write to an endpoint, and the URL kwargs of an object there."""

    role: str | None
    kwargs: Callable[[World], dict[str, Any]] = lambda w: {}


def rid(status: str = "published", **kwargs: Any) -> Callable[[World], dict[str, Any]]:
    return lambda w: {"resource_id": w.resource(status, **kwargs).pk}


TARGETS: dict[tuple[str, str], Target] = {
    ("api-token", "post"): Target(None),
    ("api-resources", "post"): Target("publisher"),
    ("api-resource", "patch"): Target("publisher", rid("draft")),
    ("api-resource-files", "post"): Target("publisher", rid("draft")),
    ("api-resource-submit", "post"): Target("publisher", rid("draft")),
    ("api-resource-approve", "post"): Target("reviewer", rid("submitted")),
    ("api-resource-reject", "post"): Target("reviewer", rid("submitted")),
    ("api-resource-publish", "post"): Target("publisher", rid("approved")),
    ("api-resource-withdraw", "post"): Target("publisher", rid()),
    ("api-resource-favourite", "put"): Target("teacher", rid()),
    ("api-resource-favourite", "delete"): Target("teacher", rid()),
    ("api-resource-download", "post"): Target("teacher", rid()),
    ("api-resource-grants", "post"): Target("teacher", rid(license="ALL-RIGHTS-RESERVED", price=5)),
    ("api-vouchers-fund", "post"): Target("province_admin"),
    ("api-school-policy", "put"): Target("school_admin"),
    ("api-resource-ratings", "put"): Target("teacher", rid()),
    ("api-resource-remix", "post"): Target("publisher", rid()),
    ("api-school-sharing", "put"): Target("school_admin"),
    ("api-rating-moderate", "post"): Target("reviewer", lambda w: {"rating_id": 999999}),
    ("api-teacher-allowance", "put"): Target("school_admin", lambda w: {"user_id": w.users["teacher"].pk}),
    ("api-purchase-request-decide", "post"): Target("school_admin", lambda w: {"request_id": 999999}),
    ("api-takedowns", "post"): Target("publisher"),
    ("api-takedown-uphold", "post"): Target("reviewer", lambda w: {"notice_id": w.notice().pk}),
    ("api-takedown-reject", "post"): Target("reviewer", lambda w: {"notice_id": w.notice().pk}),
    ("api-federation-peer-pull", "post"): Target("province_admin", lambda w: {"node_id": "cn-99"}),
    ("api-federation-enrolment-approve", "post"): Target("hub_operator", lambda w: {"enrolment_id": 999999}),
    ("api-federation-node-revoke", "post"): Target("hub_operator", lambda w: {"node_id": "cn-99"}),
    ("api-federation-reinstatements", "post"): Target("hub_operator"),
    ("api-settlement-close", "post"): Target("province_admin"),
    ("api-logout", "post"): Target("teacher"),
    # the machine pre-review and the negative list
    ("api-resource-prereview", "post"): Target("reviewer", rid("submitted")),
    ("api-negative-list-local", "post"): Target("province_admin"),
    ("api-negative-term-local", "patch"): Target("province_admin", lambda w: {"entry_id": w.local_entry().pk}),
    ("api-recheck-resolve", "post"): Target("reviewer", lambda w: {"item_id": 999999}),
    ("api-federation-negative-list", "post"): Target("hub_operator"),
    ("api-federation-negative-term", "patch"): Target("hub_operator", lambda w: {"entry_id": NO_ENTRY}),
    ("api-resource-file", "delete"): Target("publisher", lambda w: {
        "resource_id": w.resource("draft").pk, "file_id": w.resource("draft").files.first().pk}),
    ("api-resource-revision", "delete"): Target("publisher", rid()),
    ("api-resource-rereview", "post"): Target("reviewer", rid()),
    ("api-review-policy", "put"): Target("province_admin"),
    ("api-commitment", "post"): Target("hub_operator"),
    ("api-commitment-accept", "post"): Target("publisher"),
    ("api-collections", "post"): Target("teacher"),
    ("api-collections-import", "post"): Target("teacher"),
    ("api-collection", "patch"): Target("teacher", lambda w: {"collection_id": w.collection().pk}),
    ("api-collection", "delete"): Target("teacher", lambda w: {"collection_id": w.collection().pk}),
    ("api-collection-items", "post"): Target("teacher", lambda w: {"collection_id": w.collection().pk}),
    ("api-collection-items", "put"): Target("teacher", lambda w: {"collection_id": w.collection().pk}),
    ("api-collection-item", "delete"): Target("teacher", lambda w: {"collection_id": w.collection().pk,
                                                                    "item_id": 999999}),
    ("api-collection-package", "post"): Target("teacher", lambda w: {"collection_id": w.collection().pk}),
    ("api-collection-purchase", "post"): Target("teacher", lambda w: {"collection_id": w.collection().pk}),
    ("api-follows", "post"): Target("teacher"),
    ("api-follow", "delete"): Target("teacher", lambda w: {"follow_id": 999999}),
    ("api-feed-token", "post"): Target("teacher"),
    ("api-feed-token", "delete"): Target("teacher"),
    ("api-feed-digest", "put"): Target("teacher"),
}


def test_every_write_endpoint_is_in_the_corpus():
    endpoints = api_endpoints(WRITE_METHODS)
    assert sorted(endpoints - set(TARGETS)) == [], "add these write endpoints to TARGETS (and PAYLOADS if they " \
                                                   "take files, numbers, dates or text)"
    assert sorted(set(TARGETS) - endpoints) == [], "TARGETS names endpoints that no longer exist"


# --- the requests ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Attack:
    """A raw request body and content type, and the error it must get (``code`` None: any 4xx code)."""

    body: bytes
    content_type: str
    status: int
    code: str | None


def json_attack(text: str | bytes, status: int = 400, code: str | None = "malformed_request") -> Attack:
    return Attack(text.encode() if isinstance(text, str) else text, "application/json", status, code)


def _too_many_files() -> Attack:
    body, content_type = multipart({}, [(f"f{i}.pdf", b"%PDF-1.4\n") for i in range(101)])
    return Attack(body, content_type, 400, "too_many_files")


ATTACKS: dict[str, Callable[[], Attack]] = {
    "deep array": lambda: json_attack("[" * 10_000 + "]" * 10_000),
    "deep object": lambda: json_attack('{"a":' * 5_000 + "1" + "}" * 5_000),
    "deeper than the limit": lambda: json_attack('{"a":' * 40 + "1" + "}" * 40),
    "NaN": lambda: json_attack('{"x": NaN}'),
    "Infinity": lambda: json_attack('{"x": -Infinity}'),
    "float overflow": lambda: json_attack('{"x": 1e400}'),
    "integer beyond 64 bits": lambda: json_attack('{"x": ' + "9" * 30 + "}"),
    "integer of 5000 digits": lambda: json_attack('{"x": ' + "9" * 5_000 + "}"),
    "NUL in a string": lambda: json_attack('{"x": "a\\u0000b"}'),
    "NUL in a key": lambda: json_attack('{"a\\u0000": 1}'),
    "bad UTF-8": lambda: json_attack(b'{"x": "\xff\xfe\xc3"}'),
    "lone surrogate": lambda: json_attack('{"x": "\\ud800"}', code=None),
    "decompressing charset": lambda: Attack(b'{"x": 1}', "application/json; charset=bz2_codec", 400,
                                            "malformed_request"),
    "not an object": lambda: json_attack("[1, 2, 3]", code="invalid_input"),
    "a bare string": lambda: json_attack('"x"', code="invalid_input"),
    "unknown member": lambda: json_attack('{"zz_not_a_field": 1}', code="unknown_fields"),
    "too many form fields": lambda: Attack("&".join(f"f{i}=1" for i in range(1_001)).encode(),
                                           "application/x-www-form-urlencoded", 400, "too_many_fields"),
    "too many multipart fields": lambda: Attack(*multipart({f"f{i}": "1" for i in range(1_001)}, []), 400,
                                                "too_many_fields"),
    "too many files": _too_many_files,
    "JSON body too large": lambda: json_attack('{"x": "' + "a" * LIMIT + '"}', 413, "request_too_large"),
    "form body too large": lambda: Attack(b"x=" + b"a" * LIMIT, "application/x-www-form-urlencoded", 413,
                                          "request_too_large"),
    "multipart field too large": lambda: Attack(*multipart({"x": "a" * LIMIT}, []), 413, "request_too_large"),
    "multipart without boundary": lambda: Attack(b"--x\r\n", "multipart/form-data", 400, "malformed_request"),
    "multipart cut short": lambda: Attack(multipart({"a": "1"}, [("a.pdf", pdf_bytes())])[0][:-40],
                                          "multipart/form-data; boundary=xXxBoundaryxXx", 400, None),
    "unsupported media type": lambda: Attack(b"<x/>", "text/xml", 415, "unsupported_media_type"),
}


@dataclass(frozen=True)
class Payload:
    """An endpoint-specific request: ``data`` sent as JSON, or ``files`` (name, bytes) with ``fields``
    as multipart; the status and code it must get."""

    status: int
    code: str | None
    data: Any = None
    fields: dict[str, Any] | None = None
    files: tuple[tuple[str, bytes], ...] = ()
    file_field: str = "files"

    def request(self) -> tuple[bytes, str]:
        if self.fields is None and not self.files:
            return json.dumps(self.data, ensure_ascii=False).encode(), "application/json"
        fields = {k: v if isinstance(v, str) else json.dumps(v, ensure_ascii=False) for k, v in
                  (self.fields or {}).items()}
        return multipart(fields, list(self.files), file_field=self.file_field)


def deposit(status: int, code: str | None, *, files=None, metadata=None, rights=None, **fields: Any) -> Payload:
    return Payload(status, code, fields={"metadata": METADATA if metadata is None else metadata,
                                         "rights": RIGHTS if rights is None else rights, **fields},
                   files=(("a.pdf", PDF),) if files is None else files)


def named_pdf(name: str) -> Payload:
    return deposit(400, "file_name_invalid", files=((name, pdf_bytes("name")),))


def typed(name: str, body: bytes, code: str = "file_type_not_allowed", status: int = 415) -> Payload:
    return deposit(status, code, files=((name, body),))


PDF = pdf_bytes("polyglot")
DOCX = ooxml("word/document.xml", deflated(b"<w:document/>"))
GIF = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;"
HUGE = 10**30

FILE_PAYLOADS: dict[str, Payload] = {
    # path tricks in names (sent raw: the test client would repair them)
    "parent directories": named_pdf("../../etc/passwd.pdf"),
    "absolute path": named_pdf("/etc/passwd.pdf"),
    "windows path": named_pdf("C:\\Windows\\System32\\drivers.pdf"),
    "escaped slashes": named_pdf("..&#47;..&#47;etc&#47;passwd.pdf"),
    "dot dot": named_pdf(".."),
    "NUL": named_pdf("lesson\x00.exe.pdf"),
    "control character": named_pdf("lesson\x1b[31m.pdf"),
    "right-to-left override": named_pdf("课件\u202efdp.exe.pdf"),
    "zero-width space": named_pdf("课\u200b件.pdf"),
    "line separator": named_pdf("课件\u2028.pdf"),
    "windows device CON": named_pdf("CON.pdf"),
    "windows device lpt1": named_pdf("lpt1.tar.pdf"),
    "windows device com¹": named_pdf("COM¹.pdf"),
    "very long name": named_pdf("课" * 90 + ".pdf"),
    # polyglots and disguises
    "PDF that is also a ZIP": typed("lesson.pdf", PDF + DOCX),
    "ZIP that is also a PDF": typed("lesson.docx", zip_archive([
        named(stored(b"%PDF-1.7\n1 0 obj<<>>endobj\n"), "cover.pdf"), named(CONTENT_TYPES, "[Content_Types].xml"),
        named(deflated(b"<w:document/>"), "word/document.xml")])),
    "GIF that is also a ZIP": typed("image.gif", GIF + DOCX),
    "HTML as text": typed("notes.txt", b"<html><body><script>alert(1)</script></body></html>"),
    "HTML after a BOM and a comment": typed("notes.md", b"\xef\xbb\xbf  <!-- hi --><script>alert(1)</script>"),
    "SVG as text": typed("notes.txt", b"Figure:\n<svg onload=alert(1)></svg>"),
    "SVG as PNG": typed("image.png", b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'),
    "HTML as PDF": typed("doc.pdf", b"<!DOCTYPE html><html><script>alert(1)</script></html>"),
    "executable as PDF": typed("doc.pdf", b"MZ\x90\x00" + b"\x00" * 64),
    "PNG called PDF": typed("doc.pdf", b"\x89PNG\r\n\x1a\n" + b"\x00" * 32, "file_type_mismatch"),
    # checksums
    "checksum for a file not sent": deposit(400, "invalid_input", checksums={"other.pdf": "0" * 64}),
    "checksum that is not a string": deposit(400, "invalid_input", checksums={"a.pdf": 5}),
    "checksum nested deep": deposit(400, "invalid_input", checksums="[" * 5_000 + "]" * 5_000),
}


RIGHTS_PAYLOADS: dict[str, dict[str, Any] | str] = {
    "price of 10**30": {**RIGHTS, "price": HUGE},
    "price of 10**12": {**RIGHTS, "price": 10**12},
    "negative price": {**RIGHTS, "price": -1},
    "price true": {**RIGHTS, "price": True},
    "price 1e400": '{"holder": "x", "license": "CC-BY-4.0", "price": 1e400}',
    "price Infinity": '{"holder": "x", "license": "CC-BY-4.0", "price": Infinity}',
    "price NaN": '{"holder": "x", "license": "CC-BY-4.0", "price": NaN}',
    "grant of 10**12 days": {**RIGHTS, "grant_days": 10**12},
    "year 10**30": {**RIGHTS, "year": HUGE},
    "year 1e308": {**RIGHTS, "year": 1e308},
    "term ending in the year 1": {**RIGHTS, "term_end": "0001-01-01"},
    "embargo until 9999-12-31": {**RIGHTS, "embargo_until": "9999-12-31"},
    "embargo in year 10000": {**RIGHTS, "embargo_until": "10000-01-01"},
    "31 February": {**RIGHTS, "term_end": "2024-02-31"},
    "date as a number": {**RIGHTS, "term_end": 20240101},
    "holder too long": {**RIGHTS, "holder": "社" * 201},
    "holder with NUL": {**RIGHTS, "holder": "本省\x00出版社"},
    "holder as an object": {**RIGHTS, "holder": {"a": 1}},
    "licence as a list": {**RIGHTS, "license": ["CC-BY-4.0"]},
    "territory of 2,000 codes": {**RIGHTS, "territory": [f"{i:06d}" for i in range(2_000)]},
    "territory of objects": {**RIGHTS, "territory": [{"code": "440000"}]},
    "free_for of objects": {**RIGHTS, "free_for": [{"a": 1}]},
    "derived_from an object": {**RIGHTS, "derived_from": {"a": 1}},
    "derived_from 10**30": {**RIGHTS, "derived_from": HUGE},
    "unknown rights member": {**RIGHTS, "royalty": 1},
    "rights as a list": [RIGHTS],
    "rights nested deep": "[" * 5_000 + "]" * 5_000,
}
METADATA_PAYLOADS: dict[str, Any] = {
    "title with NUL": {**METADATA, "title": "有理数\x00"},
    "title too long": {**METADATA, "title": "题" * 301},
    "chapter too long": {**METADATA, "chapter": "章" * 201},
    "textbook id too long": {**METADATA, "textbook_id": "x" * 65},
    "title as an object": {**METADATA, "title": {"zh": "x"}},
    "keywords as objects": {**METADATA, "keywords": [{"a": 1}]},
    "5,000 keywords": {**METADATA, "keywords": ["k"] * 5_000},
    "unknown metadata member": {**METADATA, "status": "published"},
    "metadata as a list": [METADATA],
    "metadata nested deep": '{"a":' * 5_000 + "1" + "}" * 5_000,
    "metadata not JSON": "{title: x}",
}


def _deposit_payloads() -> dict[str, Payload]:
    out = dict(FILE_PAYLOADS)
    out |= {f"rights: {name}": deposit(400, None, rights=rights) for name, rights in RIGHTS_PAYLOADS.items()}
    out |= {f"metadata: {name}": deposit(400, None, metadata=meta) for name, meta in METADATA_PAYLOADS.items()}
    out["metadata missing"] = Payload(400, None, fields={"rights": RIGHTS}, files=(("a.pdf", PDF),))
    out["unknown multipart member"] = deposit(400, "unknown_fields", publish="1")
    return out


def _add_files_payloads() -> dict[str, Payload]:
    out = {}
    for name, payload in FILE_PAYLOADS.items():
        fields = {k: v for k, v in (payload.fields or {}).items() if k == "checksums"}
        out[name] = Payload(payload.status, payload.code, fields=fields, files=payload.files)
    out["metadata sent with files"] = Payload(400, "unknown_fields", fields={"metadata": METADATA},
                                              files=(("b.pptx", pptx_bytes("b")),))
    return out


def _patch_payloads() -> dict[str, Payload]:
    out = {f"rights: {name}": Payload(400, None, data={"rights": rights}) for name, rights in RIGHTS_PAYLOADS.items()}
    out |= {f"metadata: {name}": Payload(400, None, data={"metadata": m}) for name, m in METADATA_PAYLOADS.items()}
    out["status smuggled beside metadata"] = Payload(400, "unknown_fields",
                                                     data={"metadata": {"description": "x"}, "status": "published"})
    out["publisher smuggled beside rights"] = Payload(400, "unknown_fields",
                                                      data={"rights": {"price": 1}, "publisher": "someone"})
    return out


def _review_payloads() -> dict[str, Payload]:
    """A reviewer's decision: review-by dates out of range, dimensions that are not the seven."""
    return {
        "review_by in the year 9999": Payload(400, "invalid_input", data={"review_by": "9999-12-31"}),
        "review_by in the year 1": Payload(400, "invalid_input", data={"review_by": "0001-01-01"}),
        "review_by as a number": Payload(400, "invalid_input", data={"review_by": 10**12}),
        "dimensions as a list": Payload(400, "invalid_input", data={"dimensions": ["political"]}),
        "an unknown dimension": Payload(400, "invalid_input", data={"dimensions": {"x" * 1000: "pass"}}),
        "a dimension comment of 10,000 characters": Payload(400, "invalid_input", data={
            "dimensions": {"political": {"result": "pass", "comment": "字" * 10_000}}}),
    }


def _text_payloads(field_name: str) -> dict[str, Payload]:
    return {
        f"{field_name} as an object": Payload(400, "invalid_input", data={field_name: {"a": 1}}),
        f"{field_name} as a list": Payload(400, "invalid_input", data={field_name: ["a"]}),
        f"{field_name} of 10,000 characters": Payload(400, "invalid_input", data={field_name: "字" * 10_000}),
    }


PAYLOADS: dict[tuple[str, str], dict[str, Payload]] = {
    ("api-token", "post"): {
        "username of 1,000 characters": Payload(400, "invalid_input", data={"username": "u" * 1_000,
                                                                            "password": "x"}),
        "username as an object": Payload(400, "invalid_input", data={"username": {"$ne": ""}, "password": "x"}),
    },
    ("api-resources", "post"): _deposit_payloads(),
    ("api-resource", "patch"): _patch_payloads(),
    ("api-resource-files", "post"): _add_files_payloads(),
    ("api-resource-submit", "post"): {"a note to submit": Payload(400, "unknown_fields", data={"note": "x"})},
    ("api-resource-approve", "post"): {**_text_payloads("note"), **_review_payloads()},
    ("api-resource-reject", "post"): {
        **_text_payloads("reason"),
        "reason_code of 1,000 characters": Payload(400, "invalid_input", data={"reason": "x", "reason_code": "c" * 1000}),
        "a field note of 10,000 characters": Payload(400, "invalid_input", data={
            "reason": "x", "field_notes": {"title": "字" * 10_000}}),
        "field notes as a list": Payload(400, "invalid_input", data={"reason": "x", "field_notes": ["title"]}),
        "a dimension comment with NUL": Payload(400, "malformed_request", data={
            "reason": "x", "dimensions": {"political": {"result": "fail", "comment": "\x00"}}}),
    },
    ("api-resource-rereview", "post"): {**_text_payloads("note"), **_review_payloads()},
    ("api-review-policy", "put"): {"two_person_rule as a string": Payload(400, "invalid_input",
                                                                          data={"two_person_rule": "yes"})},
    ("api-commitment", "post"): {
        "text of 20,001 characters": Payload(400, "invalid_input", data={"text_zh": "a" * 20_001, "text_en": "x"}),
        "text as an object": Payload(400, "invalid_input", data={"text_zh": {"a": 1}, "text_en": "x"}),
    },
    ("api-commitment-accept", "post"): {
        "version 10**30": Payload(400, "invalid_input", data={"version": 10**18}),
        "version as text": Payload(400, "invalid_input", data={"version": "first"}),
        "version 0": Payload(400, "invalid_input", data={"version": 0}),
    },
    ("api-resource-withdraw", "post"): {**_text_payloads("note"), **_text_payloads("reason")},
    ("api-resource-download", "post"): {"file not a uuid": Payload(400, "invalid_input", data={"file": "../../x"}),
                                        "file 10**18": Payload(404, "not_found", data={"file": 10**18})},
    ("api-resource-grants", "post"): {"scope of 1,000 characters": Payload(400, "invalid_input",
                                                                           data={"scope": "s" * 1_000})},
    ("api-resource-ratings", "put"): {
        "stars 10**30": Payload(400, None, data={"stars": 10**30}),
        "stars 0": Payload(400, "invalid_input", data={"stars": 0}),
        "stars as text": Payload(400, "invalid_input", data={"stars": "five"}),
        "comment of 10,000 characters": Payload(400, "invalid_input", data={"stars": 4, "comment": "评" * 10_000}),
        "comment as an object": Payload(400, "invalid_input", data={"stars": 4, "comment": {"a": 1}}),
        "comment with NUL": Payload(400, "malformed_request", data={"stars": 4, "comment": "a\x00"}),
    },
    ("api-resource-remix", "post"): {
        "metadata as a list": Payload(400, "invalid_input", data={"metadata": ["title"]}),
        "a field a remix may not change": Payload(400, "invalid_input", data={"metadata": {"province": "110000"}}),
        "title of 10,000 characters": Payload(400, "invalid_input", data={"metadata": {"title": "题" * 10_000}}),
        "licence of 1,000 characters": Payload(400, "invalid_input", data={"license": "L" * 1_000}),
    },
    ("api-school-sharing", "put"): {
        "consent as text": Payload(400, "invalid_input", data={"teachers_may_share": "perhaps"}),
        "commitment version 10**30": Payload(400, None, data={"teachers_may_share": True,
                                                             "commitment_version": 10**30}),
    },
    ("api-rating-moderate", "post"): {
        "action of 1,000 characters": Payload(400, "invalid_input", data={"action": "h" * 1_000}),
        "reason as a list": Payload(400, "invalid_input", data={"action": "hide", "reason": ["x"]}),
    },
    ("api-school-policy", "put"): {
        "allowance of 10**30": Payload(400, None, data={"teacher_allowance": 10**30, "approval_threshold": None}),
        "negative threshold": Payload(400, "invalid_input", data={"teacher_allowance": 1, "approval_threshold": -1}),
        "allowance as text": Payload(400, "invalid_input", data={"teacher_allowance": "many", "approval_threshold": 1}),
        "allowance as an object": Payload(400, "invalid_input", data={"teacher_allowance": {"a": 1},
                                                                     "approval_threshold": 1}),
    },
    ("api-teacher-allowance", "put"): {
        "amount of 10**30": Payload(400, None, data={"amount": 10**30}),
        "amount -1": Payload(400, "invalid_input", data={"amount": -1}),
        "amount as a list": Payload(400, "invalid_input", data={"amount": [1]}),
    },
    ("api-purchase-request-decide", "post"): {
        "decision of 1,000 characters": Payload(400, "invalid_input", data={"decision": "a" * 1_000}),
        "note of 10,000 characters": Payload(400, "invalid_input", data={"decision": "reject", "note": "n" * 10_000}),
    },
    ("api-vouchers-fund", "post"): {
        "per_student of 10**12": Payload(400, "invalid_input", data={"school": 1, "per_student": 10**12}),
        "school of 10**19": Payload(400, None, data={"school": 10**19 - 1, "per_student": 1}),
        "per_student as a string of digits": Payload(400, None, data={"school": 1, "per_student": "9" * 25}),
        "memo with NUL": Payload(400, "malformed_request", data={"school": 1, "per_student": 1, "memo": "a\x00"}),
    },
    ("api-takedowns", "post"): {
        "claimant too long": Payload(400, "invalid_input", data={"resource": "00000000-0000-4000-8000-000000000000",
                                                                 "grounds": "copyright", "statement": "x",
                                                                 "claimant": "c" * 201}),
        "resource not a uuid": Payload(400, "invalid_input", data={"resource": "../x", "grounds": "copyright",
                                                                   "statement": "x"}),
        "statement with NUL": Payload(400, "malformed_request", data={"resource": "00000000-0000-4000-8000-000000000000",
                                                                  "grounds": "copyright", "statement": "\x00"}),
    },
    ("api-takedown-uphold", "post"): {"note of 10,000 characters": Payload(400, "invalid_input",
                                                                           data={"note": "n" * 10_000})},
    ("api-takedown-reject", "post"): {"note as an object": Payload(400, "invalid_input", data={"note": {"a": 1}})},
    ("api-negative-list-local", "post"): {
        "term as an object": Payload(400, "negative_term_invalid", data={"term": {"a": 1}}),
        "term of 10,000 characters": Payload(400, "negative_term_invalid", data={"term": "字" * 10_000}),
        "term of punctuation only": Payload(400, "negative_term_invalid", data={"term": "·—·…"}),
        "severity not hard or soft": Payload(400, "negative_term_invalid", data={"term": "词", "severity": "x"}),
        "category as a list": Payload(400, "negative_term_invalid", data={"term": "词", "category": ["a"]}),
        "note of 10,000 characters": Payload(400, "negative_term_invalid", data={"term": "词", "note": "n" * 10_000}),
        "scope smuggled in": Payload(400, "unknown_fields", data={"term": "词", "scope": "national"}),
    },
    ("api-negative-term-local", "patch"): {
        "active as a string": Payload(400, "negative_term_invalid", data={"active": "false"}),
        "term as a list": Payload(400, "negative_term_invalid", data={"term": ["a"]}),
    },
    ("api-collections", "post"): {
        **_text_payloads("title"),
        "title with NUL": Payload(400, "malformed_request", data={"title": "a\x00"}),
        "visibility not a choice": Payload(400, "invalid_input", data={"title": "a", "visibility": "everyone"}),
        "owner smuggled in": Payload(400, "unknown_fields", data={"title": "a", "owner": 1}),
    },
    ("api-collection", "patch"): {**_text_payloads("description"),
                                  "visibility as a list": Payload(400, "invalid_input", data={"visibility": ["public"]})},
    ("api-collection-items", "post"): {
        "resource not a uuid": Payload(400, "invalid_input", data={"resource": "../x"}),
        "a resource that does not exist": Payload(404, "resource_not_found", data={
            "resource": "00000000-0000-4000-8000-000000000000"}),
        "step of 10,000 characters": Payload(400, "invalid_input", data={
            "resource": "00000000-0000-4000-8000-000000000000", "step": "字" * 10_000}),
    },
    ("api-collection-items", "put"): {
        "order as an object": Payload(400, "invalid_input", data={"order": {"a": 1}}),
        "an order naming a stranger": Payload(400, "invalid_input", data={"order": [
            {"resource": "00000000-0000-4000-8000-000000000000"}]}),
    },
    ("api-collection-purchase", "post"): {
        "confirmed_total 10**18": Payload(400, "invalid_input", data={"confirmed_total": 10**18}),
        "confirmed_total negative": Payload(400, "invalid_input", data={"confirmed_total": -5}),
        "scope not a choice": Payload(400, "invalid_input", data={"confirmed_total": 0, "scope": "nation"}),
    },
    ("api-collections-import", "post"): {
        "not a zip": Payload(415, "file_type_not_allowed", files=(("p.zip", b"%PDF-1.4 not a zip"),),
                             file_field="package"),
        "a zip without a manifest": Payload(400, "package_invalid", file_field="package", files=(
            ("p.zip", zip_archive([named(deflated(b"x"), "readme.txt")])),)),
        "a zip bomb": Payload(400, "archive_bomb", file_field="package", files=(
            ("p.zip", zip_archive([named(deflated(b"\0" * (4 * 1024 * 1024)), "imsmanifest.xml")])),)),
        "a manifest with entities": Payload(400, "package_invalid", file_field="package", files=(("p.zip", zip_archive([named(deflated(
            b'<!DOCTYPE m [<!ENTITY a "aaaaaaaa">]><m>&a;&a;</m>'), "imsmanifest.xml")])),)),
    },
    ("api-follows", "post"): {**_text_payloads("chapter"),
                              "nothing to follow": Payload(400, "invalid_input", data={"subject": ""})},
    ("api-feed-digest", "put"): {"enabled as a string": Payload(400, "invalid_input", data={"enabled": "maybe"})},
}


# --- running them ----------------------------------------------------------------------------------------

@pytest.fixture
def world(orgs, users, settings, tmp_path) -> World:
    settings.CATALOG_SEARCH_DIR = tmp_path / "search"
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = LIMIT
    cache.clear()  # the token endpoint's login throttle counts per client address
    orgs["city_school"].student_count = 10
    orgs["city_school"].save(update_fields=["student_count"])
    return World(orgs=orgs, users=users)


def _counted_tables() -> list[str]:
    # The database cache holds throttle counters (a refused sign-in still counts against its address):
    # state by design, never data a request stored.
    caches = {spec.get("LOCATION") for spec in django_settings.CACHES.values()
              if spec.get("BACKEND", "").endswith("DatabaseCache")}
    return sorted({model._meta.db_table for model in apps.get_models()
                   if model._meta.app_label in OUR_APPS and not model._meta.proxy and model._meta.managed
                   and model._meta.db_table not in caches})


def snapshot(settings) -> dict[str, Any]:
    """Rows per table of the node's apps (one query), every resource's version, and the stored blobs."""
    tables = _counted_tables()
    with connection.cursor() as cursor:
        quote = connection.ops.quote_name
        # Table names come from the app registry, quoted by the backend.
        cursor.execute("SELECT " + ", ".join(f"(SELECT COUNT(*) FROM {quote(t)})" for t in tables))  # noqa: S608
        counts: dict[str, Any] = dict(zip(tables, cursor.fetchone(), strict=True))
    counts["resource versions"] = sorted(Resource.objects.values_list("id", "version", "updated_at"))
    root = settings.CATALOG_BLOB_ROOT / "sha256"
    counts["blobs"] = sorted(str(p) for p in root.rglob("*") if p.is_file()) if root.exists() else []
    return counts


def client_for(world: World, role: str | None) -> Client:
    if role not in world.clients:
        client = Client()
        client.raise_request_exception = False
        if role is not None:
            client.force_login(world.users[role])
        world.clients[role] = client
    return world.clients[role]


def send(world: World, name: str, method: str, body: bytes, content_type: str):
    target = TARGETS[(name, method)]
    kwargs = target.kwargs(world)
    client = client_for(world, target.role)
    cache.clear()  # the token endpoint's login throttle counts per client address
    before = snapshot(django_settings)
    response = client.generic(method.upper(), reverse(name, kwargs=kwargs), body, content_type=content_type)
    return response, before


def refusal_problem(response, before, *, status: int, code: str | None) -> str | None:
    """What is wrong with the answer to a hostile request, or None when it is a proper refusal."""
    summary = f"{response.status_code} {response.content[:300]!r}"
    if response.status_code != status:
        return f"expected {status}, got {summary}"
    if not response["Content-Type"].startswith("application/json"):
        return f"not JSON: {response['Content-Type']} {summary}"
    error = response.json().get("error")
    if not isinstance(error, dict) or set(error) != {"code", "message", "details"} or not error["code"]:
        return f"not the error shape: {summary}"
    if code is not None and error["code"] != code:
        return f"expected code {code}, got {summary}"
    if snapshot(django_settings) != before:
        return "something was stored"
    return None


@pytest.mark.parametrize(("name", "method"), sorted(TARGETS))
def test_request_level_attacks_on_every_write_endpoint(world, name, method):
    """Every attack of ATTACKS against one endpoint (one test per endpoint keeps the corpus quick)."""
    failures = {}
    for attack, build in ATTACKS.items():
        spec = build()
        response, before = send(world, name, method, spec.body, spec.content_type)
        problem = refusal_problem(response, before, status=spec.status, code=spec.code)
        if problem:
            failures[attack] = problem
    assert failures == {}


@pytest.mark.parametrize(("name", "method"), sorted(PAYLOADS))
def test_payload_attacks(world, name, method):
    failures = {}
    for case, payload in PAYLOADS[(name, method)].items():
        body, content_type = payload.request()
        response, before = send(world, name, method, body, content_type)
        problem = refusal_problem(response, before, status=payload.status, code=payload.code)
        if problem:
            failures[case] = problem
    assert failures == {}


def test_the_corpus_payloads_are_refused_for_what_they_are_not_for_being_malformed(world):
    """Sanity: the same requests with honest values succeed, so the refusals above are the attacks'."""
    ok = [
        (("api-resources", "post"), deposit(201, None)),
        (("api-resource", "patch"), Payload(200, None, data={"rights": {"price": 0, "term_end": "2030-01-01"},
                                                             "metadata": {"chapter": "第一章"}})),
        (("api-resource-files", "post"), Payload(201, None, files=(("b.pptx", pptx_bytes("ok")),))),
        (("api-vouchers-fund", "post"), Payload(201, None, data={"school": world.orgs["city_school"].pk,
                                                                 "per_student": 2})),
    ]
    for (name, method), payload in ok:
        body, content_type = payload.request()
        response, _ = send(world, name, method, body, content_type)
        assert response.status_code == payload.status, (name, response.content[:300])


# --- GET endpoints: hostile query strings ----------------------------------------------------------------

HOSTILE_QUERIES = {
    "numbers beyond 64 bits": f"page={HUGE}&page_size={HUGE}&publisher={HUGE}&since={HUGE}&limit={HUGE}",
    "settlement from the year 1 to 9999": "start=0001-01-01&end=9999-12-31",
    "month 9999-12": "month=9999-12",
    "NUL and junk": "q=%00&status=%00&action=%00&mine=%00&page=%00&month=%00&start=x&end=y&publisher=-1",
    "a million characters": "q=" + "字" * 2_000 + "&status=" + "s" * 10_000,
    "textbook tree values": "stage=" + "段" * 3_000 + "&chapter=%00&grade=&volume=" + "册" * 500 + "&subject=数学",
}
GET_ROLES = ("hub_operator", "publisher")


def _get_kwargs(world: World, route_name: str) -> dict[str, Any]:
    pattern = next(p for _, p in _walk(get_resolver().url_patterns) if p.name == route_name)
    kwargs = {}
    for key in pattern.pattern.converters:
        kwargs[key] = {"resource_id": lambda: world.resource().pk, "notice_id": lambda: world.notice().pk,
                       "account_id": lambda: 999999, "node_id": lambda: "cn-99", "run_id": lambda: 999999,
                       "item_id": lambda: 999999, "entry_id": lambda: NO_ENTRY,
                       "request_id": lambda: 999999, "user_id": lambda: world.users["teacher"].pk,
                       "rating_id": lambda: 999999,
                       "collection_id": lambda: world.collection().pk, "follow_id": lambda: 999999}[key]()
    return kwargs


@pytest.mark.parametrize("query", list(HOSTILE_QUERIES))
def test_hostile_query_strings_on_every_get_endpoint(world, query):
    failures = []
    for name, _ in sorted(api_endpoints(("get",))):
        url = reverse(name, kwargs=_get_kwargs(world, name)) + "?" + HOSTILE_QUERIES[query]
        for role in GET_ROLES:
            response = client_for(world, role).get(url)
            if response.status_code >= 500 or (response.status_code >= 400 and not
                                               response["Content-Type"].startswith("application/json")):
                failures.append((name, role, response.status_code, response.content[:200]))
    assert failures == []

