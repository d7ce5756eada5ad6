"""The one place the licensing rules live: ``decide(user, resource, action) -> Decision``.

Every part of the node that allows or refuses the use of a resource asks this module — the download
API, signed file links, search badges, purchases, the web pages and federation. The rules themselves
are :func:`evaluate`, a pure function of plain facts (who asks, the resource's status and rights
statement, the grants that exist, and the time), so they can be tested exhaustively without a
database; :func:`decide` and :func:`decide_many` only gather those facts from the models.

Rules, in order (the first that applies gives the reason):

1. Only published resources may be used (``not_published``; ``withdrawn`` after a withdrawal or an
   upheld takedown). Metadata of a published resource is public (``metadata_public``).
2. Members of the publishing organisation may always use their own resource (``own_resource``).
3. Downloading and deriving need a signed-in user, and so does anything not meant for the public
   (``login_required``); the statement's audience must include the user (``audience_restricted``:
   ``teachers`` = holders of a node role, ``students`` = any signed-in user, ``public`` = anyone).
4. The user's organisation must lie in the territory (``outside_territory``; empty = nationwide; a
   province code covers its prefectures and counties).
5. Not before the embargo date (``embargoed``), not after the rights' term ends (``rights_expired``).
6. Previews are then allowed (``preview_allowed``). Deriving needs a licence allowing derivative
   works (``derivatives_not_allowed`` for ND licences and all-rights-reserved terms).
7. Free when the licence is open (``open_licence``), the price is zero (``free_of_charge``) or the
   user's school is in a category the statement names (``free_for_category``); otherwise an active
   grant — school-wide or personal — is needed (``grant_active``), or it is ``purchase_required``
   with the price in vouchers.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from catalog.models import Resource
from exchange.models import Organisation
from exchange.roles import Role, user_roles
from licensing.models import Grant


class Action(StrEnum):
    VIEW_METADATA = "view_metadata"
    PREVIEW = "preview"
    DOWNLOAD = "download"
    DERIVE = "derive"


class Reason(StrEnum):
    # allowed
    METADATA_PUBLIC = "metadata_public"
    OWN_RESOURCE = "own_resource"
    PREVIEW_ALLOWED = "preview_allowed"
    OPEN_LICENCE = "open_licence"
    FREE_OF_CHARGE = "free_of_charge"
    FREE_FOR_CATEGORY = "free_for_category"
    GRANT_ACTIVE = "grant_active"
    # refused
    NOT_PUBLISHED = "not_published"
    WITHDRAWN = "withdrawn"
    RIGHTS_UNKNOWN = "rights_unknown"
    LOGIN_REQUIRED = "login_required"
    AUDIENCE_RESTRICTED = "audience_restricted"
    OUTSIDE_TERRITORY = "outside_territory"
    EMBARGOED = "embargoed"
    RIGHTS_EXPIRED = "rights_expired"
    DERIVATIVES_NOT_ALLOWED = "derivatives_not_allowed"
    PURCHASE_REQUIRED = "purchase_required"


ALLOWED_REASONS = frozenset({
    Reason.METADATA_PUBLIC, Reason.OWN_RESOURCE, Reason.PREVIEW_ALLOWED, Reason.OPEN_LICENCE,
    Reason.FREE_OF_CHARGE, Reason.FREE_FOR_CATEGORY, Reason.GRANT_ACTIVE,
})
REFUSAL_REASONS = frozenset(set(Reason) - ALLOWED_REASONS)

MESSAGES: dict[str, Any] = {
    Reason.METADATA_PUBLIC: _("已发布资源的描述信息对所有人公开。"),
    Reason.OWN_RESOURCE: _("这是您所在机构发布的资源。"),
    Reason.PREVIEW_ALLOWED: _("可以预览。"),
    Reason.OPEN_LICENCE: _("该资源采用开放许可协议，可免费使用。"),
    Reason.FREE_OF_CHARGE: _("该资源免费。"),
    Reason.FREE_FOR_CATEGORY: _("您所在学校属于该资源指定的免费使用学校类别。"),
    Reason.GRANT_ACTIVE: _("您或您的学校已购买该资源的使用授权，授权在有效期内。"),
    Reason.NOT_PUBLISHED: _("该资源尚未发布。"),
    Reason.WITHDRAWN: _("该资源已撤回（或因侵权投诉被下架），不能再使用。"),
    Reason.RIGHTS_UNKNOWN: _("该资源缺少版权声明，不能使用。"),
    Reason.LOGIN_REQUIRED: _("请先登录。"),
    Reason.AUDIENCE_RESTRICTED: _("该资源仅面向特定用户群体，您不在其使用对象范围内。"),
    Reason.OUTSIDE_TERRITORY: _("该资源的授权地域不包括您所在的地区。"),
    Reason.EMBARGOED: _("该资源尚在禁用期内，到期后方可使用。"),
    Reason.RIGHTS_EXPIRED: _("该资源的授权期限已结束。"),
    Reason.DERIVATIVES_NOT_ALLOWED: _("该资源的许可协议不允许改编或制作演绎作品。"),
    Reason.PURCHASE_REQUIRED: _("使用该资源需要先用学校的数字资源券购买授权。"),
}

STAFF_ROLES = frozenset(Role.values)


@dataclass(frozen=True)
class Subject:
    """Who asks: the facts about a user the rules depend on."""

    authenticated: bool = False
    user_id: int | None = None
    roles: frozenset[str] = frozenset()
    organisation_id: int | None = None
    organisation_kind: str = ""
    region: str = ""
    categories: frozenset[str] = frozenset()


ANONYMOUS = Subject()


@dataclass(frozen=True)
class Terms:
    """What is asked about: a resource's status and rights statement."""

    resource_id: str
    status: str
    publisher_id: int | None = None
    has_rights: bool = True
    licence_id: str = ""
    licence_open: bool = False
    allows_derivatives: bool = False
    territory: tuple[str, ...] = ()
    audience: str = "teachers"
    price: int = 0
    free_for: frozenset[str] = frozenset()
    embargo_until: dt.date | None = None
    term_end: dt.date | None = None


