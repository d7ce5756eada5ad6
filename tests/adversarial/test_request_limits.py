"""Requests Django refuses while reading them (too many fields or files, a body too large) and hostile
bodies sent to the federation protocol: the API and the protocol answer in the JSON error shape (also
with DEBUG on), the web pages with the 400 page, and nothing answers with a 500."""

from __future__ import annotations

import re

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache
from django.test import Client
from django.urls import get_resolver

from catalog.review.commitment import commitment_current
from catalog.sharing import school_sharing_set
from exchange.models import AuditEvent
from federation.signing import CanonicalJsonError, generate_private_key, key_id, parse_json, sign_request
from tests.adversarial.craft import multipart
from tests.adversarial.test_bad_input import LIMIT, _walk, snapshot
from tests.factories import ResourceFactory, pdf_bytes

MANY_FIELDS = "&".join(f"f{i}=1" for i in range(1_001))
DEEP = "[" * 10_000 + "]" * 10_000


def browser(user=None) -> Client:
    """A client that enforces CSRF like a browser session does, signed in as ``user``."""
    client = Client(enforce_csrf_checks=True)
    client.raise_request_exception = False
    if user is not None:
        client.force_login(user)
    return client


def csrf_token(client: Client, url: str) -> str:
    page = client.get(url)
    assert page.status_code == 200, url
    return re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page.content).group(1).decode()


def assert_400_page(response):
    assert response.status_code == 400, response.content[:300]
    assert response["Content-Type"].startswith("text/html")
    assert b"Traceback" not in response.content


