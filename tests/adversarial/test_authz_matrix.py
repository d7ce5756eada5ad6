"""The authorization matrix: every actor × every route of the node — web pages and their form actions, the
API, the machine endpoints — × the objects each acts on, with the outcome every cell must get.

The routes come from the URL conf: a route (and each HTTP method it answers) without a row here fails
``test_every_route_and_method_has_rows``, and a route that takes a resource needs a row for the resource in
each state (draft, submitted, rejected, approved, published and withdrawn in province A; a draft and a
published one in province B). Add rows when you add a route.

Outcomes: an HTTP status; ``"login"`` — sent to a login page; for a form action, which answers with a
redirect (or the form again) whether it worked or not, ``"done"`` when it took effect and ``"refused"``
when it did not (the page says why).

Besides its outcome every cell is checked for leaks: an unpublished resource exists only for its
publisher's members (publisher role, publishing organisation) and its province's reviewers
(``authz_world.SEES_UNPUBLISHED``). For everybody else a request about one must get exactly what a
request about a resource that does not exist gets — the same outcome and the same body, byte for byte
but for CSRF tokens and the ids of the request — and no answer may carry its title or id.

Each actor's cells run in one test against one world; each cell in a savepoint rolled back afterwards,
so every cell sees the same world.
"""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from catalog.models import (
    CommitmentAcceptance,
    ContentCommitment,
    Favourite,
    NegativeTerm,
    Rating,
    Resource,
    ResourceRevision,
    ReviewPolicy,
)
from exchange.api import ExchangeAPIView
from federation.models import Enrolment
from licensing.models import (
    DownloadEvent,
    Grant,
    LedgerTransaction,
    PurchaseRequest,
    SchoolPurchasePolicy,
    TakedownNotice,
    TeacherAllowance,
)
from spaces.models import Collection, CollectionItem, Follow
from tests.adversarial.authz_world import (
    A_UNPUBLISHED,
    ACTORS,
    B_UNPUBLISHED,
    EXTRA_RESOURCES,
    RESOURCE_STATES,
    Answer,
    World,
    ask,
    build_world,
    client_for,
    file_pk,
    may_see,
    missing_twin,
    password_of,
    url_kwargs,
)
from tests.factories import METADATA, RIGHTS, pdf_bytes

ANY = "-"  # the row's route acts on no object
MISSING = "missing"  # a resource id that names nothing
RESOURCES = (*RESOURCE_STATES, *EXTRA_RESOURCES)
HTTP_METHODS = ("get", "post", "put", "patch", "delete")


def X(default: Any, **cells: Any) -> dict[str, Any]:  # noqa: N802 - reads as a table row
    """Expected outcome per actor: ``default`` for everybody not named."""
    unknown = set(cells) - set(ACTORS)
    assert not unknown, f"not actors: {unknown}"
    return {actor: cells.get(actor, default) for actor in ACTORS}


@dataclass(frozen=True)
class Row:
    route: str
    method: str
    variants: tuple[str, ...]
    expected: dict[str, Any]
    data: Any = None  # the body, or a callable (world, object, actor) -> body
    fmt: str | None = "json"  # API bodies as JSON or multipart; None for pages (a form post)
    query: Any = ""  # query string, or a callable (world) -> query string
    kwargs: Callable[[World, Any], dict[str, Any]] | None = None  # URL arguments, else from the object
    probe: Callable[[World, Any], Any] | None = None  # what a form action changes
    label: str = ""
    may_reveal: bool = False  # the admin site: the superuser's view of the database


def rows(route: str, method: str, table: dict[tuple[str, ...] | str, dict[str, Any]], **common: Any) -> list[Row]:
    """Rows of one route and method: ``{variants: expected}``."""
    out = []
    for variants, expected in table.items():
        out.append(Row(route, method, (variants,) if isinstance(variants, str) else tuple(variants), expected,
                       **common))
    return out


def page_rows(route: str, table: dict[tuple[str, ...] | str, dict[str, Any]], **common: Any) -> list[Row]:
    """A page that answers GET and POST alike (a POST changes nothing): the same rows for both."""
    return [*rows(route, "get", table, fmt=None, **common), *rows(route, "post", table, fmt=None, **common)]


# --- probes: what a form action changes -------------------------------------------------------------------

def status_of(world: World, obj: Any) -> Any:
    return Resource.objects.filter(pk=obj.pk).values_list("status", flat=True).first()


def notices_on(world: World, obj: Any) -> int:
    return TakedownNotice.objects.filter(resource_id=obj.pk).count()


def downloads_of(world: World, obj: Any) -> int:
    return DownloadEvent.objects.filter(resource_id=obj.pk).count()


def grants_on(world: World, obj: Any) -> int:
    return Grant.objects.filter(resource_id=obj.pk).count()


def favourites_of(world: World, obj: Any) -> int:
    return Favourite.objects.filter(resource_id=obj.pk).count()


def ratings_of(world: World, obj: Any) -> int:
    return Rating.objects.filter(resource_id=obj.pk).count()


def ratings_hidden(world: World, obj: Any) -> int:
    return Rating.objects.filter(comment_status="hidden").count()


def purchase_policies(world: World, obj: Any) -> Any:
    return list(SchoolPurchasePolicy.objects.values_list("school_id", "teacher_allowance", "approval_threshold"))


def teacher_allowances(world: World, obj: Any) -> Any:
    return list(TeacherAllowance.objects.values_list("teacher_id", "amount"))


def purchase_requests_decided(world: World, obj: Any) -> int:
    return PurchaseRequest.objects.exclude(status="pending").count()


def collections_state(world: World, obj: Any) -> Any:
    """Every collection's title and visibility, and every item's place (what a collection form changes)."""
    return (sorted(Collection.objects.values_list("title", "visibility")),
            sorted(CollectionItem.objects.values_list("collection_id", "resource_id", "position", "step")))


def follows_state(world: World, obj: Any) -> Any:
    return sorted(Follow.objects.values_list("user_id", "subject", "query"))


def resource_count(world: World, obj: Any) -> int:
    return Resource.objects.count()


def notice_status(world: World, obj: Any) -> Any:
    return TakedownNotice.objects.filter(pk=obj.pk).values_list("status", flat=True).first()


def ledger_size(world: World, obj: Any) -> int:
    return LedgerTransaction.objects.count()


def negative_terms(world: World, obj: Any) -> int:
    return NegativeTerm.objects.count()
def review_by_of(world: World, obj: Any) -> Any:
    return Resource.objects.filter(pk=obj.pk).values_list("review_by", flat=True).first()


def policy_of(world: World, obj: Any) -> Any:
    return list(ReviewPolicy.objects.values_list("province", "two_person_rule"))


def content_of(world: World, obj: Any) -> Any:
    """A resource's title and its revisions' proposed titles (what an edit changes)."""
    return (Resource.objects.filter(pk=obj.pk).values_list("title", flat=True).first(),
            [r.metadata.get("title") for r in ResourceRevision.objects.filter(resource_id=obj.pk)])


def revision_states(world: World, obj: Any) -> Any:
    return list(ResourceRevision.objects.filter(resource_id=obj.pk).values_list("status", flat=True))


def acceptances(world: World, obj: Any) -> int:
    return CommitmentAcceptance.objects.count()


def commitments(world: World, obj: Any) -> int:
    return ContentCommitment.objects.count()


def approved_enrolments(world: World, obj: Any) -> int:
    return Enrolment.objects.filter(status=Enrolment.Status.APPROVED).count()


# --- bodies ----------------------------------------------------------------------------------------------

def deposit_body(world: World, obj: Any, actor: str) -> dict[str, Any]:
    return {"metadata": json.dumps(METADATA), "rights": json.dumps(RIGHTS),
            "files": [SimpleUploadedFile("a.pdf", pdf_bytes("matrix"))]}


def upload_form(world: World, obj: Any, actor: str) -> dict[str, Any]:
    return {"title": "矩阵上传 有理数 课件", "stage": "初中", "subject": "数学", "resource_type": "课件",
            "language": "zh-Hans", "license": "CC-BY-4.0", "audience": "teachers", "price": "0",
            "files": SimpleUploadedFile("u.pdf", pdf_bytes("upload"))}


def edit_form(world: World, obj: Any, actor: str) -> dict[str, Any]:
    return {"title": "矩阵修改 有理数 课件", "stage": "初中", "subject": "数学", "resource_type": "课件",
            "language": "zh-Hans", "license": "CC-BY-4.0", "audience": "teachers", "price": "0"}


def token_body(world: World, obj: Any, actor: str) -> dict[str, str]:
    if actor == "anonymous":
        return {"username": "nobody", "password": "wrong-password"}
    return {"username": world.users[actor].username, "password": password_of(actor)}


