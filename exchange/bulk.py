"""Bulk INSERT for the hot write paths (federation apply and relay): the rows ``bulk_create`` writes,
at a fraction of its cost.

``QuerySet.bulk_create`` needs a model instance per row (``Model.__init__`` with 30 keyword arguments
is slow) and compiles every value of every row through the SQL compiler; for a federation page of
500 records that was most of the time it took to apply. ``insert_rows`` takes plain dicts, decides
once per column how to adapt its values — as is for str/int/bool/None in text, integer and boolean
columns, through the field's own ``get_db_prep_save`` for everything else (UUIDs, dates, JSON) — and
hands the rows to the driver's ``executemany`` as one statement.

Like ``bulk_create`` it sends no signals. Unlike it, keys the database assigns are not read back.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from django.db import connections, models, router
from django.db.models.fields import AutoFieldMixin
from django.utils import timezone

_NATIVE = frozenset({str, int, bool, type(None)})
_PLAIN_FIELDS = (models.CharField, models.TextField, models.IntegerField, models.BooleanField)
_MISSING = object()


def insert_rows(model: type[models.Model], rows: Sequence[Mapping[str, Any]], *, batch_size: int = 1000) -> None:
    """INSERT ``rows`` into ``model``'s table in the current transaction.

    Each row maps field attnames (``resource_id`` for a foreign key) to Python values, as they would
    be set on a model instance. A field a row leaves out gets what a new instance would hold: its
    default (called per row when callable), else ``""`` for text and None for others; ``auto_now``/``auto_now_add`` fields left out get the current time; an auto-increment
    primary key left out is assigned by the database. Unknown keys raise ``KeyError``; the database's
    IntegrityError is raised, as by ``bulk_create``, for duplicate keys or missing required values.
    """
    if not rows:
        return
    connection = connections[router.db_for_write(model)]
    fields = {field.attname: field for field in model._meta.concrete_fields}
    unknown = set().union(*(row.keys() for row in rows)) - fields.keys()
    if unknown:
        raise KeyError(f"{model.__name__} has no fields {sorted(unknown)}")
    columns: list[str] = []
    adapters: list[Callable[[Mapping[str, Any]], Any]] = []
    for attname, field in fields.items():
        if isinstance(field, AutoFieldMixin) and all(row.get(attname) is None for row in rows):
            continue
        columns.append(connection.ops.quote_name(field.column))
        adapters.append(_adapter(field, connection))
    table = connection.ops.quote_name(model._meta.db_table)
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})"  # noqa: S608
    with connection.cursor() as cursor:
        for start in range(0, len(rows), batch_size):
            cursor.executemany(sql, [[adapt(row) for adapt in adapters] for row in rows[start:start + batch_size]])


def _adapter(field: models.Field, connection: Any) -> Callable[[Mapping[str, Any]], Any]:
    attname = field.attname
    if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
        def timestamp(row: Mapping[str, Any]) -> Any:
            value = row.get(attname)
            if value is None or getattr(field, "auto_now", False):
                value = timezone.now()
            return field.get_db_prep_save(value, connection)

        return timestamp
    def value_of(row: Mapping[str, Any]) -> Any:  # what a new instance would hold: the default
        value = row.get(attname, _MISSING)
        return field.get_default() if value is _MISSING else value

    if isinstance(field, _PLAIN_FIELDS):
        def plain(row: Mapping[str, Any]) -> Any:
            value = value_of(row)
            return value if type(value) in _NATIVE else field.get_db_prep_save(value, connection)

        return plain
    return lambda row: field.get_db_prep_save(value_of(row), connection)
