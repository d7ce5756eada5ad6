"""The world the authorization matrix runs in, the actors who ask, and how one cell is asked and observed.

Province A is this node's province, province B another one. Each of them has a bureau (reviewers), a
publisher and a school; province A has a second publisher. Resources of the A publisher exist in every
state of the review workflow, resources of the B publisher as a draft, in review and published; all of
them were handed to the search indexer. The title of each carries a unique mark, so that an answer that
names a resource somebody may not see is found by looking for the mark.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

from django.core.cache import cache
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from catalog import services as catalog_services
from catalog.models import Resource, ResourceFile
from catalog.previews.services import preview_build
from catalog.search.indexing import index_resources
from exchange.models import Organisation, User
from exchange.roles import Role
from exchange.services import organisation_create, user_create
from licensing import services as licensing_services
from licensing.links import file_token_make
from spaces import services as spaces_services
from tests.factories import ResourceFactory, demo_organisations, demo_users

#: Who asks. ``publisher_member`` belongs to the publishing organisation of province A without holding the
#: publisher role; ``province_admin``, ``bureau_operator`` (a hub operator account in the province bureau, as
#: ``seed_demo`` creates one on a province node) and ``superuser`` (no role, in the bureau, as ``seed_demo``
#: creates it) are members of the bureau without the reviewer role: all of them are in the groups that hold
#: the object rights, and none of them may see unpublished work. ``far_*`` act in province B.
ACTORS = (
    "anonymous", "teacher", "school_admin", "publisher", "publisher_member", "other_publisher", "far_publisher",
    "reviewer", "far_reviewer", "province_admin", "hub_operator", "bureau_operator", "superuser",
)

#: The resources of the matrix, by the name the rows use. Every route that takes a resource has rows for all
#: of ``RESOURCE_STATES``; ``A priced`` (a published resource sold for vouchers), ``B submitted`` and
#: ``A revised`` (a published resource with a revision waiting for review) are extra.
A_UNPUBLISHED = ("A draft", "A submitted", "A rejected", "A approved", "A withdrawn")
B_UNPUBLISHED = ("B draft",)
RESOURCE_STATES = (*A_UNPUBLISHED, "A published", *B_UNPUBLISHED, "B published")
EXTRA_RESOURCES = ("A priced", "B submitted", "A revised")

#: The specification of the rule under attack: who may see an unpublished resource of each province — the
#: publisher's members (publisher role, publishing organisation) and the province's reviewers. For everybody
#: else an unpublished resource does not exist.
SEES_UNPUBLISHED = {"A": frozenset({"publisher", "reviewer"}), "B": frozenset({"far_publisher", "far_reviewer"})}


def may_see(actor: str, variant: str) -> bool:
    """Whether ``actor`` may see the resource ``variant`` (by the specification above, not by the code)."""
    province, _, state = variant.partition(" ")
    if state in ("published", "priced", "revised"):
        return True
    return actor in SEES_UNPUBLISHED[province]


def password_of(actor: str) -> str:
    return f"test-pass-{actor}"


@dataclass
class World:
    province: str
    other_province: str
    orgs: dict[str, Organisation]
    users: dict[str, User]
    objects: dict[str, Any] = field(default_factory=dict)
    marks: dict[str, str] = field(default_factory=dict)  # resource variant → a token in its title
    #: tokens only some actors may ever be shown (a revision's proposed title): token → those actors
    secrets: dict[str, frozenset[str]] = field(default_factory=dict)

    def user(self, actor: str) -> User | None:
        return None if actor == "anonymous" else self.users[actor]


def _resource(publisher: Organisation, variant: str, **kwargs: Any) -> tuple[Resource, str]:
    mark = f"MX{uuid.uuid4().hex[:10]}"
    status = kwargs.pop("status")
    extra: dict[str, Any] = {}
    if status in (Resource.Status.WITHDRAWN,):
        extra["published_at"] = timezone.now() - dt.timedelta(days=3)
    if status in (Resource.Status.SUBMITTED, Resource.Status.APPROVED, Resource.Status.REJECTED):
        extra["submitted_at"] = timezone.now() - dt.timedelta(days=1)
    if status == Resource.Status.REJECTED:
        extra["review_note"] = "版权信息不完整"
    resource = ResourceFactory(publisher=publisher, status=status, title=f"{variant} 有理数 课件 {mark}",
                               **extra, **kwargs)
    return resource, mark


def build_world(province: str) -> World:
    """Organisations and users through the real services (groups, object rights, audit), the resources, two
    takedown notices, two schools with voucher accounts and download links."""
    orgs = demo_organisations(province)
    base_users = demo_users(orgs)
    other_province = orgs["other_bureau"].region_id
    orgs["city_school"].student_count = 100
    orgs["city_school"].save(update_fields=["student_count"])
    orgs["far_publisher"] = organisation_create(name="外省教育出版社", kind=Organisation.Kind.PUBLISHER,
                                                region=other_province)
    users: dict[str, User] = {name: base_users[name] for name in (
        "teacher", "school_admin", "publisher", "other_publisher", "reviewer", "province_admin", "hub_operator")}
    users["far_reviewer"] = base_users["other_reviewer"]
    extra = {
        "publisher_member": (orgs["publisher"], [], False),
        "far_publisher": (orgs["far_publisher"], [Role.PUBLISHER], False),
        "bureau_operator": (orgs["bureau"], [Role.HUB_OPERATOR], False),
        "superuser": (orgs["bureau"], [], True),
    }
    for name, (org, roles, is_superuser) in extra.items():
        users[name] = user_create(username=name, password=password_of(name), organisation=org, roles=roles,
                                  is_superuser=is_superuser)
    for name in ("far_reviewer",):  # demo_users names it other_reviewer
        users[name].set_password(password_of(name))
        users[name].save(update_fields=["password"])
    world = World(province=province, other_province=other_province, orgs=orgs, users=users)

    states = {"draft": Resource.Status.DRAFT, "submitted": Resource.Status.SUBMITTED,
              "rejected": Resource.Status.REJECTED, "approved": Resource.Status.APPROVED,
              "published": Resource.Status.PUBLISHED, "withdrawn": Resource.Status.WITHDRAWN}
    for variant in (*RESOURCE_STATES, "B submitted"):
        province_key, _, state = variant.partition(" ")
        publisher = orgs["publisher"] if province_key == "A" else orgs["far_publisher"]
        world.objects[variant], world.marks[variant] = _resource(publisher, variant, status=states[state])
    world.objects["A priced"], world.marks["A priced"] = _resource(
        orgs["publisher"], "A priced", status=Resource.Status.PUBLISHED, license="ALL-RIGHTS-RESERVED", price=5,
        free_for=["rural"], territory=[province])
    # a published resource whose revision waits for review: its proposed title is for the publisher's members
    # and the province's reviewers only (like an unpublished resource), its live version for everybody
    world.objects["A revised"], world.marks["A revised"] = _resource(orgs["publisher"], "A revised",
                                                                     status=Resource.Status.PUBLISHED)
    proposed = f"RV{uuid.uuid4().hex[:10]}"
    catalog_services.resource_update(user=users["publisher"], resource=world.objects["A revised"],
                                      metadata={"title": f"修订 有理数 课件 {proposed}"})
    catalog_services.resource_submit(user=users["publisher"], resource=world.objects["A revised"])
    world.secrets[proposed] = SEES_UNPUBLISHED["A"]

    # takedown notices: one about a published resource of each province, filed by a publisher of that province
    world.objects["A notice"] = licensing_services.takedown_file(
        user=users["other_publisher"], resource=world.objects["A published"], grounds="copyright", statement="侵权")
    world.objects["B notice"] = licensing_services.takedown_file(
        user=users["far_publisher"], resource=world.objects["B published"], grounds="copyright", statement="侵权")
    # schools and their voucher accounts (A's funded by its province administrator)
    world.objects["A school"], world.objects["B school"] = orgs["city_school"], orgs["far_school"]
    licensing_services.vouchers_fund(actor=users["province_admin"], school=orgs["city_school"], per_student=1)
    world.objects["A account"] = licensing_services.voucher_account_ensure(school=orgs["city_school"])
    world.objects["B account"] = licensing_services.voucher_account_ensure(school=orgs["far_school"])
    # node-signed download links (bearer links: whoever holds one gets the file while the resource may be used)
    expires = timezone.now() + dt.timedelta(hours=1)
    for variant in ("A published", "A withdrawn"):
        resource = world.objects[variant]
        world.objects[f"link {variant}"] = file_token_make(
            file_id=resource.files.first().pk, user_id=users["teacher"].pk, expires_at=expires)
    world.objects["bad link"] = "not-a-token"
    # every file gets its previews (cover, page thumbnails), as the preview job makes them after an upload
    for sha256, mime in set(ResourceFile.objects.values_list("sha256", "mime")):
        preview_build(sha256=sha256, mime=mime)
    # teachers' collections (备课包): the teacher's private one (an open and a priced resource) and the one shared
    # with the school (empty), the school administrator's public one (the open resource); the teacher's feed token
    private = spaces_services.collection_create(user=users["teacher"], title="私人备课包")
    for variant, step in (("A published", "导入"), ("A priced", "练习")):
        spaces_services.collection_item_add(user=users["teacher"], collection=private,
                                            resource_id=world.objects[variant].pk, step=step)
    world.objects["private collection"] = private
    world.objects["school collection"] = spaces_services.collection_create(
        user=users["teacher"], title="本校备课包", visibility="school")
    public = spaces_services.collection_create(user=users["school_admin"], title="公开备课包", visibility="public")
    spaces_services.collection_item_add(user=users["school_admin"], collection=public,
                                        resource_id=world.objects["A published"].pk, step="新授")
    world.objects["public collection"] = public
    world.objects["feed token"] = spaces_services.feed_token_issue(user=users["teacher"])
    # every resource is offered to the search index: the indexer must keep the published ones only
    index_resources(resource_ids=[str(pk) for pk in Resource.objects.values_list("pk", flat=True)])
    return world


# --- asking one cell ---------------------------------------------------------------------------------------

Outcome = int | str


def missing_twin(obj: Any) -> Any:
    """Stands in for a resource that does not exist (fresh ids), for the same request."""
    return SimpleNamespace(pk=uuid.uuid4(), file_pk=uuid.uuid4())


def file_pk(obj: Any) -> Any:
    return obj.file_pk if isinstance(obj, SimpleNamespace) else obj.files.first().pk


def url_kwargs(converters: tuple[str, ...], obj: Any) -> dict[str, Any]:
    """URL arguments for a route from the object of the cell."""
    out: dict[str, Any] = {}
    for name in converters:
        if name in ("resource_id", "notice_id", "school_id", "account_id", "collection_id"):
            out[name] = obj.pk
        elif name == "file_id":
            out[name] = file_pk(obj)
        elif name == "node_id":
            out[name] = "cn-99"  # no such peer, node or enrolment
        elif name == "page":
            out[name] = 1  # the first page: what anybody who may preview sees
        elif name in ("enrolment_id", "item_id", "run_id", "request_id", "user_id", "rating_id", "follow_id"):
            out[name] = 999999
        elif name == "entry_id":
            out[name] = uuid.UUID("00000000-0000-4000-8000-0000000e1e1e")  # no such negative-list entry
        elif name == "sha256":
            out[name] = "0" * 64
        elif name == "uidb64":
            out[name] = "MTIzNDU2"
        elif name == "token":
            out[name] = obj if isinstance(obj, str) else "set-password"
        else:  # pragma: no cover - a new kind of URL argument needs a rule here
            raise AssertionError(f"no rule for the URL argument {name!r}")
    return out


def client_for(world: World, actor: str) -> APIClient:
    client = APIClient()
    user = world.user(actor)
    if user is not None:
        client.force_login(user)
    return client


_VOLATILE = (re.compile(rb'name="csrfmiddlewaretoken" value="[^"]*"'), re.compile(rb'nonce="[^"]*"'),
             re.compile(rb'"csrfToken": *"[^"]*"'))


def normalized_body(response: Any, ids: tuple[Any, ...]) -> bytes:
    """The body with what differs between two otherwise identical answers blanked: CSRF tokens, CSP nonces
    and the ids of the request itself (echoed in links back to the page)."""
    body = b"".join(response.streaming_content) if getattr(response, "streaming", False) else response.content
    for pattern in _VOLATILE:
        body = pattern.sub(b"", body)
    for value in ids:
        body = body.replace(str(value).encode(), b"<id>")
    return body


@dataclass
class Answer:
    outcome: Outcome
    body: bytes
    content_type: str


def login_paths() -> set[str]:
    return {reverse("login"), reverse("admin:login")}


def ask(client: APIClient, *, method: str, url: str, data: Any, fmt: str | None,
        probe: Callable[[], Any] | None, ids: tuple[Any, ...]) -> Answer:
    """Send one request in a savepoint that is rolled back afterwards, with the client's cookies put back,
    so that the next cell sees the same world. ``probe`` reads the state the action should change: a form
    action that answers with a redirect is ``done`` when the probe reads differently afterwards, else
    ``refused``."""
    cookies = SimpleCookie()
    cookies.load(client.cookies.output(header="", sep=";"))
    cache.clear()  # rate limits count per client address
    savepoint = transaction.savepoint()
    try:
        before = probe() if probe else None
        send = getattr(client, method)
        kwargs: dict[str, Any] = {} if fmt is None else {"format": fmt}
        try:
            response = send(url, data, **kwargs) if method != "get" else send(url, data or None)
        except Exception as exc:  # noqa: BLE001 - an error is an outcome the table shows
            return Answer(f"error {type(exc).__name__}: {exc}"[:200], b"", "")
        status = response.status_code
        outcome: Outcome = status
        if status in (301, 302, 303, 307) and urlsplit(response["Location"]).path in login_paths():
            outcome = "login"
        elif probe is not None and status < 400:
            outcome = "done" if probe() != before else "refused"
        return Answer(outcome, normalized_body(response, ids), response.get("Content-Type", ""))
    finally:
        transaction.savepoint_rollback(savepoint)
        client.cookies = cookies