def notice_body(world: World, obj: Any, actor: str) -> dict[str, str]:
    return {"resource": str(obj.pk), "grounds": "copyright", "statement": "侵权"}


# --- the expectation table ----------------------------------------------------------------------------------

# What a role gate answers the anonymous: 401 from the API, the login page from a page (signed-in users
# without the role get 403 from both).
API_DENY = {"anonymous": 401}
PAGE_DENY = {"anonymous": "login"}


def visible(ok: Any, hidden: Any = 404, **gate: Any) -> dict[Any, dict[str, Any]]:
    """The rows of a read of one resource: published ones answer ``ok`` to all, unpublished ones ``ok`` to
    those who may see them and ``hidden`` (what a missing resource gets) to everybody else. ``gate``:
    actors stopped before the resource is looked up (the same answer whatever the resource)."""
    return {
        A_UNPUBLISHED: X(hidden, **{"publisher": ok, "reviewer": ok, **gate}),
        ("A published",): X(ok, **gate),
        B_UNPUBLISHED: X(hidden, **{"far_publisher": ok, "far_reviewer": ok, **gate}),
        ("B published",): X(ok, **gate),
    }


CLAIMANTS = ("publisher", "other_publisher", "far_publisher", "province_admin", "hub_operator", "bureau_operator")


def only(default: Any, names: tuple[str, ...], value: Any, **more: Any) -> dict[str, Any]:
    """``value`` for ``names`` (then ``more``), ``default`` for everybody else."""
    return X(default, **({name: value for name in names} | more))


M: list[Row] = []

# --- exchange API ---
M += rows("api-token", "post", {ANY: X(200, anonymous=401)}, data=token_body)
M += rows("api-me", "get", {ANY: X(200, anonymous=401)})
M += rows("api-logout", "post", {ANY: X(204, anonymous=401)})

# --- catalog API ---
M += rows("api-resources", "get", {ANY: X(200)})
M += rows("api-resources", "get", {ANY: X(200)}, query="mine=1", label="mine")
M += rows("api-resources", "post", {ANY: X(403, **API_DENY, publisher=201, other_publisher=201, far_publisher=201)},
          data=deposit_body, fmt="multipart")
M += rows("api-resource", "get", {**visible(200), ("A revised",): X(200)})
M += rows("api-resource", "get", {k: v for k, v in visible(200).items() if "A published" in k or "A draft" in k},
          query="format=jsonld", label="jsonld")


def publisher_action(ok: Any, conflict: Any, *, ok_states: tuple[str, ...], other: Any, gate: dict[str, Any],
                     b_ok_states: tuple[str, ...] = ("B draft",)) -> dict[Any, dict[str, Any]]:
    """A publisher's action (HasRole(publisher) gate, then the resource, then the edit right): ``ok`` for the
    owner in ``ok_states``, ``conflict`` in the other states; another publisher who may see the resource
    (a published one) gets ``other``, one who may not the missing resource's 404."""
    table: dict[Any, dict[str, Any]] = {}
    for variant in RESOURCE_STATES:
        province = variant[0]
        owner, outsiders = (("publisher", ("other_publisher", "far_publisher")) if province == "A"
                            else ("far_publisher", ("publisher", "other_publisher")))
        states = ok_states if province == "A" else b_ok_states
        published = variant.endswith("published")
        table[(variant,)] = X(403, **gate, **{owner: ok if variant in states else conflict},
                              **{o: other if published else 404 for o in outsiders})
    return table


def revised(table: dict[Any, dict[str, Any]], **owners: Any) -> dict[Any, dict[str, Any]]:
    """``table`` with the owners' cells changed (``{"A published": {"publisher": 202}}`` as keywords by
    variant key) — for the published resources a publisher's edit turns into a revision (202)."""
    out = dict(table)
    for variant, cells in owners.items():
        key = (variant.replace("_", " "),)
        out[key] = {**out[key], **cells}
    return out




def teachers_pass_the_gate(table: dict[Any, dict[str, Any]]) -> dict[Any, dict[str, Any]]:
    """Teachers pass a depositor's gate (they may share as their school): then the lookup hides an unpublished
    resource (404) and the edit right refuses a published one (403: not their lesson, no consent here)."""
    for variant, cells in table.items():
        if not variant[0].endswith(("published", "revised")):
            cells["teacher"] = 404
    return table


# a draft or rejected resource is edited in place (200); a published one through a revision (202)
M += rows("api-resource", "patch", teachers_pass_the_gate(revised(
    publisher_action(200, 409, ok_states=("A draft", "A rejected", "A published"), b_ok_states=("B draft", "B published"),
                     other=403, gate=API_DENY),
    A_published={"publisher": 202}, B_published={"far_publisher": 202})), data={"metadata": {"description": "更新"}})
M += rows("api-resource", "patch", {("A revised",): X(403, **API_DENY, publisher=409, other_publisher=403,
                                                      far_publisher=403)},
          data={"metadata": {"description": "更新"}}, label="revision in review")
M += rows("api-resource-files", "post", teachers_pass_the_gate(publisher_action(
              201, 409, ok_states=("A draft", "A rejected", "A published"), b_ok_states=("B draft", "B published"),
              other=403, gate=API_DENY)),
          data=lambda w, o, a: {"files": [SimpleUploadedFile("b.pdf", pdf_bytes("b"))]}, fmt="multipart")
M += rows("api-resource-file", "delete", teachers_pass_the_gate(revised(
    publisher_action(200, 409, ok_states=("A draft", "A rejected", "A published"), b_ok_states=("B draft", "B published"),
                     other=403, gate=API_DENY),
    A_published={"publisher": 202}, B_published={"far_publisher": 202})))
# province B's publishing organisation has not accepted the content commitment: its submissions are refused
# (403 commitment_required) until one of its publishers accepts it (api-commitment-accept, commitment-accept)
SUBMIT = revised(publisher_action(200, 409, ok_states=("A draft", "A rejected"), other=403, gate=API_DENY),
                 B_draft={"far_publisher": 403})
for _variant, _cells in SUBMIT.items():  # teachers pass the gate (they may share as their school): then the lookup
    if not _variant[0].endswith("published"):
        _cells["teacher"] = 404
M += rows("api-resource-submit", "post", SUBMIT)
# the open revision: for the publisher's members and the province's reviewers; a revision nobody else may know of
M += rows("api-resource-revision", "get", {
    RESOURCE_STATES: X(404, **API_DENY),
    ("A revised",): X(404, **API_DENY, publisher=200, reviewer=200),
})
M += rows("api-resource-revision", "delete", {
    **publisher_action(404, 404, ok_states=(), other=403, gate=API_DENY),
    ("A revised",): X(403, **API_DENY, publisher=200),
})
M += rows("api-resource-review", "get", {
    A_UNPUBLISHED: X(404, **API_DENY, publisher=200, reviewer=200),
    ("A published", "A revised"): X(403, **API_DENY, publisher=200, reviewer=200),
    B_UNPUBLISHED: X(404, **API_DENY, far_publisher=200, far_reviewer=200),
    ("B published",): X(403, **API_DENY, far_publisher=200, far_reviewer=200),
})
M += rows("api-resource-history", "get", {**visible(200), ("A revised",): X(200)})


def rereview(ok: Any, conflict: Any, *, gate: dict[str, Any], refused: Any = 403,
             hidden: Any = 404) -> dict[Any, dict[str, Any]]:
    """Re-review of a published resource: the province's reviewers (reviewer role gate, then the resource,
    then the review right); the other province's reviewer is refused on a resource it sees."""
    table: dict[Any, dict[str, Any]] = {}
    for variant in RESOURCE_STATES:
        reviewer, outsider = ("reviewer", "far_reviewer") if variant[0] == "A" else ("far_reviewer", "reviewer")
        published = variant.endswith("published")
        table[(variant,)] = X(403, **gate, **{reviewer: ok if published else conflict,
                                               outsider: refused if published else hidden})
    return table


ALL_PASS = {code: "pass" for code in ("political", "orientation", "scientific", "applicability", "conformity",
                                      "timeliness", "public_welfare")}
M += rows("api-resource-rereview", "post", rereview(200, 409, gate=API_DENY), data={"dimensions": ALL_PASS})
REVIEWERS_AND_ADMINS = ("reviewer", "far_reviewer", "province_admin")
M += rows("api-review-due", "get", {ANY: only(403, REVIEWERS_AND_ADMINS, 200, **API_DENY)})
M += rows("api-review-policy", "get", {ANY: only(403, REVIEWERS_AND_ADMINS, 200, **API_DENY)})
M += rows("api-review-policy", "put", {ANY: X(403, **API_DENY, province_admin=200)},
          data={"two_person_rule": True})
