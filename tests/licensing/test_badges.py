"""Search badges: each hit says whether this user may download it, why and at what price — computed by
the same decide() rules as downloads, for a whole page of hits in a constant number of queries."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.db import connection
from django.test.utils import CaptureQueriesContext

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