@dataclass(frozen=True)
class GrantFact:
    """A grant as the rules see it."""

    grant_id: int
    resource_id: str
    scope: str
    organisation_id: int
    user_id: int | None
    starts_at: dt.datetime
    ends_at: dt.datetime

    def covers(self, subject: Subject, now: dt.datetime) -> bool:
        if not self.starts_at <= now < self.ends_at:
            return False
        if self.scope == "school":
            return subject.organisation_id is not None and self.organisation_id == subject.organisation_id
        return subject.user_id is not None and self.user_id == subject.user_id


@dataclass(frozen=True)
class Decision:
    """The answer: allowed or not, why (a stable reason code) and what it would cost.

    ``price`` is what the user must pay before the action is allowed (non-zero only with
    ``purchase_required``); ``list_price`` is the statement's price whatever the outcome."""

    allowed: bool
    reason: str
    action: str
    resource_id: str
    price: int = 0
    list_price: int = 0
    grant_id: int | None = None
    context: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def free_for_you(self) -> bool:
        """A priced resource this user may use free thanks to their school's category."""
        return self.reason == Reason.FREE_FOR_CATEGORY

    @property
    def message(self) -> str:
        return str(MESSAGES[self.reason])

    def details(self) -> dict[str, Any]:
        """What an error response or a badge carries besides the reason."""
        return {"reason": self.reason, "action": self.action, "resource": self.resource_id,
                "price": self.price, "list_price": self.list_price, **self.context}

    def as_dict(self) -> dict[str, Any]:
        return {"allowed": self.allowed, "reason": self.reason, "message": self.message, "action": self.action,
                "price": self.price, "list_price": self.list_price, "free_for_you": self.free_for_you,
                "grant": self.grant_id, **self.context}


def region_within(region: str, territory_code: str) -> bool:
    """Whether a GB/T 2260 region lies in a territory code (a province code covers its prefectures and
    counties, a prefecture code its counties)."""
    if not region or not territory_code:
        return False
    if territory_code.endswith("0000"):
        return region[:2] == territory_code[:2]
    if territory_code.endswith("00"):
        return region[:4] == territory_code[:4]
    return region == territory_code