M += rows("api-commitment", "get", {ANY: X(200)})
COMMITMENT_EDITORS = ("hub_operator", "bureau_operator", "superuser")
M += rows("api-commitment", "post", {ANY: only(403, COMMITMENT_EDITORS, 201, **API_DENY)},
          data={"text_zh": "新版承诺书", "text_en": "New commitment"})
M += rows("api-commitment-accept", "post", {ANY: only(403, ("publisher", "other_publisher", "far_publisher"), 200,
                                                      **API_DENY)}, data={"version": 1})


def reviewer_action(ok: Any, conflict: Any, *, gate: dict[str, Any], outsider_published: Any = 403,
                    others: Any = 403) -> dict[Any, dict[str, Any]]:
    """A reviewer's decision on a submitted resource (reviewer role gate, then the resource, then the review
    right of its province)."""
    table: dict[Any, dict[str, Any]] = {}
    for variant in (*RESOURCE_STATES, "B submitted"):
        reviewer, outsider = ("reviewer", "far_reviewer") if variant[0] == "A" else ("far_reviewer", "reviewer")
        published = variant.endswith("published")
        table[(variant,)] = X(others, **gate, **{reviewer: ok if variant.endswith("submitted") else conflict,
                                                 outsider: outsider_published if published else 404})
    return table


M += rows("api-resource-approve", "post", reviewer_action(200, 409, gate=API_DENY))
M += rows("api-resource-reject", "post", reviewer_action(200, 409, gate=API_DENY), data={"reason": "版权信息不完整"})


def publish_or_withdraw(ok_state: str, b_ok_state: str, *, gate: dict[str, Any], ok: Any, conflict: Any,
                        refused: Any, others: Any = 403) -> dict[Any, dict[str, Any]]:
    """Publish and withdraw: the owner publisher and the province's reviewers act; the other publishers and
    reviewers are refused on a resource they see (a published one) and get 404 on one they do not."""
    table: dict[Any, dict[str, Any]] = {}
    for variant in RESOURCE_STATES:
        insiders, outsiders = ((("publisher", "reviewer"), ("other_publisher", "far_publisher", "far_reviewer"))
                               if variant[0] == "A" else
                               (("far_publisher", "far_reviewer"), ("publisher", "other_publisher", "reviewer")))
        target = ok_state if variant[0] == "A" else b_ok_state
        published = variant.endswith("published")
        table[(variant,)] = X(others, **gate, **{i: ok if variant == target else conflict for i in insiders},
                              **{o: refused if published else 404 for o in outsiders})
    return table


M += rows("api-resource-publish", "post", publish_or_withdraw("A approved", "B approved", gate=API_DENY, ok=200,
                                                              conflict=409, refused=403))
M += rows("api-resource-withdraw", "post", publish_or_withdraw("A published", "B published", gate=API_DENY, ok=200,
                                                               conflict=409, refused=403))
M += rows("api-resource-favourite", "put", {
    **visible(200, **API_DENY),
    A_UNPUBLISHED: X(404, **API_DENY, publisher=409, reviewer=409),  # seen, but only published ones are kept
    B_UNPUBLISHED: X(404, **API_DENY, far_publisher=409, far_reviewer=409),
})
M += rows("api-resource-favourite", "delete", visible(200, **API_DENY))
M += rows("api-favourites", "get", {ANY: X(200, **API_DENY)})
# ratings: anyone who sees the resource reads them; teachers rate published ones; reviewers of the province moderate
M += rows("api-resource-ratings", "get", visible(200))
M += rows("api-resource-ratings", "put", {
    ("A published", "B published"): X(403, **API_DENY, teacher=200),
    A_UNPUBLISHED: X(404, **API_DENY, publisher=403, reviewer=403),
    B_UNPUBLISHED: X(404, **API_DENY, far_publisher=403, far_reviewer=403),
}, data={"stars": 4, "comment": "好用"})
M += rows("api-rating-moderate", "post", {"unknown rating": X(403, **API_DENY, reviewer=404, far_reviewer=404)},
          data={"action": "hide", "reason": "广告"})
# remix: publishers (and teachers sharing as their school) derive from what decide(derive) allows; lineage for all
M += rows("api-resource-remix", "post", {
    ("A published", "B published"): X(403, **API_DENY, publisher=201, other_publisher=201, far_publisher=201),
    ("A draft", "A submitted", "A rejected", "A approved"): X(403, **API_DENY, publisher=409, other_publisher=404,
                                                               far_publisher=404, teacher=404),
    ("A withdrawn",): X(403, **API_DENY, publisher=410, other_publisher=404, far_publisher=404, teacher=404),
    B_UNPUBLISHED: X(403, **API_DENY, far_publisher=409, publisher=404, other_publisher=404, teacher=404),
}, data={})
M += rows("api-resource-lineage", "get", visible(200))
M += rows("api-school-sharing", "get", {ANY: X(403, **API_DENY, school_admin=200)})
M += rows("api-school-sharing", "put", {ANY: X(403, **API_DENY, school_admin=200)},
          data={"teachers_may_share": False})
M += rows("api-publisher-feedback", "get", {ANY: X(403, **API_DENY, publisher=200, other_publisher=200,
                                                   far_publisher=200)})
M += rows("api-review-queue", "get", {ANY: X(403, **API_DENY, reviewer=200, far_reviewer=200)})
M += rows("api-vocabularies", "get", {ANY: X(200)})
# the index holds published resources only: searching finds no unpublished one (the leak check reads the body)
M += rows("api-search", "get", {ANY: X(200)}, query="q=有理数 课件")
M += rows("api-search-suggest", "get", {ANY: X(200)}, query="q=有理")
M += rows("api-browse", "get", {ANY: X(200)}, query="stage=初中&subject=数学")

# --- licensing API: decisions, rights, downloads ---
M += rows("api-resource-access", "get", {**visible(200), ("A priced",): X(200)})
M += rows("api-resource-download", "post", {
    ("A published",): X(200, **API_DENY, superuser=403),  # open licence for node roles; no role, no download
    ("B published",): X(200, **API_DENY, superuser=403, publisher_member=403),  # own_resource covers members
    A_UNPUBLISHED[:-1]: X(404, **API_DENY, publisher=409, reviewer=409),  # decide(): not_published
    ("A withdrawn",): X(404, **API_DENY, publisher=410, reviewer=410),  # decide(): withdrawn
    B_UNPUBLISHED: X(404, **API_DENY, far_publisher=409, far_reviewer=409),
    # priced, province A only, free for rural schools: 402 purchase_required; 403 outside_territory (province B
    # and the hub's 110000), audience_restricted (no role); the publisher's members: own_resource
    ("A priced",): X(402, **API_DENY, publisher=200, publisher_member=200, far_publisher=403, far_reviewer=403,
                     hub_operator=403, superuser=403),
})
M += rows("api-resource-rights", "get", {**visible(200), ("A priced",): X(200)})
M += rows("api-resource-attribution", "get", visible(200))
M += rows("api-resource-rights-check", "get", {
    A_UNPUBLISHED: X(403, **API_DENY, publisher=200, reviewer=200, other_publisher=404, far_publisher=404,
                     far_reviewer=404),
    ("A published",): X(403, **API_DENY, publisher=200, reviewer=200),
    B_UNPUBLISHED: X(403, **API_DENY, far_publisher=200, far_reviewer=200, publisher=404, other_publisher=404,
                     reviewer=404),
    ("B published",): X(403, **API_DENY, far_publisher=200, far_reviewer=200),
})
M += rows("api-licenses", "get", {ANY: X(200)})

# --- pre-review API: findings for the province's reviewers; the local negative list and the re-check report for
# province administrators; re-check items for reviewers (objects that do not exist here: the gate, then the lookup)
PRE_REVIEW = {
    A_UNPUBLISHED: X(403, **API_DENY, far_reviewer=404),
    ("A published",): X(403, **API_DENY, reviewer=200),
    B_UNPUBLISHED: X(403, **API_DENY, reviewer=404, far_reviewer=200),
    ("B published",): X(403, **API_DENY, far_reviewer=200),
}
PRE_REVIEW[A_UNPUBLISHED]["reviewer"] = 200
M += rows("api-resource-prereview", "get", PRE_REVIEW)
M += rows("api-resource-prereview", "post", PRE_REVIEW)
M += rows("api-negative-list-local", "get", {ANY: only(403, ("province_admin",), 200, **API_DENY)})
M += rows("api-negative-list-local", "post", {ANY: only(403, ("province_admin",), 201, **API_DENY)},
          data={"term": "矩阵禁语", "category": "other", "severity": "hard"})
M += rows("api-negative-term-local", "patch", {"unknown entry": only(403, ("province_admin",), 404, **API_DENY)},
          data={"active": False})
