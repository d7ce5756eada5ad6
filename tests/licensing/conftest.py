"""Fixtures of the licensing tests: priced resources, funded schools, helpers to act through the API."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from catalog.models import Resource
from licensing import services
from tests.factories import ResourceFactory


@pytest.fixture(autouse=True)
def isolated_search_index(settings, tmp_path):
    """Indexing jobs (run when a test executes on-commit callbacks) write into this test's own index."""
    settings.CATALOG_SEARCH_DIR = tmp_path / "search"
    settings.ELASTICSEARCH_INDEX_PREFIX = f"test-licensing-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def students(orgs):
    """Give the demo schools students, so they can be funded per student."""
    for key, count in (("city_school", 120), ("rural_school", 40), ("far_school", 80)):
        orgs[key].student_count = count
        orgs[key].save(update_fields=["student_count"])
    return orgs


@pytest.fixture
def make_resource(orgs):
    """``make_resource(**rights)``: a published resource of the province's publisher (CC BY unless told)."""

    def make(publisher: str = "publisher", **kwargs: Any) -> Resource:
        return ResourceFactory(publisher=orgs[publisher], **kwargs)

    return make


@pytest.fixture
def priced(make_resource, province):
    """An all-rights-reserved resource for 5 vouchers, free for rural schools, licensed in the province."""
    return make_resource(license="ALL-RIGHTS-RESERVED", price=5, free_for=["rural"], territory=[province])


@pytest.fixture
def fund(users, students):
    """``fund(school_key, per_student)``: the province administrator funds a school's vouchers."""

    def do(school: str = "city_school", per_student: int = 1):
        return services.vouchers_fund(actor=users["province_admin"], school=students[school], per_student=per_student)

    return do
