"""Bulk INSERT for the hot write paths (federation apply and relay): the rows ``bulk_create`` writes,
at a fraction of its cost.

``QuerySet.bulk_create`` compiles every value of every row through the SQL compiler (pre_save,
get_db_prep_save, placeholder expressions, one multi-row statement per batch); for 500 records of 30
columns that is most of the time a federation page takes to apply. ``insert_rows`` decides once per
column how to adapt its values — as is for str/int/bool/None in text, integer and boolean columns,
through the field's own ``pre_save``/``get_db_prep_save`` for everything else (UUIDs, dates, JSON,
foreign keys, auto_now) — and hands the rows to the driver's ``executemany`` with one statement.

Differences from ``bulk_create``, on purpose: primary keys the database assigns are not read back,
instances are not marked as saved, and no signals are sent (``bulk_create`` sends none either).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from django.db import connections, models, router
from django.db.models.fields import AutoFieldMixin

_NATIVE = frozenset({str, int, bool, type(None)})
_PLAIN_FIELDS = (models.CharField, models.TextField, models.IntegerField, models.BooleanField)


def insert_rows(model: type[models.Model], objs: Sequence[models.Model], *, batch_size: int = 1000) -> None:
    """INSERT ``objs`` (instances of ``model``, not saved yet) in the current transaction.

    An auto-increment primary key is left to the database when no instance sets it. Raises the
    database's IntegrityError like ``bulk_create`` for duplicate keys or missing required values.
    """
    if not objs:
        return
    connection = connections[router.db_for_write(model)]
    meta = model._meta
    columns: list[str] = []
    adapters: list[Callable[[models.Model], Any]] = []
    for field in meta.concrete_fields:
        if isinstance(field, AutoFieldMixin) and all(getattr(obj, field.attname) is None for obj in objs):
            continue
        columns.append(connection.ops.quote_name(field.column))
        adapters.append(_adapter(field, connection))
    table = connection.ops.quote_name(meta.db_table)
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})"  # noqa: S608
    with connection.cursor() as cursor:
        for start in range(0, len(objs), batch_size):
            cursor.executemany(sql, [[adapt(obj) for adapt in adapters] for obj in objs[start:start + batch_size]])


def _adapter(field: models.Field, connection: Any) -> Callable[[models.Model], Any]:
    attname = field.attname
    if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
        return lambda obj: field.get_db_prep_save(field.pre_save(obj, True), connection)
    if isinstance(field, _PLAIN_FIELDS):
        def plain(obj: models.Model) -> Any:
            value = getattr(obj, attname)
            return value if type(value) in _NATIVE else field.get_db_prep_save(value, connection)

        return plain
    return lambda obj: field.get_db_prep_save(getattr(obj, attname), connection)