M += rows("api-recheck-queue", "get", {ANY: X(403, **API_DENY, reviewer=200, far_reviewer=200)})
M += rows("api-recheck-resolve", "post", {"unknown item": X(403, **API_DENY, reviewer=404, far_reviewer=404)},
          data={"decision": "keep", "note": "语境正当"})
M += rows("api-recheck-report", "get", {ANY: only(403, ("province_admin",), 200, **API_DENY)})
M += rows("api-recheck-report-detail", "get", {"unknown run": only(403, ("province_admin",), 404, **API_DENY)})

# --- licensing API: grants and vouchers ---
M += rows("api-resource-grants", "post", {
    ("A priced",): X(403, **API_DENY, teacher=201, school_admin=201),
    ("A published", "B published"): X(403, **API_DENY, teacher=409, school_admin=409),  # open: already_entitled
    (*A_UNPUBLISHED, *B_UNPUBLISHED): X(403, **API_DENY, teacher=404, school_admin=404),
}, data={"scope": "personal"})
M += rows("api-grants", "get", {ANY: X(200, **API_DENY)})
M += rows("api-vouchers-balance", "get", {ANY: X(403, **API_DENY, teacher=200, school_admin=200)})
M += rows("api-voucher-accounts", "get", {ANY: X(403, **API_DENY, school_admin=200, province_admin=200)})
M += rows("api-voucher-account", "get", {
    "A account": X(403, **API_DENY, school_admin=200, province_admin=200),
    "B account": X(403, **API_DENY, school_admin=404, province_admin=404),
})
M += rows("api-vouchers-fund", "post", {
    "A school": X(403, **API_DENY, province_admin=201),
    "B school": X(403, **API_DENY),
}, data=lambda w, o, a: {"school": o.pk, "per_student": 2})

# --- licensing API: the school's purchase policy, allowances and purchase requests (school administrators) ---
SCHOOL_ADMIN_ONLY = X(403, **API_DENY, school_admin=200)
M += rows("api-school-policy", "get", {ANY: SCHOOL_ADMIN_ONLY})
M += rows("api-school-policy", "put", {ANY: SCHOOL_ADMIN_ONLY}, data={"teacher_allowance": 10,
                                                                     "approval_threshold": None})
M += rows("api-teacher-allowance", "put", {"A teacher": SCHOOL_ADMIN_ONLY}, data={"amount": 7},
          kwargs=lambda w, o: {"user_id": w.users["teacher"].pk})
M += rows("api-teacher-allowance", "put", {"unknown user": X(403, **API_DENY, school_admin=400)}, data={"amount": 7})
M += rows("api-purchase-requests", "get", {ANY: X(403, **API_DENY, teacher=200, school_admin=200)})
M += rows("api-purchase-request-decide", "post", {"unknown request": X(403, **API_DENY, school_admin=404)},
          data={"decision": "approve"})

# --- licensing API: takedowns (a notice names its resource in the body) ---
M += rows("api-takedowns", "get", {ANY: X(200, **API_DENY)})
M += rows("api-takedowns", "post", {
    ("A published", "B published"): only(403, CLAIMANTS, 201, **API_DENY),
    # unpublished: not found for everybody; its own publisher learns it is already withdrawn
    ("A draft", "A submitted", "A rejected", "A approved", *B_UNPUBLISHED): only(403, CLAIMANTS, 404, **API_DENY),
    ("A withdrawn",): only(403, CLAIMANTS, 404, **API_DENY, publisher=409),
}, data=notice_body)
# notices are seen by their filer, the reviewers of the resource's province, and hub operators (all notices)
M += rows("api-takedown", "get", {
    "A notice": X(404, **API_DENY, other_publisher=200, reviewer=200, hub_operator=200, bureau_operator=200),
    "B notice": X(404, **API_DENY, far_publisher=200, far_reviewer=200, hub_operator=200, bureau_operator=200),
})
for decision, body in (("uphold", {}), ("reject", {"note": "已授权"})):
    # the province's reviewers decide; hub operators only at the hub (national takedowns), not on a province node
    M += rows(f"api-takedown-{decision}", "post", {
        "A notice": X(403, **API_DENY, reviewer=200, far_reviewer=404),
        "B notice": X(403, **API_DENY, far_reviewer=200, reviewer=404),
    }, data=body)

# --- licensing API: settlement ---
SETTLEMENT_VIEWERS = ("publisher", "other_publisher", "far_publisher", "province_admin", "hub_operator",
                      "bureau_operator")
for name in ("api-settlement", "api-settlement-csv"):
    M += rows(name, "get", {ANY: only(403, SETTLEMENT_VIEWERS, 200, **API_DENY)})
M += rows("api-settlement", "get", {ANY: X(403, **API_DENY, far_publisher=200, hub_operator=200,
                                           bureau_operator=200)},
          query=lambda w: f"publisher={w.orgs['far_publisher'].pk}", label="province B publisher")
M += rows("api-settlement-close", "post", {ANY: only(403, ("province_admin", "hub_operator", "bureau_operator"), 200,
                                                     **API_DENY)},
          data=lambda w, o, a: {"month": f"{timezone.localdate().replace(day=1) - timedelta(days=1):%Y-%m}"})

# --- federation operator API (objects that do not exist here: the role gate, then the lookup) ---
OPERATORS = ("province_admin", "hub_operator", "bureau_operator")
HUB_OPERATORS = ("hub_operator", "bureau_operator")
M += rows("api-federation-peers", "get", {ANY: only(403, OPERATORS, 200, **API_DENY)})
M += rows("api-federation-peer-pull", "post", {"unknown peer": only(403, OPERATORS, 404, **API_DENY)})
M += rows("api-federation-identity", "get", {ANY: only(403, OPERATORS, 200, **API_DENY)})
M += rows("api-federation-tree", "get", {ANY: only(403, OPERATORS, 200, **API_DENY)})
M += rows("api-federation-enrolments", "get", {ANY: only(403, HUB_OPERATORS, 200, **API_DENY)})
M += rows("api-federation-enrolment-approve", "post", {"unknown enrolment": only(403, HUB_OPERATORS, 404,
                                                                                 **API_DENY)},
          data={"fingerprint": "SHA256:x"})
M += rows("api-federation-node-revoke", "post", {"unknown node": only(403, HUB_OPERATORS, 404, **API_DENY)},
          data={"reason": "key compromised"})
M += rows("api-federation-reinstatements", "post", {"not a hub": only(403, HUB_OPERATORS, 404, **API_DENY)},
          data={"origin": "cn-11", "record_id": "0b7c3f2e-5d1a-4c0e-9f1b-2a3c4d5e6f70", "note": "复核后恢复"})
# the national negative list is kept at the hub: on a province node it does not exist, even for hub operators
M += rows("api-federation-negative-list", "get", {"not a hub": only(403, HUB_OPERATORS, 404, **API_DENY)})
M += rows("api-federation-negative-list", "post", {"not a hub": only(403, HUB_OPERATORS, 404, **API_DENY)},
          data={"term": "矩阵禁语", "severity": "hard"})
M += rows("api-federation-negative-term", "patch", {"not a hub": only(403, HUB_OPERATORS, 404, **API_DENY)},
          data={"active": False})

# --- web pages ---
M += page_rows("home", {ANY: X(302)})
M += page_rows("search", {ANY: X(200)}, query="q=有理数 课件")
M += page_rows("browse", {ANY: X(200)}, query="stage=初中&subject=数学")
M += page_rows("resource-page", {**visible(200), ("A priced",): X(200), ("A revised",): X(200)})
M += rows("resource-history", "get", {**visible(200), ("A revised",): X(200)}, fmt=None)
M += rows("file-preview", "get", {
    # a published resource is previewed on licensing's decision (audience: node roles; the publisher's members)
    **visible(200),
    ("A published",): X(200, anonymous=403, superuser=403),
    ("B published",): X(200, anonymous=403, superuser=403, publisher_member=403),
}, fmt=None)
# the cover and the first page's thumbnail follow the preview decision (a priced resource previews that page)
for route in ("resource-cover", "file-page-image"):
    M += rows(route, "get", {
        **visible(200),
        ("A published",): X(200, anonymous=403, superuser=403),
        ("B published",): X(200, anonymous=403, superuser=403, publisher_member=403),
        ("A priced",): X(200, anonymous=403, superuser=403, far_publisher=403, far_reviewer=403, hub_operator=403),
    }, fmt=None)
