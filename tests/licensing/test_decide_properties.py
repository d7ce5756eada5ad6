"""Property-based tests of the licensing rules (hypothesis).

``evaluate`` is a pure function of plain facts, so most properties run without a database over many
generated users, rights statements, grants and times; the last test checks that ``decide`` gathers the
same facts from real models as the pure function is given.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from catalog.models import Resource
from exchange.models import Organisation, SchoolCategory
from exchange.roles import Role
from licensing.decisions import (
    ALLOWED_REASONS,
    REFUSAL_REASONS,
    Action,
    GrantFact,
    Reason,
    Subject,
    Terms,
    decide,
    evaluate,
    region_within,
    subject_of,
    terms_of,
)

TZ = dt.timezone(dt.timedelta(hours=8))
NOW = dt.datetime(2025, 3, 15, 10, 0, tzinfo=TZ)
TODAY = NOW.date()
LICENCES = json.loads((Path(__file__).resolve().parents[2] / "catalog/data/licenses.json").read_text())["licenses"]
REGIONS = ["440000", "440100", "440103", "441900", "110000", "110101", "650000", "654000"]
TERRITORY_CODES = ["440000", "440100", "110000", "650000", "654000"]
ACTIONS = [a.value for a in Action]

days = st.integers(min_value=-400, max_value=400).map(lambda n: TODAY + dt.timedelta(days=n))
instants = st.integers(min_value=-400 * 24, max_value=400 * 24).map(lambda h: NOW + dt.timedelta(hours=h))


@st.composite
def subjects(draw) -> Subject:
    if draw(st.integers(0, 9)) == 0:
        return Subject()  # anonymous
    has_org = draw(st.integers(0, 9)) > 0
    return Subject(
        authenticated=True,
        user_id=draw(st.integers(1, 4)),
        roles=frozenset(draw(st.sets(st.sampled_from(Role.values), max_size=3))),
        organisation_id=draw(st.integers(1, 4)) if has_org else None,
        organisation_kind=draw(st.sampled_from(Organisation.Kind.values)) if has_org else "",
        region=draw(st.sampled_from(REGIONS)) if has_org else "",
        categories=frozenset(draw(st.sets(st.sampled_from(SchoolCategory.values)))) if has_org else frozenset(),
    )


@st.composite
def terms(draw, status: str | None = None) -> Terms:
    licence = draw(st.sampled_from(LICENCES))
    return Terms(
        resource_id="r1",
        status=status or draw(st.sampled_from(Resource.Status.values)),
        publisher_id=draw(st.one_of(st.none(), st.integers(1, 4))),
        has_rights=draw(st.integers(0, 19)) > 0,
        licence_id=licence["id"],
        licence_open=licence["is_open"],
        allows_derivatives=licence["allows_derivatives"],
        territory=tuple(draw(st.lists(st.sampled_from(TERRITORY_CODES), max_size=2, unique=True))),
        audience=draw(st.sampled_from(["teachers", "students", "public"])),
        price=draw(st.one_of(st.just(0), st.integers(1, 50))),
        free_for=frozenset(draw(st.sets(st.sampled_from(SchoolCategory.values), max_size=2))),
        embargo_until=draw(st.one_of(st.none(), days)),
        term_end=draw(st.one_of(st.none(), days)),
    )


@st.composite
def grant_lists(draw) -> list[GrantFact]:
    out = []
    for i in range(draw(st.integers(0, 3))):
        start = draw(instants)
        scope = draw(st.sampled_from(["school", "personal"]))
        out.append(GrantFact(grant_id=i + 1, resource_id=draw(st.sampled_from(["r1", "r2"])), scope=scope,
                             organisation_id=draw(st.integers(1, 4)),
                             user_id=draw(st.integers(1, 4)) if scope == "personal" else None,
                             starts_at=start, ends_at=start + dt.timedelta(days=draw(st.integers(1, 400)))))
    return out


def covering(subject: Subject, grants: list[GrantFact], now: dt.datetime = NOW) -> list[GrantFact]:
    return [g for g in grants if g.resource_id == "r1" and g.covers(subject, now)]


@given(subjects(), terms(), st.sampled_from(ACTIONS), grant_lists())
def test_decision_is_consistent_and_deterministic(subject, facts, action, grants):
    """allowed ⇔ an allowing reason; only ``purchase_required`` carries a price to pay; same facts, same answer."""
    decision = evaluate(subject, facts, action, grants=grants, now=NOW)
    assert decision == evaluate(subject, facts, action, grants=grants, now=NOW)
    assert decision.allowed == (decision.reason in ALLOWED_REASONS)
    assert decision.reason in ALLOWED_REASONS | REFUSAL_REASONS
    assert (decision.price > 0) == (decision.reason == Reason.PURCHASE_REQUIRED)
    if decision.reason == Reason.PURCHASE_REQUIRED:
        assert decision.price == facts.price
    assert decision.message  # every reason has a message


@given(subjects(), terms(), st.sampled_from(ACTIONS), grant_lists())
def test_only_published_resources_can_be_used(subject, facts, action, grants):
    decision = evaluate(subject, facts, action, grants=grants, now=NOW)
    if facts.status != Resource.Status.PUBLISHED:
        assert not decision.allowed
        assert decision.reason == ("withdrawn" if facts.status == "withdrawn" else "not_published")
    elif action == Action.VIEW_METADATA:
        assert decision.allowed and decision.reason == Reason.METADATA_PUBLIC


@given(subjects(), terms(status="published"), grant_lists())
def test_actions_are_nested_derive_download_preview(subject, facts, grants):
    """Whoever may derive may download, whoever may download may preview, whoever may preview sees the metadata."""
    allowed = {a: evaluate(subject, facts, a, grants=grants, now=NOW).allowed for a in ACTIONS}
    assert not allowed["derive"] or allowed["download"]
    assert not allowed["download"] or allowed["preview"]
    assert not allowed["preview"] or allowed["view_metadata"]


@given(subjects(), terms(status="published"), st.sampled_from(["preview", "download", "derive"]), grant_lists())
def test_territory_embargo_term_and_audience_bind_everyone_but_the_holder(subject, facts, action, grants):
    decision = evaluate(subject, facts, action, grants=grants, now=NOW)
    if not decision.allowed or decision.reason == Reason.OWN_RESOURCE:
        return
    assert facts.has_rights
    if facts.territory:
        assert any(region_within(subject.region, code) for code in facts.territory)
    assert facts.embargo_until is None or facts.embargo_until <= TODAY
    assert facts.term_end is None or facts.term_end >= TODAY
    if facts.audience != "public" or action != "preview":
        assert subject.authenticated
    if facts.audience == "teachers":
        assert subject.roles


@given(subjects(), terms(status="published"), grant_lists())
def test_derivatives_only_where_the_licence_allows(subject, facts, grants):
    decision = evaluate(subject, facts, "derive", grants=grants, now=NOW)
    if decision.allowed and decision.reason != Reason.OWN_RESOURCE:
        assert facts.allows_derivatives
    if not facts.allows_derivatives and subject.organisation_id != facts.publisher_id:
        assert not decision.allowed


@given(subjects(), terms(status="published"), grant_lists())
def test_free_when_open_or_priced_zero_or_free_for_the_school(subject, facts, grants):
    """Open licences, price 0 and a free-for category never need a purchase; otherwise a covering grant does."""
    decision = evaluate(subject, facts, "download", grants=grants, now=NOW)
    free_for_school = subject.organisation_kind == "school" and bool(subject.categories & facts.free_for)
    if facts.licence_open or facts.price == 0 or free_for_school:
        assert decision.reason != Reason.PURCHASE_REQUIRED
    if decision.reason == Reason.PURCHASE_REQUIRED:
        assert not covering(subject, grants)
        assert not free_for_school and not facts.licence_open and facts.price > 0
    if decision.reason == Reason.GRANT_ACTIVE:
        assert decision.grant_id in {g.grant_id for g in covering(subject, grants)}
    if decision.reason == Reason.FREE_FOR_CATEGORY:
        assert decision.free_for_you and free_for_school and facts.price > 0


@given(subjects(), terms(status="published"), st.sampled_from(ACTIONS), grant_lists(), grant_lists())
def test_more_grants_never_take_access_away(subject, facts, action, grants, more):
    before = evaluate(subject, facts, action, grants=grants, now=NOW)
    after = evaluate(subject, facts, action, grants=[*grants, *more], now=NOW)
    assert not before.allowed or after.allowed


@given(subjects(), terms(status="published"), st.sampled_from(ACTIONS), st.sets(st.sampled_from(SchoolCategory.values)))
def test_more_school_categories_never_take_access_away(subject, facts, action, extra):
    before = evaluate(subject, facts, action, now=NOW)
    widened = Subject(**{**subject.__dict__, "categories": subject.categories | extra})
    assert not before.allowed or evaluate(widened, facts, action, now=NOW).allowed


@st.composite
def priced_for_a_teacher(draw) -> tuple[Subject, Terms]:
    """A school teacher inside the territory, and a priced all-rights-reserved resource not free for them."""
    region = draw(st.sampled_from(REGIONS))
    categories = frozenset(draw(st.sets(st.sampled_from(SchoolCategory.values))))
    subject = Subject(authenticated=True, user_id=draw(st.integers(1, 4)), roles=frozenset({"teacher"}),
                      organisation_id=draw(st.integers(1, 4)), organisation_kind="school", region=region,
                      categories=categories)
    facts = Terms(resource_id="r1", status="published", publisher_id=draw(st.one_of(st.none(), st.integers(5, 9))),
                  licence_id="ALL-RIGHTS-RESERVED", licence_open=False, allows_derivatives=False,
                  territory=draw(st.sampled_from([(), (region[:2] + "0000",), (region[:4] + "00", "650000")])),
                  audience=draw(st.sampled_from(["teachers", "students", "public"])), price=draw(st.integers(1, 50)),
                  free_for=frozenset(set(SchoolCategory.values) - categories) if draw(st.booleans()) else frozenset(),
                  embargo_until=draw(st.one_of(st.none(), days.filter(lambda d: d <= TODAY))),
                  term_end=draw(st.one_of(st.none(), days.filter(lambda d: d >= TODAY))))
    return subject, facts


@given(priced_for_a_teacher())
def test_a_covering_grant_is_exactly_what_a_purchase_required_decision_lacks(case):
    """A priced resource needs a purchase; a school-wide grant in force lifts that for its term only, and
    another teacher's personal grant does not."""
    subject, facts = case
    decision = evaluate(subject, facts, "download", now=NOW)
    assert decision.reason == Reason.PURCHASE_REQUIRED and decision.price == facts.price
    bought = GrantFact(grant_id=99, resource_id="r1", scope="school", organisation_id=subject.organisation_id,
                       user_id=None, starts_at=NOW, ends_at=NOW + dt.timedelta(days=30))
    assert evaluate(subject, facts, "download", grants=[bought], now=NOW).reason == Reason.GRANT_ACTIVE
    expired = evaluate(subject, facts, "download", grants=[bought], now=bought.ends_at)
    assert not expired.allowed and expired.reason in {Reason.PURCHASE_REQUIRED, Reason.RIGHTS_EXPIRED}
    others = GrantFact(grant_id=98, resource_id="r1", scope="personal", organisation_id=subject.organisation_id,
                       user_id=subject.user_id + 1, starts_at=NOW, ends_at=NOW + dt.timedelta(days=30))
    assert evaluate(subject, facts, "download", grants=[others], now=NOW).reason == Reason.PURCHASE_REQUIRED
    assert evaluate(subject, facts, "derive", grants=[bought], now=NOW).reason == Reason.DERIVATIVES_NOT_ALLOWED


