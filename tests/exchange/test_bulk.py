"""``insert_rows`` writes exactly the rows ``bulk_create`` writes (on SQLite and, in the PostgreSQL
lane, on PostgreSQL): every column type the hot paths use — UUIDs, foreign keys, JSON, dates,
datetimes, choices, auto_now_add and database-assigned keys."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.db import IntegrityError, transaction
from django.forms.models import model_to_dict
from django.utils import timezone

from catalog.models import License, Resource, ResourceFile, RightsStatement
from exchange.bulk import insert_rows
from federation.models import OutboxEntry, RemoteRecord

pytestmark = pytest.mark.django_db


def _keyed(resources: list[Resource]) -> list[Resource]:
    """A local record's id is its key (bulk writes do not call ``save``, which would set it)."""
    for resource in resources:
        resource.record_id = resource.pk
    return resources


def _resources(n: int, tag: str) -> list[Resource]:
    moment = dt.datetime(2024, 9, 1, 8, 30, 15, tzinfo=dt.UTC)
    return _keyed([
        Resource(title=f"{tag} 七年级数学 有理数 {i}", description="含 \"引号\" 与 \\ 反斜杠\n换行", keywords=["有理数", tag],
                 stage="初中", subject="数学", grade="七年级", status=Resource.Status.PUBLISHED, is_remote=True,
                 origin_node="cn-44", version=i + 1, created_at=moment, updated_at=moment, published_at=moment)
        for i in range(n)
    ])


def _rights(resources: list[Resource]) -> list[RightsStatement]:
    return [RightsStatement(resource=r, holder="广东教育出版社", year=2024, license_id="CC-BY-4.0", price=3,
                            territory=["440000"], free_for=["rural"], term_end=dt.date(2030, 12, 31),
                            derived_from=uuid.UUID(int=7)) for r in resources]


def _files(resources: list[Resource]) -> list[ResourceFile]:
    return [ResourceFile(resource=r, sha256=f"{i:064x}", size=1000 + i, mime="application/pdf",
                         original_name=f"课件 {i}.pdf", storage_key=f"blobs/{i:064x}", available_locally=False)
            for i, r in enumerate(resources)]


def _values(obj, leave_out=frozenset()) -> dict:
    """The row an instance would be saved as, by attname, as the hot paths build them (without
    the fields they leave to their defaults)."""
    return {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields if f.attname not in leave_out}


def _rows(model, pks) -> list[dict]:
    fields = [f.name for f in model._meta.concrete_fields
              if not f.primary_key and f.name not in ("resource", "record_id")]  # both follow the key
    return sorted((model_to_dict(obj, fields=fields) for obj in model.objects.filter(pk__in=pks)), key=repr)


def test_insert_rows_writes_what_bulk_create_writes() -> None:
    License.objects.get_or_create(id="CC-BY-4.0", defaults={"name": "CC BY 4.0"})
    by_orm, by_insert = _resources(3, "x"), _resources(3, "x")
    Resource.objects.bulk_create(by_orm)
    insert_rows(Resource, [_values(r) for r in by_insert])
    assert _rows(Resource, [r.pk for r in by_orm]) == _rows(Resource, [r.pk for r in by_insert])
    assert Resource.objects.get(pk=by_insert[0].pk).keywords == ["有理数", "x"]

    RightsStatement.objects.bulk_create(_rights(by_orm))
    insert_rows(RightsStatement, [_values(r) for r in _rights(by_insert)])
    orm_rights = _rows(RightsStatement, [r.pk for r in by_orm])
    assert orm_rights == _rows(RightsStatement, [r.pk for r in by_insert])
    assert orm_rights[0]["term_end"] == dt.date(2030, 12, 31) and orm_rights[0]["territory"] == ["440000"]

    before = timezone.now()
    ResourceFile.objects.bulk_create(_files(by_orm))
    insert_rows(ResourceFile, [_values(f, leave_out={"id", "created_at"}) for f in _files(by_insert)])
    inserted = ResourceFile.objects.filter(resource__in=by_insert).order_by("size")
    assert [f.created_at >= before for f in inserted] == [True] * 3  # auto_now_add filled in
    assert ([model_to_dict(f, exclude=["id", "resource", "created_at"]) for f in inserted]
            == [model_to_dict(f, exclude=["id", "resource", "created_at"])
                for f in ResourceFile.objects.filter(resource__in=by_orm).order_by("size")])


def test_insert_rows_leaves_auto_keys_to_the_database_and_keeps_given_keys() -> None:
    now = timezone.now()
    records = [{"origin": "cn-44", "resource_id": uuid.uuid4(), "version": 1, "kind": "upsert",
                "content_hash": "ab" * 32, "received_from": "cn-hub", "applied_at": now} for _ in range(4)]
    insert_rows(RemoteRecord, records)
    assert RemoteRecord.objects.count() == 4
    assert len(set(RemoteRecord.objects.values_list("pk", flat=True))) == 4
    assert RemoteRecord.objects.filter(resource_id=records[2]["resource_id"]).get().applied_at == now

    entries = [{"seq": seq, "origin": "cn-44", "resource_id": str(uuid.uuid4()), "version": 2, "kind": "upsert",
                "envelope": '{"id":"…"}', "content_hash": "cd" * 32, "created_at": now} for seq in (10, 11)]
    insert_rows(OutboxEntry, entries)
    assert list(OutboxEntry.objects.values_list("seq", "envelope")) == [(10, '{"id":"…"}'), (11, '{"id":"…"}')]