M += rows("resource-download", "post", {
    ("A published",): X("done", **PAGE_DENY, superuser="refused"),
    ("B published",): X("done", **PAGE_DENY, superuser="refused", publisher_member="refused"),
    A_UNPUBLISHED: X(404, **PAGE_DENY, publisher="refused", reviewer="refused"),
    B_UNPUBLISHED: X(404, **PAGE_DENY, far_publisher="refused", far_reviewer="refused"),
    ("A priced",): X("refused", **PAGE_DENY, publisher="done", publisher_member="done"),
}, fmt=None, probe=downloads_of)
M += rows("resource-purchase", "post", {
    ("A priced",): X(403, **PAGE_DENY, teacher="done", school_admin="done"),
    ("A published", "B published"): X(403, **PAGE_DENY, teacher="refused", school_admin="refused"),
    (*A_UNPUBLISHED, *B_UNPUBLISHED): X(403, **PAGE_DENY, teacher=404, school_admin=404),
}, fmt=None, data={"scope": "personal"}, probe=grants_on)
M += rows("takedown-new", "get", {
    ("A published", "B published"): only(403, CLAIMANTS, 200, **PAGE_DENY),
    A_UNPUBLISHED: only(403, CLAIMANTS, 404, **PAGE_DENY, publisher=200),
    B_UNPUBLISHED: only(403, CLAIMANTS, 404, **PAGE_DENY, far_publisher=200),
}, fmt=None)
M += rows("takedown-new", "post", {
    ("A published", "B published"): only(403, CLAIMANTS, "done", **PAGE_DENY),
    A_UNPUBLISHED: only(403, CLAIMANTS, 404, **PAGE_DENY, publisher="refused"),
    B_UNPUBLISHED: only(403, CLAIMANTS, 404, **PAGE_DENY, far_publisher="refused"),
}, fmt=None, data={"grounds": "copyright", "statement": "侵权"}, probe=notices_on)
M += page_rows("my-downloads", {ANY: X(200, **PAGE_DENY)})
M += page_rows("my-favourites", {ANY: X(200, **PAGE_DENY)})
M += rows("resource-rate", "post", {
    ("A published", "B published"): X(403, **PAGE_DENY, teacher="done"),
    (*A_UNPUBLISHED, *B_UNPUBLISHED): X(403, **PAGE_DENY, teacher=404),
}, fmt=None, data={"stars": "5", "comment": "好用"}, probe=ratings_of)
M += rows("resource-remix", "post", {
    ("A published", "B published"): X(403, **PAGE_DENY, publisher="done", other_publisher="done",
                                      far_publisher="done", teacher="refused"),
    A_UNPUBLISHED: X(403, **PAGE_DENY, publisher="refused", other_publisher=404, far_publisher=404, teacher=404),
    B_UNPUBLISHED: X(403, **PAGE_DENY, far_publisher="refused", publisher=404, other_publisher=404, teacher=404),
}, fmt=None, probe=resource_count)
M += rows("rating-moderate", "post", {"unknown rating": X(403, **PAGE_DENY, reviewer=404, far_reviewer=404)},
          fmt=None, data={"action": "hide", "reason": "广告"}, probe=ratings_hidden)
M += page_rows("publisher-feedback", {ANY: X(403, **PAGE_DENY, publisher=200, other_publisher=200,
                                             far_publisher=200)})
M += rows("favourite-toggle", "post", {
    ("A published", "B published"): X("done", **PAGE_DENY),
    A_UNPUBLISHED: X(404, **PAGE_DENY, publisher="refused", reviewer="refused"),
    B_UNPUBLISHED: X(404, **PAGE_DENY, far_publisher="refused", far_reviewer="refused"),
}, fmt=None, data={"action": "add"}, probe=favourites_of)
M += page_rows("my-school", {ANY: X(403, **PAGE_DENY, teacher=200, school_admin=200)})
M += rows("school-policy", "post", {ANY: X(403, **PAGE_DENY, school_admin="done")}, fmt=None,
          data={"teacher_allowance": "9", "approval_threshold": "3"}, probe=purchase_policies)
M += rows("teacher-allowance", "post", {ANY: X(403, **PAGE_DENY, school_admin="done")}, fmt=None,
          data=lambda w, o, a: {"teacher": w.users["teacher"].pk, "amount": "7"}, probe=teacher_allowances)
M += rows("purchase-request-decide", "post", {"unknown request": X(403, **PAGE_DENY, school_admin=404)}, fmt=None,
          data={"decision": "approve"}, probe=purchase_requests_decided)
PUBLISHERS = ("publisher", "other_publisher", "far_publisher")
M += page_rows("publisher-resources", {ANY: only(403, PUBLISHERS, 200, **PAGE_DENY)})
M += page_rows("publisher-stats", {ANY: only(403, PUBLISHERS, 200, **PAGE_DENY)})
M += rows("resource-upload", "get", {ANY: only(403, PUBLISHERS, 200, **PAGE_DENY)}, fmt=None)
M += rows("resource-upload", "post", {ANY: only(403, PUBLISHERS, "done", **PAGE_DENY)}, fmt=None,
          data=upload_form, probe=resource_count)
M += rows("resource-submit", "post", revised(
    publisher_action("done", "refused", ok_states=("A draft", "A rejected"), other="refused", gate=PAGE_DENY),
    B_draft={"far_publisher": "refused"}), fmt=None, probe=status_of)  # no commitment accepted in province B
M += rows("resource-publish", "post", publish_or_withdraw("A approved", "B approved", gate=PAGE_DENY, ok="done",
                                                          conflict="refused", refused="refused"),
          fmt=None, probe=status_of)
M += rows("resource-edit", "get", {**publisher_action(200, 200, ok_states=(), other=403, gate=PAGE_DENY),
                                    ("A revised",): X(403, **PAGE_DENY, publisher=200)}, fmt=None)
M += rows("resource-edit", "post", {
    **publisher_action("done", "refused", ok_states=("A draft", "A rejected", "A published"),
                       b_ok_states=("B draft", "B published"), other=403, gate=PAGE_DENY),
    ("A revised",): X(403, **PAGE_DENY, publisher="refused"),  # the revision is in review: no edits
}, fmt=None, data=edit_form, probe=content_of)
M += rows("revision-cancel", "post", {
    **publisher_action("refused", "refused", ok_states=(), other="refused", gate=PAGE_DENY),
    ("A revised",): X(403, **PAGE_DENY, publisher="done", other_publisher="refused", far_publisher="refused"),
}, fmt=None, probe=revision_states)
M += rows("commitment-accept", "get", {ANY: only(403, PUBLISHERS, 200, **PAGE_DENY)}, fmt=None)
# the A organisations accepted it already (nothing changes); province B's publisher accepts it now
M += rows("commitment-accept", "post", {ANY: only(403, PUBLISHERS, "refused", **PAGE_DENY, far_publisher="done")},
          fmt=None, data={"version": "1"}, probe=acceptances)
M += rows("resource-withdraw", "post", publisher_action(
    "done", "refused", ok_states=("A published",), b_ok_states=("B published",), other="refused",
    gate=PAGE_DENY), fmt=None, probe=status_of)
M += page_rows("review-queue", {ANY: X(403, **PAGE_DENY, reviewer=200, far_reviewer=200)})
M += page_rows("review-detail", {
    **{variant: table for variant, table in reviewer_action(200, 200, gate=PAGE_DENY).items()
       if variant != ("B submitted",)},
    ("A revised",): X(403, **PAGE_DENY, reviewer=200),
})
M += rows("review-rereview", "post", rereview("done", "refused", gate=PAGE_DENY), fmt=None,
          data={f"dim_{code}": "pass" for code in ALL_PASS}, probe=review_by_of)
PREVIEWERS = (*PUBLISHERS, "reviewer", "far_reviewer")  # the page's role gate: then the resource, its revision
M += rows("revision-file-preview", "get", {
    RESOURCE_STATES: only(403, PREVIEWERS, 404, **PAGE_DENY),  # no revision, or not theirs to see
    ("A revised",): only(403, PREVIEWERS, 404, **PAGE_DENY) | {"publisher": 200, "reviewer": 200},
}, fmt=None)
M += page_rows("review-due", {ANY: only(403, REVIEWERS_AND_ADMINS, 200, **PAGE_DENY)})
M += rows("review-policy", "get", {ANY: only(403, REVIEWERS_AND_ADMINS, 200, **PAGE_DENY)}, fmt=None)
M += rows("review-policy", "post", {ANY: only(403, REVIEWERS_AND_ADMINS, "refused", **PAGE_DENY,
                                              province_admin="done")},
          fmt=None, data={"two_person_rule": "on"}, probe=policy_of)
M += rows("review-approve", "post", reviewer_action("done", "refused", gate=PAGE_DENY), fmt=None,
          data={f"dim_{code}": "pass" for code in ALL_PASS}, probe=status_of)
