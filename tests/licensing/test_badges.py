"""Search badges: each hit says whether this user may download it, why and at what price — computed by
the same decide() rules as downloads, for a whole page of hits in a constant number of queries."""

from __future__ import annotations

import datetime as dt
import uuid

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils.module_loading import import_string

from catalog.models import Resource
from licensing.badges import annotate_search_hits
from licensing.services import grant_purchase


def badges(user, resources) -> list[dict]:
    hits = [{"id": str(r.pk) if hasattr(r, "pk") else r, "title": "x"} for r in resources]
    annotate_search_hits(user=user, hits=hits)
    assert all(hit["title"] == "x" for hit in hits)  # other fields untouched
    return [hit["access"] for hit in hits]


def test_badges_for_each_kind_of_user(users, fund, priced, make_resource):
    open_resource = make_resource()
    withdrawn = make_resource(status=Resource.Status.WITHDRAWN)
    gone = str(uuid.uuid4())
    resources = [open_resource, priced, withdrawn, gone]
    assert badges(users["teacher"], resources) == [
        {"allowed": True, "reason": "open_licence", "price": 0, "free_for_you": False},
        {"allowed": False, "reason": "purchase_required", "price": 5, "free_for_you": False},
        {"allowed": False, "reason": "withdrawn", "price": 0, "free_for_you": False},
        {"allowed": False, "reason": "not_published", "price": 0, "free_for_you": False},
    ]
    assert badges(users["rural_teacher"], [priced]) == [
        {"allowed": True, "reason": "free_for_category", "price": 0, "free_for_you": True}]
    assert badges(users["far_teacher"], [priced]) == [
        {"allowed": False, "reason": "outside_territory", "price": 0, "free_for_you": False}]
    assert badges(AnonymousUser(), [open_resource]) == [
        {"allowed": False, "reason": "login_required", "price": 0, "free_for_you": False}]
    fund("city_school", 1)
    grant_purchase(buyer=users["teacher"], resource=priced, scope="school")
    assert badges(users["school_admin"], [priced]) == [
        {"allowed": True, "reason": "grant_active", "price": 0, "free_for_you": False}]


def test_a_page_of_hits_costs_a_constant_number_of_queries(users, make_resource, province):
    few = [make_resource(license="ALL-RIGHTS-RESERVED", price=3, territory=[province]) for _ in range(2)]
    many = few + [make_resource(license="ALL-RIGHTS-RESERVED", price=3, territory=[province]) for _ in range(18)]
    teacher = users["teacher"].__class__.objects.get(pk=users["teacher"].pk)  # no cached roles or organisation
    with CaptureQueriesContext(connection) as small:
        badges(teacher, few)
    teacher = teacher.__class__.objects.get(pk=teacher.pk)
    with CaptureQueriesContext(connection) as large:
        badges(teacher, many)
    assert len(large.captured_queries) == len(small.captured_queries) <= 4


def test_empty_pages_cost_nothing(users, django_assert_num_queries):
    with django_assert_num_queries(0):
        annotate_search_hits(user=users["teacher"], hits=[])


def test_registered_as_a_search_result_annotator():
    assert "licensing.badges.annotate_search_hits" in settings.CATALOG_SEARCH_RESULT_ANNOTATORS


def test_a_page_of_hits_reads_only_what_decisions_need(users, make_resource, province):
    """20 hits load 20 resources with their rights and licence: not their descriptions, keywords or
    other text (the search hit has them already), and still one query for all of them."""
    hits = [make_resource(license="ALL-RIGHTS-RESERVED", price=3, territory=[province]) for _ in range(20)]
    teacher = users["teacher"].__class__.objects.get(pk=users["teacher"].pk)
    with CaptureQueriesContext(connection) as captured:
        decided = badges(teacher, hits)
    assert all(d["reason"] == "purchase_required" for d in decided)
    [resources] = [q["sql"] for q in captured.captured_queries if "catalog_rightsstatement" in q["sql"]]
    for column in ("description", "keywords", "title", "chapter", '"holder"', "attribution"):
        assert column not in resources, column