def audience_includes(audience: str, subject: Subject) -> bool:
    if audience == "public":
        return True
    if audience == "students":
        return subject.authenticated
    return subject.authenticated and bool(subject.roles & STAFF_ROLES)


def evaluate(
    subject: Subject, terms: Terms, action: str, *, grants: Iterable[GrantFact] = (), now: dt.datetime,
) -> Decision:
    """The licensing rules (see the module docstring): a pure function of its arguments."""
    action = Action(action)

    def done(reason: Reason, *, price: int = 0, grant_id: int | None = None, **context: Any) -> Decision:
        return Decision(allowed=reason in ALLOWED_REASONS, reason=reason.value, action=action.value,
                        resource_id=terms.resource_id, price=price, list_price=terms.price if terms.has_rights else 0,
                        grant_id=grant_id, context=context)

    if terms.status == Resource.Status.WITHDRAWN:
        return done(Reason.WITHDRAWN)
    if terms.status != Resource.Status.PUBLISHED:
        return done(Reason.NOT_PUBLISHED)
    if action == Action.VIEW_METADATA:
        return done(Reason.METADATA_PUBLIC)
    if not terms.has_rights:
        return done(Reason.RIGHTS_UNKNOWN)
    if subject.organisation_id is not None and subject.organisation_id == terms.publisher_id:
        return done(Reason.OWN_RESOURCE)
    if not subject.authenticated and (
        action != Action.PREVIEW or terms.audience != "public" or terms.territory
    ):
        return done(Reason.LOGIN_REQUIRED)
    if not audience_includes(terms.audience, subject):
        return done(Reason.AUDIENCE_RESTRICTED, audience=terms.audience)
    if terms.territory and not any(region_within(subject.region, code) for code in terms.territory):
        return done(Reason.OUTSIDE_TERRITORY, territory=list(terms.territory), your_region=subject.region or None)
    today = timezone.localdate(now)
    if terms.embargo_until is not None and today < terms.embargo_until:
        return done(Reason.EMBARGOED, available_from=terms.embargo_until.isoformat())
    if terms.term_end is not None and today > terms.term_end:
        return done(Reason.RIGHTS_EXPIRED, term_end=terms.term_end.isoformat())
    if action == Action.PREVIEW:
        return done(Reason.PREVIEW_ALLOWED)
    if action == Action.DERIVE and not terms.allows_derivatives:
        return done(Reason.DERIVATIVES_NOT_ALLOWED, license=terms.licence_id)
    if terms.licence_open:
        return done(Reason.OPEN_LICENCE)
    if terms.price == 0:
        return done(Reason.FREE_OF_CHARGE)
    if subject.organisation_kind == Organisation.Kind.SCHOOL and subject.categories & terms.free_for:
        return done(Reason.FREE_FOR_CATEGORY, categories=sorted(subject.categories & terms.free_for))
    covering = [g for g in grants if g.resource_id == terms.resource_id and g.covers(subject, now)]
    if covering:
        best = max(covering, key=lambda g: g.ends_at)
        return done(Reason.GRANT_ACTIVE, grant_id=best.grant_id, grant_ends_at=best.ends_at.isoformat())
    return done(Reason.PURCHASE_REQUIRED, price=terms.price)


# --- gathering the facts from the models -------------------------------------------------------------

def subject_of(user: Any) -> Subject:
    """The facts about ``user`` (anonymous, or a user with their organisation and roles)."""
    if not getattr(user, "is_authenticated", False):
        return ANONYMOUS
    org: Organisation | None = user.organisation
    return Subject(
        authenticated=True,
        user_id=user.pk,
        roles=frozenset(user_roles(user)),
        organisation_id=org.pk if org else None,
        organisation_kind=org.kind if org else "",
        region=org.region_id if org else "",
        categories=frozenset(org.categories or ()) if org else frozenset(),
    )


def terms_of(resource: Resource) -> Terms:
    """The facts about ``resource`` (load it with ``select_related("rights__license")``)."""
    try:
        rights = resource.rights
    except ObjectDoesNotExist:
        return terms_from_facts({"id": resource.pk, "status": resource.status, "publisher_id": resource.publisher_id,
                                 "has_rights": False})
    licence = rights.license
    return terms_from_facts({
        "id": resource.pk, "status": resource.status, "publisher_id": resource.publisher_id, "has_rights": True,
        "license_id": licence.pk, "license_is_open": licence.is_open,
        "license_allows_derivatives": licence.allows_derivatives, "territory": rights.territory,
        "audience": rights.audience, "price": rights.price, "free_for": rights.free_for,
        "embargo_until": rights.embargo_until, "term_end": rights.term_end,
    })