M += rows("review-reject", "post", reviewer_action("done", "refused", gate=PAGE_DENY), fmt=None,
          data={"reason": "版权信息不完整"}, probe=status_of)
TAKEDOWN_VIEWERS = (*CLAIMANTS, "reviewer", "far_reviewer")
M += page_rows("takedown-list", {ANY: only(403, TAKEDOWN_VIEWERS, 200, **PAGE_DENY)})
M += rows("takedown-detail", "get", {
    "A notice": only(403, TAKEDOWN_VIEWERS, 404, **PAGE_DENY, other_publisher=200, reviewer=200,
                     hub_operator=200, bureau_operator=200),
    "B notice": only(403, TAKEDOWN_VIEWERS, 404, **PAGE_DENY, far_publisher=200, far_reviewer=200,
                     hub_operator=200, bureau_operator=200),
}, fmt=None)
M += rows("takedown-detail", "post", {
    "A notice": only(403, TAKEDOWN_VIEWERS, 404, **PAGE_DENY, reviewer="done", other_publisher="refused",
                     hub_operator="refused", bureau_operator="refused"),
    "B notice": only(403, TAKEDOWN_VIEWERS, 404, **PAGE_DENY, far_reviewer="done", far_publisher="refused",
                     hub_operator="refused", bureau_operator="refused"),
}, fmt=None, data={"decision": "uphold", "note": "侵权属实"}, probe=notice_status)
M += page_rows("school-list", {ANY: X(403, **PAGE_DENY, school_admin=200, province_admin=200)})
M += rows("school-detail", "get", {
    "A school": X(403, **PAGE_DENY, school_admin=200, province_admin=200),
    "B school": X(403, **PAGE_DENY, school_admin=404, province_admin=404),
}, fmt=None)
M += rows("school-detail", "post", {
    "A school": X(403, **PAGE_DENY, province_admin="done"),
    "B school": X(403, **PAGE_DENY, school_admin=404, province_admin=404),
}, fmt=None, data={"action": "fund", "per_student": "1"}, probe=ledger_size)
M += page_rows("recheck-queue", {ANY: X(403, **PAGE_DENY, reviewer=200, far_reviewer=200)})
M += rows("recheck-resolve", "post", {"unknown item": X(403, **PAGE_DENY, reviewer=404, far_reviewer=404)},
          fmt=None, data={"decision": "keep", "note": "语境正当"})
M += rows("province-negative-list", "get", {ANY: only(403, ("province_admin",), 200, **PAGE_DENY)}, fmt=None)
M += rows("province-negative-list", "post", {ANY: only(403, ("province_admin",), "done", **PAGE_DENY)}, fmt=None,
          data={"term": "矩阵页面禁语", "category": "other", "severity": "soft"}, probe=negative_terms)
M += rows("province-negative-term", "post", {"unknown entry": only(403, ("province_admin",), 404, **PAGE_DENY)},
          fmt=None, data={"action": "retire"})
M += page_rows("recheck-report", {ANY: only(403, ("province_admin",), 200, **PAGE_DENY)})
M += page_rows("recheck-run", {"unknown run": only(403, ("province_admin",), 404, **PAGE_DENY)})
M += rows("hub-negative-list", "get", {"not a hub": only(403, HUB_OPERATORS, 404, **PAGE_DENY)}, fmt=None)
M += rows("hub-negative-list", "post", {"not a hub": only(403, HUB_OPERATORS, 404, **PAGE_DENY)}, fmt=None,
          data={"term": "矩阵页面禁语"})
M += rows("hub-negative-term", "post", {"not a hub": only(403, HUB_OPERATORS, 404, **PAGE_DENY)}, fmt=None,
          data={"action": "retire"})
M += page_rows("hub-dashboard", {ANY: only(403, HUB_OPERATORS, 200, **PAGE_DENY)})
M += page_rows("hub-stats", {ANY: only(403, HUB_OPERATORS, 200, **PAGE_DENY)})
M += rows("commitment-edit", "get", {ANY: only(403, COMMITMENT_EDITORS, 200, **PAGE_DENY)}, fmt=None)
M += rows("commitment-edit", "post", {ANY: only(403, COMMITMENT_EDITORS, "done", **PAGE_DENY)}, fmt=None,
          data={"text_zh": "新版承诺书", "text_en": "New commitment"}, probe=commitments)
M += rows("enrolment-approve", "post", {"unknown node": only(403, HUB_OPERATORS, "refused", **PAGE_DENY)},
          fmt=None, data={"fingerprint": "SHA256:x"}, probe=approved_enrolments)

# --- accounts, language, API schema (Django's and drf-spectacular's views) ---
M += rows("login", "get", {ANY: X(200)}, fmt=None)
M += rows("login", "post", {ANY: X(200)}, fmt=None, data={"username": "nobody", "password": "wrong"})
M += rows("login", "put", {ANY: X(200)}, fmt=None)  # Django's form views take PUT as POST (with no form data)
M += rows("logout", "post", {ANY: X(302)}, fmt=None)
M += rows("password_change", "get", {ANY: X(200, **PAGE_DENY)}, fmt=None)
M += rows("password_change", "post", {ANY: X(200, **PAGE_DENY)}, fmt=None, data={"old_password": "wrong"})
M += rows("password_change", "put", {ANY: X(200, **PAGE_DENY)}, fmt=None)
M += rows("password_change_done", "get", {ANY: X(200, **PAGE_DENY)}, fmt=None)
M += rows("password_reset", "get", {ANY: X(200)}, fmt=None)
M += rows("password_reset", "post", {ANY: X(302)}, fmt=None, data={"email": "nobody@example.invalid"})
M += rows("password_reset", "put", {ANY: X(200)}, fmt=None)
M += rows("password_reset_done", "get", {ANY: X(200)}, fmt=None)
M += rows("password_reset_confirm", "get", {ANY: X(200)}, fmt=None)
M += rows("password_reset_confirm", "post", {ANY: X(200)}, fmt=None)
M += rows("password_reset_confirm", "put", {ANY: X(200)}, fmt=None)
M += rows("password_reset_complete", "get", {ANY: X(200)}, fmt=None)
M += page_rows("set_language", {ANY: X(302)}, data={"language": "en", "next": "/search"})
M += rows("api-schema", "get", {ANY: X(200)})
M += rows("api-docs", "get", {ANY: X(200)})

# --- machine endpoints ---
M += rows("healthz", "get", {ANY: X(200)})
M += rows("readyz", "get", {ANY: X(200)})
M += rows("metrics", "get", {ANY: X(200)})
M += rows("oai", "get", {ANY: X(200)}, query="verb=Identify")
M += rows("oai", "post", {ANY: X(200)}, fmt=None, data={"verb": "Identify"})
M += rows("well-known-exchange-node", "get", {ANY: X(200)})
# a node-signed link is a bearer link: whoever holds it gets the file while its user may download it
M += rows("licensing-file", "get", {"link A published": X(200), "bad link": X(403)})
# once the resource is withdrawn the link is dead (410); the refusal names the resource the link was issued for
M += rows("licensing-file", "get", {"link A withdrawn": X(410)}, may_reveal=True)
# the protocol endpoints answer signed requests of certified nodes only; a browser's session counts for nothing
for name, method in (("federation-changes", "get"), ("federation-poke", "post"), ("federation-file", "get"),
                     ("federation-receipts", "post"), ("federation-takedowns", "post"),
                     ("federation-takedown-decision", "post"), ("federation-revocations", "get"),
                     ("federation-revocations", "post"), ("federation-certificate", "post"),
                     ("federation-negative-list", "get"), ("federation-negative-list", "post"),
                     ("federation-nodes", "get")):
    M += rows(name, method, {ANY: X(401)})
# a parent's protocol endpoints do not exist on a node that certifies nobody (this one has no certificate)
for name, method in (("federation-enrolments", "post"), ("federation-enrolment", "get"),
                     ("federation-certificates-renew", "post")):
    M += rows(name, method, {ANY: X(404)})

# --- the admin site (Django's; staff only): the superuser sees the database as it is ---
ADMIN = X("login", superuser=200)
M += rows("admin:index", "get", {ANY: ADMIN}, fmt=None, may_reveal=True)
M += rows("admin:catalog_resource_changelist", "get", {ANY: ADMIN}, fmt=None, may_reveal=True)
M += rows("admin:catalog_resource_change", "get", {"A draft": ADMIN}, fmt=None, may_reveal=True,
          kwargs=lambda w, o: {"object_id": o.pk})


# --- teacher spaces: 备课包 (collections, their package zip) and 新资源 (follows, the feed, its Atom form) ---
SPACE = ("teacher", "school_admin")
COLLECTIONS = ("private collection", "school collection", "public collection")