@pytest.fixture
def limits(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = LIMIT
    cache.clear()


def test_a_form_post_with_too_many_fields_gets_the_400_page(users, orgs, limits):
    client = browser()
    token = csrf_token(client, "/accounts/login/")
    response = client.post("/accounts/login/", f"csrfmiddlewaretoken={token}&{MANY_FIELDS}",
                           content_type="application/x-www-form-urlencoded")
    assert_400_page(response)

    reviewer = browser(users["reviewer"])
    resource = ResourceFactory(publisher=orgs["publisher"], status="submitted")
    token = csrf_token(reviewer, f"/review/{resource.pk}")
    response = reviewer.post(f"/review/{resource.pk}/reject", f"csrfmiddlewaretoken={token}&reason=x&{MANY_FIELDS}",
                             content_type="application/x-www-form-urlencoded")
    assert_400_page(response)


@pytest.mark.parametrize("who, form", [("publisher", "/publish/new"), ("teacher", "/me/lessons/new")])
def test_an_upload_form_with_too_many_files_or_fields_or_bytes_gets_the_400_page(users, limits, who, form):
    """The publishers' upload form, and 分享我的课 (a teacher of a school that consented) bounded like it."""
    if who == "teacher":
        school_sharing_set(actor=users["school_admin"], allowed=True, commitment_version=commitment_current().version)
    client = browser(users[who])
    token = csrf_token(client, form)
    before = snapshot(django_settings)
    for fields, files in (
        ({"csrfmiddlewaretoken": token}, [(f"f{i}.pdf", pdf_bytes("x")) for i in range(101)]),
        ({"csrfmiddlewaretoken": token, **{f"f{i}": "1" for i in range(1_001)}}, []),
        ({"csrfmiddlewaretoken": token, "description": "字" * LIMIT}, []),
    ):
        body, content_type = multipart(fields, files)
        assert_400_page(client.generic("POST", form, body, content_type=content_type))
    assert snapshot(django_settings) == before


@pytest.mark.parametrize("debug", [False, True])
def test_refused_api_and_protocol_requests_are_json_even_with_debug_on(settings, users, limits, debug):
    """With DEBUG on Django renders a refused request as its HTML debug page; the API never does."""
    settings.DEBUG = debug
    anonymous = Client()
    anonymous.raise_request_exception = False
    cases = [
        ("/api/v1/auth/token", MANY_FIELDS.encode(), "application/x-www-form-urlencoded", 400, "too_many_fields"),
        ("/api/v1/auth/token", b"x=" + b"a" * LIMIT, "application/x-www-form-urlencoded", 413, "request_too_large"),
        ("/federation/v1/poke", b"{" + b" " * LIMIT + b"}", "application/json", 413, "request_too_large"),
        ("/federation/v1/enrolments", MANY_FIELDS.encode(), "application/x-www-form-urlencoded", None, None),
    ]
    for url, body, content_type, status, code in cases:
        cache.clear()
        response = anonymous.generic("POST", url, body, content_type=content_type)
        assert 400 <= response.status_code < 500, (url, response.status_code)
        assert response["Content-Type"].startswith("application/json"), (url, response.content[:200])
        error = response.json()["error"]
        if status is not None:
            assert (response.status_code, error["code"]) == (status, code), (url, error)


def protocol_routes() -> list[str]:
    return sorted("/" + re.sub(r"<[^>]+>", "x", route) for route, _ in _walk(get_resolver().url_patterns)
                  if route.startswith(("federation/v1/", ".well-known/")))


def without_audit(counts: dict) -> dict:
    """The protocol audits refused requests (rate-limited): that record is the point, not a leak."""
    return {table: count for table, count in counts.items() if table != AuditEvent._meta.db_table}


HOSTILE_BODIES = {
    "deep JSON": (DEEP.encode(), "application/json"),
    "bad UTF-8": (b'{"x": "\xff"}', "application/json"),
    "too large": (b'{"x": "' + b"a" * LIMIT + b'"}', "application/json"),
    "too many fields": (MANY_FIELDS.encode(), "application/x-www-form-urlencoded"),
    "broken multipart": (b"--x\r\n", "multipart/form-data"),
}


@pytest.mark.parametrize("role", ["province", "hub"])
def test_protocol_endpoints_refuse_hostile_bodies_with_json(settings, users, limits, role):
    settings.EXCHANGE_NODE_ROLE = role
    client = Client()
    client.raise_request_exception = False
    failures = []
    for url in protocol_routes():
        for name, (body, content_type) in HOSTILE_BODIES.items():
            before = without_audit(snapshot(settings))
            response = client.generic("POST", url, body, content_type=content_type)
            if not (400 <= response.status_code < 500 and response["Content-Type"].startswith("application/json")):
                failures.append((url, name, response.status_code, response.content[:200]))
            elif without_audit(snapshot(settings)) != before:
                failures.append((url, name, "stored something"))
    assert failures == [], "\n".join(map(repr, failures))


def test_a_deep_enrolment_signed_with_the_key_it_enrols_is_refused_not_crashed(settings, users, limits):
    """The hub reads an enrolment's body to find the key that signed it, before trusting anything:
    JSON nested 10,000 deep made that parser fail with RecursionError (a 500)."""
    settings.EXCHANGE_NODE_ROLE = "hub"
    private = generate_private_key()
    url = f"{settings.EXCHANGE_BASE_URL}/federation/v1/enrolments"
    body = ('{"node_id": "cn-12", "jwk": ' + DEEP + "}").encode()
    headers = sign_request(method="POST", url=url, headers={"Content-Type": "application/json"}, body=body,
                           key=private, kid=key_id(private.public_key()))
    client = Client()
    client.raise_request_exception = False
    response = client.post("/federation/v1/enrolments", body, content_type="application/json",
                           headers=headers)
    assert 400 <= response.status_code < 500, response.content[:300]
    assert response.json()["error"]["code"]


def test_parse_json_refuses_deep_nesting_instead_of_recursing():
    with pytest.raises(CanonicalJsonError, match="nested deeper"):
        parse_json(DEEP)
    with pytest.raises(CanonicalJsonError, match="nested deeper"):
        parse_json('{"a":' * 70 + "1" + "}" * 70)
    assert parse_json('{"a": [[[1]]]}') == {"a": [[[1]]]}


def test_nul_in_a_path_or_query_is_a_bad_request_for_the_api_and_the_pages(users, orgs, limits):
    """PostgreSQL can neither store nor compare NUL: a lookup with it was a server error there."""
    operator = browser(users["hub_operator"])
    for url in ("/api/v1/federation/enrolments?status=%00", "/api/v1/federation/peers/cn%00/pull",
                "/api/v1/resources?mine=1&status=a%00b", "/api/v1/search?q=%00"):
        response = operator.get(url) if "pull" not in url else operator.post(url)
        assert response.status_code == 400, (url, response.content[:200])
        assert response.json()["error"]["code"] == "malformed_request"
    assert_400_page(browser(users["teacher"]).get("/search?q=%00"))


def test_free_text_with_nul_sent_to_the_pages_is_refused_not_stored(users, orgs, limits):
    """The review pages pass the reason straight to the service, which refuses NUL (the API's own
    parser refuses it earlier)."""
    resource = ResourceFactory(publisher=orgs["publisher"], status="submitted")
    reviewer = Client()
    reviewer.raise_request_exception = False
    reviewer.force_login(users["reviewer"])
    response = reviewer.post(f"/review/{resource.pk}/reject", {"reason": "版权\x00不清"})
    assert response.status_code in (200, 302)
    resource.refresh_from_db()
    assert resource.status == "submitted" and "\x00" not in resource.review_note
