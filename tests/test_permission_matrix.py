"""The permission matrix: every role × every API endpoint under /api/v1/ × own/other object, with the
exact status code each must get.

The endpoints are enumerated from the URL resolver: an endpoint (route name + HTTP method) that is not in
``MATRIX`` fails ``test_every_api_endpoint_is_in_the_matrix`` — add a row when you add an endpoint.
"Own" objects belong to the role users' own organisation or province (the province's publisher, reviewers,
school, bureau); "other" objects to another province, where none of them holds an object right.
Every API view must also declare its permission (``ExchangeAPIView.permission_declared``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone
from rest_framework.test import APIClient

from catalog.models import Resource
from exchange.api import ExchangeAPIView
from exchange.models import Organisation, User
from exchange.services import organisation_create, user_create
from licensing import services as licensing_services
from licensing.models import TakedownNotice, VoucherAccount
from tests.factories import METADATA, RIGHTS, ResourceFactory, pdf_bytes

ROLES = ("anonymous", "teacher", "publisher", "reviewer", "school_admin", "province_admin", "hub_operator")
HTTP_METHODS = ("get", "post", "put", "patch", "delete")


def S(*codes: int) -> dict[str, int]:  # noqa: N802 - reads as a table row
    """Expected status per role, in the order of ROLES."""
    return dict(zip(ROLES, codes, strict=True))


# --- the world the requests run in ----------------------------------------------------------------------

@dataclass
class World:
    orgs: dict[str, Organisation]
    users: dict[str, User]
    province: str
    far_publisher: Organisation
    far_publisher_user: User
    made: dict[str, Any] = field(default_factory=dict)

    def resource(self, own: bool = True, **kwargs: Any) -> Resource:
        """Own: the province's publisher's (edit right for `publisher`, review right for `reviewer`).
        Other: a publisher of another province."""
        return ResourceFactory(publisher=self.orgs["publisher"] if own else self.far_publisher, **kwargs)

    def priced(self) -> Resource:
        return self.resource(license="ALL-RIGHTS-RESERVED", price=5, free_for=["rural"], territory=[self.province])

    def school_account(self, own: bool = True) -> VoucherAccount:
        """Own: the city school (of `teacher` and `school_admin`, in `province_admin`'s province), funded.
        Other: a school of another province."""
        if own:
            licensing_services.vouchers_fund(actor=self.users["province_admin"], school=self.orgs["city_school"],
                                             per_student=1)
            return VoucherAccount.objects.get(key=f"school:{self.orgs['city_school'].pk}")
        return licensing_services.voucher_account_ensure(school=self.orgs["far_school"])

    def notice(self, own: bool = True) -> TakedownNotice:
        """Own: filed by `publisher` about a resource of the province. Other: filed by another province's
        publisher about a resource of that province."""
        if own:
            resource = ResourceFactory(publisher=self.orgs["other_publisher"])
            return licensing_services.takedown_file(user=self.users["publisher"], resource=resource,
                                                    grounds="copyright", statement="侵权")
        return licensing_services.takedown_file(user=self.far_publisher_user, resource=self.resource(own=False),
                                                grounds="copyright", statement="侵权")


@dataclass(frozen=True)
class Req:
    kwargs: dict[str, Any] = field(default_factory=dict)
    data: Any = None
    format: str = "json"
    query: str = ""


def rid(resource: Resource) -> dict[str, Any]:
    return {"resource_id": resource.pk}


def deposit_body() -> dict[str, Any]:
    return {"metadata": json.dumps(METADATA), "rights": json.dumps(RIGHTS),
            "files": [SimpleUploadedFile("a.pdf", pdf_bytes("matrix"))]}


def token_body(w: World, role: str) -> dict[str, str]:
    if role == "anonymous":
        return {"username": "nobody", "password": "wrong-password"}
    return {"username": role, "password": f"test-pass-{role}"}


@dataclass(frozen=True)
class Case:
    name: str
    method: str
    variant: str
    expected: dict[str, int]
    setup: Callable[[World, str], Req]

    @property
    def id(self) -> str:
        return f"{self.method.upper()} {self.name} [{self.variant}]"


ANY = "-"
M: list[Case] = [
    # ROLES:                    anon teach  pub  rev  sadm padm  hub
    # --- exchange ---
    Case("api-token", "post", ANY, S(401, 200, 200, 200, 200, 200, 200), lambda w, r: Req(data=token_body(w, r))),
    Case("api-me", "get", ANY, S(401, 200, 200, 200, 200, 200, 200), lambda w, r: Req()),
    Case("api-logout", "post", ANY, S(401, 204, 204, 204, 204, 204, 204), lambda w, r: Req()),
    # --- catalog ---
    Case("api-resources", "get", ANY, S(200, 200, 200, 200, 200, 200, 200), lambda w, r: Req()),
    Case("api-resources", "post", ANY, S(401, 403, 201, 403, 403, 403, 403),
         lambda w, r: Req(data=deposit_body(), format="multipart")),
    Case("api-resource", "get", "own published", S(200, 200, 200, 200, 200, 200, 200),
         lambda w, r: Req(rid(w.resource()))),
    # a draft is seen by its publisher's members and by the province bureau's members (review right)
    Case("api-resource", "get", "own draft", S(404, 404, 200, 200, 404, 200, 404),
         lambda w, r: Req(rid(w.resource(status="draft")))),
    Case("api-resource", "get", "other draft", S(404, 404, 404, 404, 404, 404, 404),
         lambda w, r: Req(rid(w.resource(own=False, status="draft")))),
    Case("api-resource", "patch", "own", S(401, 403, 200, 403, 403, 403, 403),
         lambda w, r: Req(rid(w.resource()), {"metadata": {"description": "更新"}})),
    Case("api-resource", "patch", "other", S(401, 403, 403, 403, 403, 403, 403),
         lambda w, r: Req(rid(w.resource(own=False)), {"metadata": {"description": "更新"}})),
    Case("api-resource-files", "post", "own draft", S(401, 403, 201, 403, 403, 403, 403),
         lambda w, r: Req(rid(w.resource(status="draft")), {"files": [SimpleUploadedFile("b.pdf", pdf_bytes("b"))]},
                          format="multipart")),
    Case("api-resource-files", "post", "other draft", S(401, 403, 404, 403, 403, 403, 403),
         lambda w, r: Req(rid(w.resource(own=False, status="draft")),
                          {"files": [SimpleUploadedFile("b.pdf", pdf_bytes("b"))]}, format="multipart")),
    Case("api-resource-submit", "post", "own draft", S(401, 403, 200, 403, 403, 403, 403),
         lambda w, r: Req(rid(w.resource(status="draft")))),
    Case("api-resource-submit", "post", "other draft", S(401, 403, 404, 403, 403, 403, 403),
         lambda w, r: Req(rid(w.resource(own=False, status="draft")))),
    Case("api-resource-approve", "post", "own submitted", S(401, 403, 403, 200, 403, 403, 403),
         lambda w, r: Req(rid(w.resource(status="submitted")))),
    Case("api-resource-approve", "post", "other submitted", S(401, 403, 403, 404, 403, 403, 403),
         lambda w, r: Req(rid(w.resource(own=False, status="submitted")))),
    Case("api-resource-reject", "post", "own submitted", S(401, 403, 403, 200, 403, 403, 403),
         lambda w, r: Req(rid(w.resource(status="submitted")), {"reason": "版权信息不完整"})),
    Case("api-resource-reject", "post", "other submitted", S(401, 403, 403, 404, 403, 403, 403),
         lambda w, r: Req(rid(w.resource(own=False, status="submitted")), {"reason": "版权信息不完整"})),
    Case("api-resource-publish", "post", "own approved", S(401, 403, 200, 200, 403, 403, 403),
         lambda w, r: Req(rid(w.resource(status="approved")))),
    Case("api-resource-publish", "post", "other approved", S(401, 403, 404, 404, 403, 403, 403),
         lambda w, r: Req(rid(w.resource(own=False, status="approved")))),
    Case("api-resource-withdraw", "post", "own published", S(401, 403, 200, 200, 403, 403, 403),
         lambda w, r: Req(rid(w.resource()))),
    Case("api-resource-withdraw", "post", "other published", S(401, 403, 403, 403, 403, 403, 403),
         lambda w, r: Req(rid(w.resource(own=False)))),
    Case("api-review-queue", "get", ANY, S(401, 403, 403, 200, 403, 403, 403), lambda w, r: Req()),
    Case("api-vocabularies", "get", ANY, S(200, 200, 200, 200, 200, 200, 200), lambda w, r: Req()),
    Case("api-favourites", "get", ANY, S(401, 200, 200, 200, 200, 200, 200), lambda w, r: Req()),
    Case("api-resource-favourite", "put", "published", S(401, 200, 200, 200, 200, 200, 200),
         lambda w, r: Req(rid(w.resource()))),
    Case("api-resource-favourite", "delete", "published", S(401, 200, 200, 200, 200, 200, 200),
         lambda w, r: Req(rid(w.resource()))),
    # an unpublished resource stays invisible (404) to those without an object right, and cannot be
    # bookmarked (409) by those who can see it
    Case("api-resource-favourite", "put", "own draft", S(401, 404, 409, 409, 404, 409, 404),
         lambda w, r: Req(rid(w.resource(status="draft")))),
    # --- catalog search (the index holds published resources only) ---
    Case("api-search", "get", ANY, S(200, 200, 200, 200, 200, 200, 200), lambda w, r: Req(query="q=有理数")),
    Case("api-search-suggest", "get", ANY, S(200, 200, 200, 200, 200, 200, 200), lambda w, r: Req(query="q=有理")),
    # --- licensing: decisions, rights, downloads ---
    Case("api-resource-access", "get", ANY, S(200, 200, 200, 200, 200, 200, 200),
         lambda w, r: Req(rid(w.priced()))),
    # open licence: any signed-in node role; the publisher's own members on the basis own_resource
    Case("api-resource-download", "post", "open", S(401, 200, 200, 200, 200, 200, 200),
         lambda w, r: Req(rid(w.resource()))),
    # priced, province only, free for rural schools: 402 purchase_required, 403 outside_territory (hub, 110000)
    Case("api-resource-download", "post", "priced", S(401, 402, 200, 402, 402, 402, 403),
         lambda w, r: Req(rid(w.priced()))),
    Case("api-resource-download", "post", "other draft", S(401, 404, 404, 404, 404, 404, 404),
         lambda w, r: Req(rid(w.resource(own=False, status="draft")))),
    Case("api-resource-rights", "get", ANY, S(200, 200, 200, 200, 200, 200, 200), lambda w, r: Req(rid(w.priced()))),
    Case("api-resource-attribution", "get", ANY, S(200, 200, 200, 200, 200, 200, 200),
         lambda w, r: Req(rid(w.resource()))),
    Case("api-resource-rights-check", "get", "own", S(401, 403, 200, 200, 403, 403, 403),
         lambda w, r: Req(rid(w.resource()))),
    Case("api-resource-rights-check", "get", "other", S(401, 403, 403, 403, 403, 403, 403),
         lambda w, r: Req(rid(w.resource(own=False)))),
    Case("api-licenses", "get", ANY, S(200, 200, 200, 200, 200, 200, 200), lambda w, r: Req()),
    # --- licensing: grants and vouchers ---
    Case("api-resource-grants", "post", "own school funded", S(401, 201, 403, 403, 201, 403, 403),
         lambda w, r: (w.school_account(), Req(rid(w.priced()), {"scope": "personal"}))[1]),
    Case("api-grants", "get", ANY, S(401, 200, 200, 200, 200, 200, 200), lambda w, r: Req()),
    Case("api-vouchers-balance", "get", ANY, S(401, 200, 403, 403, 200, 403, 403), lambda w, r: Req()),
    Case("api-voucher-accounts", "get", ANY, S(401, 403, 403, 403, 200, 200, 403), lambda w, r: Req()),
    Case("api-voucher-account", "get", "own", S(401, 403, 403, 403, 200, 200, 403),
         lambda w, r: Req({"account_id": w.school_account().pk})),
    Case("api-voucher-account", "get", "other", S(401, 403, 403, 403, 404, 404, 403),
         lambda w, r: Req({"account_id": w.school_account(own=False).pk})),
    Case("api-vouchers-fund", "post", "own", S(401, 403, 403, 403, 403, 201, 403),
         lambda w, r: Req(data={"school": w.orgs["city_school"].pk, "per_student": 2})),
    Case("api-vouchers-fund", "post", "other", S(401, 403, 403, 403, 403, 403, 403),
         lambda w, r: Req(data={"school": w.orgs["far_school"].pk, "per_student": 2})),
    # --- licensing: takedowns ---
    Case("api-takedowns", "get", ANY, S(401, 200, 200, 200, 200, 200, 200), lambda w, r: Req()),
    Case("api-takedowns", "post", ANY, S(401, 403, 201, 403, 403, 201, 201),
         lambda w, r: Req(data={"resource": str(w.resource().pk), "grounds": "copyright", "statement": "侵权"})),
    Case("api-takedown", "get", "own", S(401, 404, 200, 200, 404, 404, 200),
         lambda w, r: Req({"notice_id": w.notice().pk})),
    Case("api-takedown", "get", "other", S(401, 404, 404, 404, 404, 404, 200),
         lambda w, r: Req({"notice_id": w.notice(own=False).pk})),
    Case("api-takedown-uphold", "post", "own", S(401, 403, 403, 200, 403, 403, 403),
         lambda w, r: Req({"notice_id": w.notice().pk})),
    Case("api-takedown-uphold", "post", "other", S(401, 403, 403, 404, 403, 403, 403),
         lambda w, r: Req({"notice_id": w.notice(own=False).pk})),
    Case("api-takedown-reject", "post", "own", S(401, 403, 403, 200, 403, 403, 403),
         lambda w, r: Req({"notice_id": w.notice().pk}, {"note": "已授权"})),
    Case("api-takedown-reject", "post", "other", S(401, 403, 403, 404, 403, 403, 403),
         lambda w, r: Req({"notice_id": w.notice(own=False).pk}, {"note": "已授权"})),
    # --- licensing: settlement ---
    Case("api-settlement", "get", ANY, S(401, 403, 200, 403, 403, 200, 200), lambda w, r: Req()),
    Case("api-settlement", "get", "other publisher", S(401, 403, 403, 403, 403, 403, 200),
         lambda w, r: Req(query=f"publisher={w.far_publisher.pk}")),
    Case("api-settlement-csv", "get", ANY, S(401, 403, 200, 403, 403, 200, 200), lambda w, r: Req()),
    Case("api-settlement-close", "post", "last month", S(401, 403, 403, 403, 403, 200, 200),
         lambda w, r: Req({}, {"month": f"{timezone.localdate().replace(day=1) - timedelta(days=1):%Y-%m}"})),
]
M += [
    # --- federation operator API (objects that do not exist here: the role gate, then the lookup) ---
    Case("api-federation-peers", "get", ANY, S(401, 403, 403, 403, 403, 200, 200), lambda w, r: Req()),
    Case("api-federation-peer-pull", "post", "unknown peer", S(401, 403, 403, 403, 403, 404, 404),
         lambda w, r: Req({"node_id": "cn-99"})),
    Case("api-federation-identity", "get", ANY, S(401, 403, 403, 403, 403, 200, 200), lambda w, r: Req()),
    Case("api-federation-enrolments", "get", ANY, S(401, 403, 403, 403, 403, 403, 200), lambda w, r: Req()),
    Case("api-federation-enrolment-approve", "post", "unknown enrolment", S(401, 403, 403, 403, 403, 403, 404),
         lambda w, r: Req({"enrolment_id": 999999}, {"fingerprint": "SHA256:x"})),
    Case("api-federation-node-revoke", "post", "unknown node", S(401, 403, 403, 403, 403, 403, 404),
         lambda w, r: Req({"node_id": "cn-99"}, {"reason": "key compromised"})),
    Case("api-federation-reinstatements", "post", "not a hub", S(401, 403, 403, 403, 403, 403, 404),
         lambda w, r: Req({}, {"origin": "cn-11", "record_id": "0b7c3f2e-5d1a-4c0e-9f1b-2a3c4d5e6f70",
                               "note": "复核后恢复"})),
]
MATRIX = {case.id: case for case in M}


# --- enumerating the API from the URL resolver -------------------------------------------------------------

def _walk(patterns, prefix: str = "") -> Iterator[tuple[str, URLPattern]]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            yield prefix + str(pattern.pattern), pattern


def api_endpoints() -> dict[tuple[str, str], type]:
    """(route name, method) → view class of every endpoint under /api/v1/."""
    out: dict[tuple[str, str], type] = {}
    for route, pattern in _walk(get_resolver().url_patterns):
        if not route.startswith("api/v1/"):
            continue
        view_class = getattr(pattern.callback, "view_class", None) or getattr(pattern.callback, "cls", None)
        assert view_class is not None, f"/{route} is not a class-based API view"
        for method in HTTP_METHODS:
            if hasattr(view_class, method):
                out[(pattern.name, method)] = view_class
    return out


def test_every_api_endpoint_is_in_the_matrix():
    endpoints = set(api_endpoints())
    covered = {(case.name, case.method) for case in M}
    assert sorted(endpoints - covered) == [], "add these endpoints to MATRIX in tests/test_permission_matrix.py"
    assert sorted(covered - endpoints) == [], "MATRIX names endpoints that no longer exist"
    assert len(MATRIX) == len(M), "duplicate cases"


def test_every_api_view_declares_its_permission():
    undeclared = sorted({cls.__qualname__ for cls in api_endpoints().values()
                         if not (issubclass(cls, ExchangeAPIView) and cls.permission_declared)})
    assert undeclared == []


def test_every_api_view_states_its_permission_in_its_docstring():
    missing = sorted({cls.__qualname__ for cls in api_endpoints().values() if "Permission:" not in (cls.__doc__ or "")})
    assert missing == []


# --- running the matrix -----------------------------------------------------------------------------------

@pytest.fixture
def world(orgs, users, province, settings, tmp_path) -> World:
    settings.CATALOG_SEARCH_DIR = tmp_path / "search"  # an embedded index of this test's own
    cache.clear()  # the token endpoint's login throttle counts per client address
    for key, count in (("city_school", 100), ("rural_school", 30), ("far_school", 50)):
        orgs[key].student_count = count
        orgs[key].save(update_fields=["student_count"])
    other_province = orgs["other_bureau"].region_id
    far_publisher = organisation_create(name="外省教育出版社", kind=Organisation.Kind.PUBLISHER, region=other_province)
    far_publisher_user = user_create(username="far_publisher", password=None, organisation=far_publisher,
                                     roles=["publisher"])
    return World(orgs=orgs, users=users, province=province, far_publisher=far_publisher,
                 far_publisher_user=far_publisher_user)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("case_id", list(MATRIX))
def test_permission_matrix(world, role, case_id):
    case = MATRIX[case_id]
    req = case.setup(world, role)
    client = APIClient()
    if role != "anonymous":
        client.force_authenticate(user=world.users[role])
    url = reverse(case.name, kwargs=req.kwargs) + (f"?{req.query}" if req.query else "")
    send = getattr(client, case.method)
    response = send(url, req.data, format=req.format) if case.method != "get" else send(url)
    body = response.content[:300] if response.get("Content-Type", "").startswith("application/json") else b""
    assert response.status_code == case.expected[role], f"{case.id} as {role}: {response.status_code} {body!r}"