def collection_rows(private: Any, school: Any, public: Any, **gate: Any) -> dict[Any, dict[str, Any]]:
    """One row per collection: ``private`` is the teacher's own, ``school`` the teacher's shared with the
    school (the school admin is a colleague), ``public`` the school admin's public one — each a dict of cells."""
    return {"private collection": X(**private, **gate), "school collection": X(**school, **gate),
            "public collection": X(**public, **gate)}


def cells(default: Any, **named: Any) -> dict[str, Any]:
    return {"default": default, **named}


def item_body(world: World, obj: Any, actor: str) -> dict[str, str]:
    return {"resource": str(world.objects["A published"].pk), "step": "小结"}


def order_body(world: World, obj: Any, actor: str) -> dict[str, Any]:
    return {"order": [{"resource": str(r), "step": "导入"}
                      for r in obj.items.order_by("-position").values_list("resource_id", flat=True)]}


def first_item(world: World, obj: Any) -> dict[str, Any]:
    return {"collection_id": obj.pk, "item_id": obj.items.order_by("position").first().pk}


M += rows("api-collections", "get", {ANY: only(403, SPACE, 200, **API_DENY)})
M += rows("api-collections", "get", {ANY: only(403, SPACE, 200, **API_DENY)}, query="shared=1", label="shared")
M += rows("api-collections", "post", {ANY: only(403, SPACE, 201, **API_DENY)}, data={"title": "矩阵备课包"})
# a package zip's import: teachers only; an empty body is refused as input (the guards are in test_packages)
M += rows("api-collections-import", "post", {ANY: only(403, SPACE, 400, **API_DENY)}, data={}, fmt="multipart")
# the superuser holds every object right (django-guardian): it sees and may change any collection
M += rows("api-collection", "get", collection_rows(cells(404, teacher=200, superuser=200),
                                                   cells(404, teacher=200, school_admin=200, superuser=200),
                                                   cells(200)))
for method, ok in (("patch", 200), ("delete", 204)):
    M += rows("api-collection", method, collection_rows(
        cells(404, teacher=ok, superuser=ok), cells(404, teacher=ok, school_admin=403, superuser=ok),
        cells(403, school_admin=ok, superuser=ok), **API_DENY), data={"description": "矩阵"} if ok == 200 else None)
M += rows("api-collection-items", "post", collection_rows(
    cells(403, teacher=201, school_admin=404), cells(403, teacher=201), cells(403, school_admin=201), **API_DENY),
    data=item_body)
M += rows("api-collection-items", "put", collection_rows(
    cells(403, teacher=200, school_admin=404), cells(403, teacher=200), cells(403, school_admin=200), **API_DENY),
    data=order_body)
M += rows("api-collection-item", "delete", collection_rows(
    cells(403, teacher=404, school_admin=404), cells(403, teacher=404), cells(403, school_admin=404), **API_DENY))
M += rows("api-collection-item", "delete", {"private collection": X(403, **API_DENY, teacher=204, school_admin=404),
                                            "public collection": X(403, **API_DENY, school_admin=204)},
          kwargs=first_item, label="an item")
M += rows("api-collection-package", "get", collection_rows(
    cells(404, teacher=200, superuser=200), cells(404, teacher=200, school_admin=200, superuser=200),
    cells(200), **API_DENY))
# the zip: the open resource for every node role (the superuser, without one, may take nothing: 409); the
# school's collection is empty
M += rows("api-collection-package", "post", collection_rows(
    cells(404, teacher=200, superuser=409), cells(404, teacher=409, school_admin=409, superuser=409),
    cells(200, superuser=409), **API_DENY))
# one purchase for the priced items at the confirmed total: 0 is not the private collection's total (409
# package_price_changed); the others have nothing priced (409 nothing_to_purchase)
M += rows("api-collection-purchase", "post", collection_rows(
    cells(403, teacher=409, school_admin=404), cells(403, teacher=409, school_admin=409),
    cells(403, teacher=409, school_admin=409), **API_DENY), data={"confirmed_total": 0})
M += rows("api-follows", "get", {ANY: only(403, SPACE, 200, **API_DENY)})
M += rows("api-follows", "post", {ANY: only(403, SPACE, 201, **API_DENY)}, data={"subject": "数学"})
M += rows("api-follow", "delete", {ANY: only(403, SPACE, 404, **API_DENY)})
M += rows("api-feed", "get", {ANY: only(403, SPACE, 200, **API_DENY)})
M += rows("api-feed-token", "post", {ANY: only(403, SPACE, 201, **API_DENY)})
M += rows("api-feed-token", "delete", {ANY: only(403, SPACE, 204, **API_DENY)})
M += rows("api-feed-digest", "put", {ANY: only(403, SPACE, 200, **API_DENY)}, data={"enabled": True})
# the Atom feed: its secret token is the only key (no session needed, none enough)
M += rows("feed-atom", "get", {"feed token": X(200), "bad link": X(404)}, fmt=None)

M += rows("space-collections", "get", {ANY: only(403, SPACE, 200, **PAGE_DENY)}, fmt=None)
M += rows("space-collections", "post", {ANY: only(403, SPACE, "done", **PAGE_DENY)}, fmt=None,
          data={"title": "矩阵备课包"}, probe=collections_state)
M += rows("space-collection-add", "get", {ANY: only(403, SPACE, 200, **PAGE_DENY)}, fmt=None,
          query=lambda w: f"resource={w.objects['A published'].pk}")
M += rows("space-collection-add", "post", {ANY: only(403, SPACE, "done", **PAGE_DENY)}, fmt=None,
          data=lambda w, o, a: {"resource": str(w.objects["A published"].pk), "collection": "new", "step": "导入"},
          probe=collections_state)
M += rows("space-collection-import", "get", {ANY: only(403, SPACE, 200, **PAGE_DENY)}, fmt=None)
M += rows("space-collection-import", "post", {ANY: only(403, SPACE, 200, **PAGE_DENY)}, fmt=None, data={})
M += rows("space-collection", "get", collection_rows(cells(404, teacher=200, superuser=200),
                                                     cells(404, teacher=200, school_admin=200, superuser=200),
                                                     cells(200)), fmt=None)
M += rows("space-collection", "post", collection_rows(
    cells(404, teacher="done", superuser="done"), cells(404, teacher="done", school_admin="refused", superuser="done"),
    cells("refused", school_admin="done", superuser="done"), **PAGE_DENY), fmt=None,
    data={"action": "update", "title": "矩阵改名", "visibility": "public"}, probe=collections_state)
M += rows("space-collection-package", "post", collection_rows(
    cells(404, teacher=200, superuser=302), cells(404, teacher=302, school_admin=302, superuser=302),
    cells(200, superuser=302), **PAGE_DENY), fmt=None)
M += rows("space-feed", "get", {ANY: only(403, SPACE, 200, **PAGE_DENY)}, fmt=None)
M += rows("space-feed", "post", {ANY: only(403, SPACE, "done", **PAGE_DENY)}, fmt=None,
          data={"action": "follow", "subject": "数学"}, probe=follows_state)
# 分享我的课: only a teacher whose school consented (none in this world: the A school never did) — everybody else
# signed in gets the page that says why (403) before any resource is looked up, and nothing is stored. The cells
# of consenting teachers, colleagues and other schools' teachers: tests/catalog/test_teacher_lessons.py.
M += page_rows("lesson-list", {ANY: X(403, **PAGE_DENY)})
M += rows("lesson-upload", "get", {ANY: X(403, **PAGE_DENY)}, fmt=None)
M += rows("lesson-upload", "post", {ANY: X(403, **PAGE_DENY)}, fmt=None, data=upload_form, probe=resource_count)
M += rows("lesson-edit", "get", {(*RESOURCE_STATES, "A revised"): X(403, **PAGE_DENY)}, fmt=None)
M += rows("lesson-edit", "post", {(*RESOURCE_STATES, "A revised"): X(403, **PAGE_DENY)}, fmt=None, data=edit_form,
          probe=content_of)


# --- the routes, from the URL conf --------------------------------------------------------------------------

@dataclass(frozen=True)
class Route:
    name: str
    path: str
    converters: tuple[str, ...]
    methods: tuple[str, ...]
    view: Any = field(compare=False)

    @property
    def is_api(self) -> bool:
        return self.path.startswith("api/v1/")


def _walk(patterns: list[Any], prefix: str = "", namespace: str = "") -> Iterator[tuple[str, str, URLPattern]]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            ns = f"{pattern.namespace}:" if pattern.namespace else namespace
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern), ns)
        else:
            yield prefix + str(pattern.pattern), namespace + (pattern.name or ""), pattern


def wrapper_chain(view: Any) -> Iterator[Any]:
    while view is not None:
        yield view
        view = getattr(view, "__wrapped__", None)