def test_badges_and_covers_are_decide_of_each_resource(orgs, users, fund, make_resource, province):
    """Over a spread of rights (open, priced, free for a category, embargoed, territory, term ended, ND,
    public, withdrawn, draft, no rights statement) and every kind of user, the badge of each hit is
    ``decide(download)`` of its resource and the cover is there exactly when the resource has one and
    ``decide(preview)`` allows it: the facts read as plain values decide like the models."""
    from django.urls import reverse

    from catalog.models import FilePreview, RightsStatement
    from exchange.services import user_create
    from licensing.decisions import Action, decide
    from tests.factories import store_file

    today = dt.date.today()
    other_province = "650000" if province != "650000" else "540000"
    resources = [
        make_resource(),
        make_resource(license="ALL-RIGHTS-RESERVED", price=5, free_for=["rural"], territory=[province]),
        make_resource(license="ALL-RIGHTS-RESERVED", price=0),
        make_resource(license="ALL-RIGHTS-RESERVED", price=2, audience="public"),
        make_resource(embargo_until=today + dt.timedelta(days=3)),
        make_resource(embargo_until=today - dt.timedelta(days=3), audience="students"),
        make_resource(territory=[other_province]),
        make_resource(license="CC-BY-ND-4.0", audience="public", territory=[province]),
        make_resource(publisher="other_publisher", license="ALL-RIGHTS-RESERVED", price=1),
        make_resource(status=Resource.Status.WITHDRAWN),
        make_resource(status=Resource.Status.DRAFT),
        make_resource(audience="public"),
        make_resource(license="ALL-RIGHTS-RESERVED", price=0, audience="students"),
        make_resource(),
    ]
    RightsStatement.objects.filter(resource=resources[-1]).delete()  # no rights statement
    RightsStatement.objects.filter(resource=resources[2]).update(term_end=today - dt.timedelta(days=1))
    fund("city_school", 1)
    grant_purchase(buyer=users["teacher"], resource=resources[8], scope="personal")
    for resource in resources:  # every other one has a ready cover, one only on a file not stored here
        file = resource.files.get()
        if resources.index(resource) % 2 == 0:
            FilePreview.objects.create(sha256=file.sha256, mime=file.mime, status=FilePreview.Status.READY,
                                       has_cover=True)
    extra = store_file(resources[1], "封面.pdf", b"%PDF-1.4 another body")
    extra.position = 1
    extra.save(update_fields=["position"])
    FilePreview.objects.create(sha256=extra.sha256, mime=extra.mime, status=FilePreview.Status.READY, has_cover=True)
    resources[3].files.update(available_locally=False)
    FilePreview.objects.create(sha256=resources[3].files.get().sha256, mime="application/pdf",
                               status=FilePreview.Status.READY, has_cover=True)
    has_cover = {str(r.pk) for i, r in enumerate(resources) if i % 2 == 0} | {str(resources[1].pk)}

    everyone = [AnonymousUser(), *users.values(),
                user_create(username="pupil", password=None, organisation=orgs["city_school"])]  # no node role
    for user in everyone:
        hits = [{"id": str(r.pk)} for r in resources]
        for path in settings.CATALOG_SEARCH_RESULT_ANNOTATORS:
            import_string(path)(user=user, hits=hits)
        for hit, resource in zip(hits, resources, strict=True):
            fresh = Resource.objects.select_related("rights__license").get(pk=resource.pk)
            download = decide(user, fresh, Action.DOWNLOAD)
            assert hit["access"] == {"allowed": download.allowed, "reason": download.reason, "price": download.price,
                                     "free_for_you": download.free_for_you}, (user, resources.index(resource))
            may_preview = decide(user, fresh, Action.PREVIEW).allowed and str(resource.pk) in has_cover
            assert hit["cover"] == (reverse("resource-cover", args=[resource.pk]) if may_preview else None), (
                user, resources.index(resource))
    reasons = set()
    for user in everyone:
        hits = [{"id": str(r.pk)} for r in resources]
        annotate_search_hits(user=user, hits=hits)
        reasons |= {hit["access"]["reason"] for hit in hits}
    assert reasons >= {"open_licence", "purchase_required", "free_for_category", "embargoed", "outside_territory",
                       "withdrawn", "not_published", "rights_unknown", "rights_expired", "own_resource",
                       "login_required", "audience_restricted", "grant_active", "free_of_charge"}


def test_a_page_of_badges_and_covers_reads_the_resources_once_without_models(users, make_resource, province):
    """The search annotators decide 20 hits — access and cover — from one query of the resources (their
    decision facts and covers as plain values), not a query per annotator, and build no model for them."""
    from django.db.models.signals import post_init

    from catalog.models import License, RightsStatement

    hits = [{"id": str(make_resource(license="ALL-RIGHTS-RESERVED", price=3, territory=[province]).pk)}
            for _ in range(20)]
    teacher = users["teacher"].__class__.objects.get(pk=users["teacher"].pk)
    built = []

    def count(sender, **kwargs):
        built.append(sender)

    for model in (Resource, RightsStatement, License):
        post_init.connect(count, sender=model)
    try:
        with CaptureQueriesContext(connection) as captured:
            for path in settings.CATALOG_SEARCH_RESULT_ANNOTATORS:
                import_string(path)(user=teacher, hits=hits)
    finally:
        for model in (Resource, RightsStatement, License):
            post_init.disconnect(count, sender=model)
    assert all(hit["access"]["reason"] == "purchase_required" and hit["cover"] is None for hit in hits)
    catalog_reads = [q["sql"] for q in captured.captured_queries if '"catalog_' in q["sql"]]
    assert len(catalog_reads) == 1, catalog_reads
    assert built == []


def test_decision_facts_read_what_the_orm_reads_for_any_number_of_ids(make_resource, province):
    """The facts query is compiled once per number of ids and reused: for pages of several sizes (and
    the same size twice, other ids), with ids that are no resource or no UUID, each row is what the ORM
    reads of the resource (and its cover, which none of these has)."""
    from catalog.models import RightsStatement
    from catalog.usage import DECISION_COLUMNS, decision_facts

    resources = [make_resource(license="ALL-RIGHTS-RESERVED", price=i, territory=[province] if i % 2 else [],
                               free_for=["rural"] if i % 3 else [], embargo_until=dt.date(2030, 1, i + 1))
                 for i in range(6)]
    RightsStatement.objects.filter(resource=resources[0]).delete()
    ids = [str(r.pk) for r in resources]
    for page in (ids[:1], ids[1:4], ids[3:6], [*ids, str(uuid.uuid4()), "not-a-uuid"]):
        found = Resource.objects.filter(pk__in=[i for i in page if i != "not-a-uuid"])
        expected = {}
        for values in found.values_list(*DECISION_COLUMNS.values()):
            row = dict(zip(DECISION_COLUMNS, values, strict=True))
            expected[str(row["id"])] = {**row, "id": str(row["id"]), "has_rights": row["has_rights"] is not None}
        assert len(expected) == len(set(page) - {"not-a-uuid"}) - (len(page) > 6)
        for with_cover in (False, True):
            rows = decision_facts(page, with_cover=with_cover)
            assert {row["id"]: {k: v for k, v in row.items() if k != "cover"} for row in rows} == expected
            assert all(row["cover"] is None for row in rows) if with_cover else all("cover" not in r for r in rows)