def test_insert_rows_fails_like_bulk_create_on_a_duplicate_key() -> None:
    now = timezone.now()
    entry = {"origin": "cn-44", "version": 1, "kind": "upsert", "envelope": "{}", "content_hash": "0" * 64,
             "created_at": now}
    insert_rows(OutboxEntry, [{"seq": 1, "resource_id": uuid.uuid4(), **entry}])
    with pytest.raises(IntegrityError), transaction.atomic():
        insert_rows(OutboxEntry, [{"seq": 2, "resource_id": uuid.uuid4(), **entry},
                                  {"seq": 1, "resource_id": uuid.uuid4(), **entry}])
    assert list(OutboxEntry.objects.values_list("seq", flat=True)) == [1]  # the failed batch left nothing


def test_insert_rows_stores_the_very_values_django_stores() -> None:
    """Byte for byte, not only equal once read back: datetimes (with and without microseconds, in
    UTC and another zone), UUIDs, and ids given as text."""
    from django.db import connection

    License.objects.get_or_create(id="CC-BY-4.0", defaults={"name": "CC BY 4.0"})
    shanghai = dt.timezone(dt.timedelta(hours=8))
    moments = [dt.datetime(2024, 9, 1, 8, 30, 15, tzinfo=dt.UTC), dt.datetime(2024, 9, 1, 8, 30, 15, 250, tzinfo=dt.UTC),
               dt.datetime(2024, 9, 1, 16, 30, 15, tzinfo=shanghai)]
    by_orm = _keyed([Resource(title=f"t{i}", created_at=m, updated_at=m, published_at=m) for i, m in enumerate(moments)])
    by_insert = _keyed([Resource(title=f"t{i}", created_at=m, updated_at=m, published_at=m)
                        for i, m in enumerate(moments)])
    Resource.objects.bulk_create(by_orm)
    insert_rows(Resource, [_values(r) for r in by_insert])
    given_as_text = {**_values(_rights(by_insert[:1])[0]), "resource_id": str(by_insert[0].pk)}
    RightsStatement.objects.filter(resource=by_insert[0]).delete()
    insert_rows(RightsStatement, [given_as_text])

    def raw(table: str, pks: list) -> list[tuple]:
        with connection.cursor() as cursor:
            columns = "CAST(created_at AS TEXT), CAST(updated_at AS TEXT), CAST(published_at AS TEXT)"
            marks = ", ".join(["%s"] * len(pks))
            cursor.execute(f"SELECT {columns} FROM {table} WHERE id IN ({marks}) ORDER BY title", pks)  # noqa: S608
            return cursor.fetchall()  # as text: as the database orders and compares them

    prep = Resource._meta.pk.get_db_prep_value
    assert raw("catalog_resource", [prep(r.pk, connection) for r in by_orm]) == raw(
        "catalog_resource", [prep(r.pk, connection) for r in by_insert])
    assert RightsStatement.objects.get(resource=by_insert[0]).derived_from == uuid.UUID(int=7)


def test_insert_rows_of_nothing_does_nothing() -> None:
    insert_rows(RemoteRecord, [])
    assert RemoteRecord.objects.count() == 0


def test_left_out_fields_get_what_a_new_instance_holds() -> None:
    """Defaults (callable ones per row), "" for text without a default, auto_now_add now."""
    License.objects.get_or_create(id="CC-BY-4.0", defaults={"name": "CC BY 4.0"})
    moment = timezone.now()
    rows = [{"id": (key := uuid.uuid4()), "record_id": key, "title": f"t{i}", "created_at": moment,
             "updated_at": moment} for i in range(2)]
    insert_rows(Resource, rows)
    stored = Resource.objects.get(pk=rows[0]["id"])
    fresh = Resource()
    assert (stored.status, stored.version, stored.keywords, stored.language, stored.description) == (
        fresh.status, fresh.version, fresh.keywords, fresh.language, fresh.description)
    insert_rows(ResourceFile, [{"resource_id": row["id"], "sha256": "e" * 64, "size": 1, "mime": "application/pdf",
                                "original_name": "a.pdf", "storage_key": "k"} for row in rows])
    files = list(ResourceFile.objects.all())
    assert len({f.pk for f in files}) == 2 and all(f.created_at >= moment for f in files)


def test_unknown_keys_are_refused() -> None:
    with pytest.raises(KeyError, match="nonsense"):
        insert_rows(RemoteRecord, [{"origin": "cn-44", "nonsense": 1}])