def _closure(fn: Any) -> dict[str, Any]:
    return inspect.getclosurevars(fn).nonlocals if inspect.isfunction(fn) and fn.__closure__ else {}


def is_signed_endpoint(view: Any) -> bool:
    """A federation protocol view (``federation.transport.federation_endpoint``: signed requests only)."""
    return any("federation_endpoint" in getattr(getattr(fn, "__code__", None), "co_qualname", "")
               for fn in wrapper_chain(view))


def methods_of(view: Any) -> tuple[str, ...]:
    """The methods a view answers: a class's handlers, or the list a function's decorators restrict it to
    (``require_http_methods``, ``federation_endpoint``); an unrestricted function answers GET and POST."""
    view_class = getattr(view, "view_class", None) or getattr(view, "cls", None)
    if view_class is not None:
        return tuple(m for m in HTTP_METHODS if m in view_class.http_method_names and hasattr(view_class, m))
    for fn in wrapper_chain(view):
        names = _closure(fn)
        allowed = names.get("request_method_list") or (names.get("methods") if is_signed_endpoint(fn) else None)
        if allowed:
            return tuple(m for m in HTTP_METHODS if m.upper() in allowed)
    return ("get", "post")


def routes() -> dict[str, Route]:
    """Every named route outside the admin site (which is one gate, ``AdminSite.admin_view``, for all)."""
    out: dict[str, Route] = {}
    for path, name, pattern in _walk(get_resolver().url_patterns):
        if path.startswith("admin/"):
            continue
        assert name, f"/{path} has no route name"
        out[name] = Route(name, path, tuple(pattern.pattern.converters), methods_of(pattern.callback),
                          pattern.callback)
    return out


@dataclass(frozen=True)
class Cell:
    row: Row
    variant: str

    @property
    def id(self) -> str:
        label = f" {self.row.label}" if self.row.label else ""
        return f"{self.row.method.upper()} {self.row.route}{label} [{self.variant}]"


CELLS = [Cell(row, variant) for row in M for variant in row.variants]


# --- asking ----------------------------------------------------------------------------------------------------

def _url(world: World, route: Route | None, row: Row, obj: Any) -> str:
    if row.kwargs is not None:
        url = reverse(row.route, kwargs=row.kwargs(world, obj))
    else:
        url = reverse(row.route, kwargs=url_kwargs(route.converters if route else (), obj))
    query = row.query(world) if callable(row.query) else row.query
    return f"{url}?{query}" if query else url


def ask_cell(world: World, client: Any, actor: str, cell: Cell, obj: Any, route: Route | None) -> Answer:
    row = cell.row
    data = row.data(world, obj, actor) if callable(row.data) else row.data
    about_resource = cell.variant in RESOURCES or cell.variant == MISSING
    ids: tuple[Any, ...] = (obj.pk, file_pk(obj)) if about_resource else ()
    probe = (lambda: row.probe(world, obj)) if row.probe else None
    return ask(client, method=row.method, url=_url(world, route, row, obj), data=data, fmt=row.fmt, probe=probe,
               ids=ids)


def leaks(world: World, actor: str, body: bytes) -> list[str]:
    """Titles or ids of resources ``actor`` may not see (or of revisions not for them) that appear in ``body``."""
    found = [f"a revision's proposed title ({secret})" for secret, allowed in world.secrets.items()
             if actor not in allowed and secret.encode() in body]
    for variant in RESOURCES:
        if may_see(actor, variant):
            continue
        resource = world.objects[variant]
        for secret in (world.marks[variant], str(resource.pk)):
            if secret.encode() in body:
                found.append(f"{variant} ({secret})")
    return found


def run_matrix(world: World, actor: str) -> list[str]:
    """Every cell for ``actor``: the problems found (empty when the node behaves as the table says)."""
    known = routes()
    client = client_for(world, actor)
    problems: list[str] = []
    twins: dict[tuple[str, str, str], Answer] = {}
    for cell in CELLS:
        row = cell.row
        route = known.get(row.route)
        obj = world.objects.get(cell.variant)
        answer = ask_cell(world, client, actor, cell, obj, route)
        expected = row.expected[actor]
        if answer.outcome != expected:
            problems.append(f"{cell.id}: expected {expected}, got {answer.outcome}")
        if not row.may_reveal:
            problems += [f"{cell.id}: the answer reveals {what}" for what in leaks(world, actor, answer.body)]
        if cell.variant in RESOURCES and not may_see(actor, cell.variant) and not row.may_reveal:
            key = (row.route, row.method, row.label)
            if key not in twins:
                twins[key] = ask_cell(world, client, actor, Cell(row, MISSING), missing_twin(obj), route)
            twin = twins[key]
            if (answer.outcome, answer.body) != (twin.outcome, twin.body):
                problems.append(f"{cell.id}: answers otherwise than for a missing resource "
                                f"({answer.outcome} vs {twin.outcome})")
    return problems


# --- the tests ---------------------------------------------------------------------------------------------------

@pytest.fixture
def world(db, province, settings, tmp_path) -> World:
    settings.CATALOG_SEARCH_DIR = tmp_path / "search"  # an embedded index of this test's own
    return build_world(province)


@pytest.mark.parametrize("actor", ACTORS)
def test_authorization_matrix(world, actor, caplog):
    """Every route × object gives ``actor`` the outcome of the table, and nothing about unpublished work they
    may not see."""
    caplog.set_level(logging.ERROR, logger="django.request")  # thousands of expected 4xx warnings
    problems = run_matrix(world, actor)
    assert problems == [], f"{len(problems)} cells wrong for {actor}:\n" + "\n".join(problems)


def test_every_route_and_method_has_rows():
    """Generated from the URL conf: a route without rows — a new page, form action or API endpoint — fails
    here until the table says who may use it."""
    known = routes()
    served = {(name, method) for name, route in known.items() for method in route.methods}
    covered = {(row.route, row.method) for row in M if not row.route.startswith("admin:")}
    assert sorted(served - covered) == [], "add rows for these routes and methods"
    assert sorted(covered - served) == [], "rows for routes or methods that are not served"
    for row in M:
        if row.route.startswith("admin:"):
            reverse(row.route, kwargs={"object_id": 1} if row.kwargs else None)


def test_every_route_of_a_resource_has_rows_for_each_state():
    """A route that takes a resource (in its path, or a takedown notice's body) is tried on the resource in
    every state of both provinces."""
    states: dict[tuple[str, str], set[str]] = {}
    for row in M:
        if row.label or row.route.startswith("admin:"):
            continue
        states.setdefault((row.route, row.method), set()).update(v for v in row.variants if v in RESOURCES)
    known = routes()
    for (name, method), seen in states.items():
        takes_resource = name in known and "resource_id" in known[name].converters
        if takes_resource or seen:
            assert set(RESOURCE_STATES) <= seen, f"{method.upper()} {name}: no rows for {set(RESOURCE_STATES) - seen}"


def test_no_cell_twice():
    ids = [cell.id for cell in CELLS]
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})


# --- every view names its permission ---------------------------------------------------------------------------

OWN_APPS = ("exchange.", "catalog.", "licensing.", "federation.", "spaces.")


def access_marker(view: Any) -> str | None:
    """How a view declares who may call it: a DRF permission class, a role gate, sign-in, a signed-request
    gate, or Django's ``login_not_required`` for a public one."""
    view_class = getattr(view, "view_class", None) or getattr(view, "cls", None)
    if view_class is not None:
        ok = issubclass(view_class, ExchangeAPIView) and view_class.permission_declared
        return "permission_classes" if ok else None
    if getattr(view, "required_roles", None):
        return "role_required"
    if getattr(view, "login_url", "missing") != "missing" and hasattr(view, "redirect_field_name"):
        return "login_required"
    if is_signed_endpoint(view):
        return "federation_endpoint"
    if getattr(view, "login_required", True) is False:
        return "login_not_required"
    return None


def own_views() -> dict[str, Any]:
    return {name: route.view for name, route in routes().items()
            if (getattr(route.view, "view_class", None) or getattr(route.view, "cls", None) or route.view)
            .__module__.startswith(OWN_APPS)}


def test_every_view_names_its_permission_in_code():
    """Pages and API views alike: a view of this project without a declared gate is a view someone forgot."""
    undeclared = sorted(name for name, view in own_views().items() if access_marker(view) is None)
    assert undeclared == []


def test_every_view_states_its_permission_in_its_docstring():
    def doc(view: Any) -> str:
        view_class = getattr(view, "view_class", None) or getattr(view, "cls", None)
        return (view_class or view).__doc__ or ""

    missing = sorted(name for name, view in own_views().items() if "Permission:" not in doc(view))
    assert missing == []