def terms_from_facts(row: Mapping[str, Any]) -> Terms:
    """The facts about a resource from plain values (a row of ``catalog.usage.decision_facts``, keyed like
    its ``DECISION_COLUMNS``), so that many resources are decided without building their models."""
    if not row["has_rights"]:
        return Terms(resource_id=str(row["id"]), status=row["status"], publisher_id=row["publisher_id"],
                     has_rights=False)
    return Terms(
        resource_id=str(row["id"]),
        status=row["status"],
        publisher_id=row["publisher_id"],
        licence_id=row["license_id"],
        licence_open=row["license_is_open"],
        allows_derivatives=row["license_allows_derivatives"],
        territory=tuple(row["territory"] or ()),
        audience=row["audience"],
        price=row["price"],
        free_for=frozenset(row["free_for"] or ()),
        embargo_until=row["embargo_until"],
        term_end=row["term_end"],
    )


def active_grant_facts(
    *, subject: Subject, resource_ids: Iterable[str], now: dt.datetime,
) -> dict[str, list[GrantFact]]:
    """The grants in force at ``now`` that cover ``subject`` (personal, or school-wide for their
    school), by resource id: one query for any number of resources."""
    if not subject.authenticated:
        return {}
    covers = Q(scope=Grant.Scope.PERSONAL, user_id=subject.user_id)
    if subject.organisation_id is not None:
        covers |= Q(scope=Grant.Scope.SCHOOL, organisation_id=subject.organisation_id)
    rows = Grant.objects.filter(covers, resource_id__in=list(resource_ids), starts_at__lte=now, ends_at__gt=now)
    out: dict[str, list[GrantFact]] = {}
    for g in rows.values("pk", "resource_id", "scope", "organisation_id", "user_id", "starts_at", "ends_at"):
        fact = GrantFact(grant_id=g["pk"], resource_id=str(g["resource_id"]), scope=g["scope"],
                         organisation_id=g["organisation_id"], user_id=g["user_id"], starts_at=g["starts_at"],
                         ends_at=g["ends_at"])
        out.setdefault(fact.resource_id, []).append(fact)
    return out


def decide(
    user: Any, resource: Resource, action: str, *, now: dt.datetime | None = None,
    grants: Sequence[GrantFact] | None = None,
) -> Decision:
    """May ``user`` perform ``action`` (view_metadata, preview, download, derive) on ``resource`` now?

    Grants are read from the database only when the rules get as far as needing one (a priced resource
    that is not free for the user); pass ``grants`` to decide on given facts instead."""
    return decide_many(user, [resource], action, now=now, grants=grants)[str(resource.pk)]


def decide_many(
    user: Any, resources: Iterable[Resource | Terms], action: str, *, now: dt.datetime | None = None,
    grants: Sequence[GrantFact] | None = None, subject: Subject | None = None,
) -> dict[str, Decision]:
    """``decide`` for many resources at once (search results): at most one grant query in all. The
    resources may be given as their ``Terms`` (``terms_for``) instead of models; ``subject`` is
    ``subject_of(user)`` when the caller has it already. Returns decisions keyed by the resource id as
    a string."""
    now = now or timezone.now()
    subject = subject or subject_of(user)
    terms = {t.resource_id: t for t in (r if isinstance(r, Terms) else terms_of(r) for r in resources)}
    out = {rid: evaluate(subject, t, action, grants=grants or (), now=now) for rid, t in terms.items()}
    needing = [rid for rid, d in out.items() if d.reason == Reason.PURCHASE_REQUIRED]
    if needing and grants is None and subject.authenticated:
        found = active_grant_facts(subject=subject, resource_ids=needing, now=now)
        for rid in needing:
            out[rid] = evaluate(subject, terms[rid], action, grants=found.get(rid, ()), now=now)
    return out
