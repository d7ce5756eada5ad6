"""Object rights on resources live in django-guardian's foreign-key tables: guardian joins on the key instead
of casting the generic tables' text keys to UUID (which PostgreSQL may try on other models' integer keys
and fail on, depending on the plan), and the rows go with the resource. Existing generic rows are moved
by the migration."""

from __future__ import annotations

import pytest
from django.apps import apps as django_apps
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from guardian.models import GroupObjectPermission, UserObjectPermission
from guardian.shortcuts import get_objects_for_user

from catalog.models import Resource, ResourceGroupObjectPermission
from catalog.permissions import can_edit, can_review
from exchange.object_permissions import move_generic_object_permissions
from tests.factories import ResourceFactory

pytestmark = pytest.mark.django_db


def test_rights_on_a_resource_are_rows_of_its_own_table_and_go_with_it(users, orgs):
    resource = ResourceFactory(publisher=orgs["publisher"], status=Resource.Status.SUBMITTED)
    generic = GroupObjectPermission.objects.filter(content_type=ContentType.objects.get_for_model(Resource))
    assert not generic.exists()
    rows = ResourceGroupObjectPermission.objects.filter(content_object=resource)
    assert set(rows.values_list("permission__codename", flat=True)) == {"change_resource", "review_resource"}
    assert can_edit(users["publisher"], resource) and can_review(users["reviewer"], resource)
    assert resource in get_objects_for_user(users["reviewer"], "catalog.review_resource", klass=Resource,
                                            accept_global_perms=False)
    resource.delete()
    assert not ResourceGroupObjectPermission.objects.exists()


def test_the_migration_step_moves_generic_rows_of_resources_and_drops_orphans(users, orgs):
    """``move_generic_object_permissions`` as the migration runs it (the app registry stands in for the
    migration state: the same models)."""
    resource = ResourceFactory(publisher=orgs["publisher"], status=Resource.Status.SUBMITTED)
    ResourceGroupObjectPermission.objects.all().delete()
    resource_type = ContentType.objects.get_for_model(Resource)
    group = users["reviewer"].groups.first()
    review = Permission.objects.get(codename="review_resource")
    GroupObjectPermission.objects.bulk_create([
        GroupObjectPermission(group=group, permission=review, content_type=resource_type, object_pk=str(resource.pk)),
        GroupObjectPermission(group=group, permission=review, content_type=resource_type,  # a deleted resource's
                              object_pk="00000000-0000-4000-8000-000000000000")])
    UserObjectPermission.objects.bulk_create([UserObjectPermission(
        user=users["teacher"], permission=review, content_type=resource_type, object_pk=str(resource.pk))])
    move_generic_object_permissions(django_apps, None, app_label="catalog", model="Resource")
    assert not GroupObjectPermission.objects.filter(content_type=resource_type).exists()
    assert not UserObjectPermission.objects.filter(content_type=resource_type).exists()
    assert list(ResourceGroupObjectPermission.objects.values_list("content_object_id", "group_id")) == [
        (resource.pk, group.pk)]
    assert users["teacher"].has_perm("catalog.review_resource", Resource.objects.get(pk=resource.pk))
