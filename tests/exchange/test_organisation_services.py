"""Setting a school's categories decides free use: the service itself checks who may (not only the page)."""

from __future__ import annotations

import pytest

from exchange.errors import PermissionDeniedError
from exchange.models import AuditEvent
from exchange.services import organisation_set_categories


def test_a_province_administrator_sets_categories_of_a_school_of_their_province(users, orgs):
    school = organisation_set_categories(organisation=orgs["city_school"], categories=["rural", "rural"],
                                         actor=users["province_admin"])
    school.refresh_from_db()
    assert school.categories == ["rural"]
    assert AuditEvent.objects.filter(action="organisation.categories", object_id=str(school.pk)).exists()


@pytest.mark.parametrize("who", ["teacher", "school_admin", "reviewer", "publisher", "hub_operator"])
def test_anyone_else_is_refused_and_nothing_changes(users, orgs, who):
    school = orgs["city_school"]
    before = list(school.categories)
    with pytest.raises(PermissionDeniedError):
        organisation_set_categories(organisation=school, categories=["rural"], actor=users[who])
    school.refresh_from_db()
    assert school.categories == before


def test_a_province_administrator_is_refused_for_another_provinces_school(users, orgs):
    with pytest.raises(PermissionDeniedError):
        organisation_set_categories(organisation=orgs["far_school"], categories=["rural"], actor=users["province_admin"])
