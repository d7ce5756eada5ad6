"""Object rights on resources live in django-guardian's foreign-key tables: guardian joins on the key instead
of casting the generic tables' text keys to UUID (which PostgreSQL may try on other models' integer keys
and fail on, depending on the plan), and the rows go with the resource. Existing generic rows are moved
by the migration."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from guardian.models import GroupObjectPermission, UserObjectPermission
from guardian.shortcuts import get_objects_for_user

from catalog.models import Resource, ResourceGroupObjectPermission
from catalog.permissions import can_edit, can_review
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


@pytest.mark.django_db(transaction=True)
def test_the_migration_moves_generic_rows_of_resources_and_only_those(users, orgs):
    resource = ResourceFactory(publisher=orgs["publisher"], status=Resource.Status.SUBMITTED)
    executor = MigrationExecutor(connection)
    executor.migrate([("catalog", "0012_school_sharing_consent")])
    resource_type = ContentType.objects.get_for_model(Resource)
    group = users["reviewer"].groups.first()
    review = Permission.objects.get(codename="review_resource")
    GroupObjectPermission.objects.create(group=group, permission=review, content_type=resource_type,
                                         object_pk=str(resource.pk))
    UserObjectPermission.objects.create(user=users["teacher"], permission=review, content_type=resource_type,
                                        object_pk=str(resource.pk))
    GroupObjectPermission.objects.bulk_create([GroupObjectPermission(  # a row left by a deleted resource
        group=group, permission=review, content_type=resource_type, object_pk="00000000-0000-4000-8000-000000000000")])
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
    assert not GroupObjectPermission.objects.filter(content_type=resource_type).exists()
    assert not UserObjectPermission.objects.filter(content_type=resource_type).exists()
    assert ResourceGroupObjectPermission.objects.filter(content_object=resource, group=group).exists()
    assert users["teacher"].has_perm("catalog.review_resource", Resource.objects.get(pk=resource.pk))