@given(st.sampled_from(REGIONS), st.sampled_from(TERRITORY_CODES))
def test_region_within_follows_the_gbt2260_hierarchy(region, code):
    """A province code covers its prefectures and counties, a prefecture code its counties."""
    if code.endswith("0000"):
        expected = region[:2] == code[:2]
    elif code.endswith("00"):
        expected = region[:4] == code[:4]
    else:
        expected = region == code
    assert region_within(region, code) == expected
    assert not region_within("", code)


def test_unknown_action_is_a_programming_error():
    with pytest.raises(ValueError, match="'copy' is not a valid Action"):
        evaluate(Subject(), Terms(resource_id="r1", status="published"), "copy", now=NOW)


@pytest.mark.django_db
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    licence=st.sampled_from([lic["id"] for lic in LICENCES]),
    price=st.integers(0, 9),
    free_for=st.sets(st.sampled_from(SchoolCategory.values), max_size=2),
    territory=st.lists(st.sampled_from(["440000", "110000", "650000"]), max_size=2, unique=True),
    audience=st.sampled_from(["teachers", "students", "public"]),
    embargo=st.one_of(st.none(), st.integers(-30, 30)),
    who=st.sampled_from(["teacher", "rural_teacher", "far_teacher", "publisher", "reviewer", None]),
    action=st.sampled_from(ACTIONS),
)
def test_decide_reads_the_same_facts_from_the_models(users, make_resource, licence, price, free_for, territory,
                                                     audience, embargo, who, action):
    """``decide(user, resource, action)`` on real rows equals ``evaluate`` on hand-written facts."""
    from django.contrib.auth.models import AnonymousUser
    from django.utils import timezone

    today = timezone.localdate()
    resource = make_resource(license=licence, price=price, free_for=sorted(free_for), territory=territory,
                             audience=audience,
                             embargo_until=None if embargo is None else today + dt.timedelta(days=embargo))
    user = users[who] if who else AnonymousUser()
    org = getattr(user, "organisation", None)
    facts_subject = Subject() if who is None else Subject(
        authenticated=True, user_id=user.pk, roles=frozenset(r for r in Role.values if user.groups.filter(name=r).exists()),
        organisation_id=org.pk, organisation_kind=org.kind, region=org.region_id, categories=frozenset(org.categories))
    lic = next(item for item in LICENCES if item["id"] == licence)
    facts_terms = Terms(resource_id=str(resource.pk), status="published", publisher_id=resource.publisher_id,
                        licence_id=licence, licence_open=lic["is_open"], allows_derivatives=lic["allows_derivatives"],
                        territory=tuple(territory), audience=audience, price=price, free_for=frozenset(free_for),
                        embargo_until=None if embargo is None else today + dt.timedelta(days=embargo))
    resource = Resource.objects.select_related("rights__license").get(pk=resource.pk)
    assert subject_of(user) == facts_subject
    assert terms_of(resource) == facts_terms
    now = timezone.now()
    assert decide(user, resource, action, now=now) == evaluate(facts_subject, facts_terms, action, now=now)
