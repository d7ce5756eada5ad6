"""Bulk INSERT for the hot write paths (federation apply and relay): the rows ``bulk_create`` writes,
at a fraction of its cost.

``QuerySet.bulk_create`` needs a model instance per row (``Model.__init__`` with 30 keyword arguments
is slow) and compiles every value of every row through the SQL compiler; for a federation page of
500 records that was most of the time it took to apply. ``insert_rows`` takes plain dicts, decides
once per column how to adapt its values — the field's own ``get_db_prep_save``, with shortcuts that
give the same result for the common types (text, integers, UUIDs, aware UTC datetimes) — and hands
the rows to the driver's ``executemany`` as one statement.

Like ``bulk_create`` it sends no signals. Unlike it, keys the database assigns are not read back.
"""

from __future__ import annotations

import datetime as dt
import operator
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from django.conf import settings
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
    now = timezone.now()
    columns: list[str] = []
    values: list[Column] = []
    for attname, field in fields.items():
        if isinstance(field, AutoFieldMixin) and all(row.get(attname) is None for row in rows):
            continue
        columns.append(connection.ops.quote_name(field.column))
        values.append(_column(field, connection, now))
    table = connection.ops.quote_name(model._meta.db_table)
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})"  # noqa: S608
    with connection.cursor() as cursor:
        for start in range(0, len(rows), batch_size):
            chunk = rows[start:start + batch_size]
            cursor.executemany(sql, list(zip(*(column(chunk) for column in values), strict=True)))


def _adapter(field: models.Field, connection: Any, now: dt.datetime) -> Callable[[Mapping[str, Any]], Any]:
    """How to turn a row into this column's database value: the row's value (or what a new instance
    would hold), through :func:`_converter`."""
    attname, convert = field.attname, _converter(field, connection)
    if getattr(field, "auto_now", False):
        stamp = convert(now)
        return lambda row: stamp
    if getattr(field, "auto_now_add", False):
        stamp = convert(now)
        return lambda row: stamp if row.get(attname) is None else convert(row[attname])
    if field.has_default() and callable(field.default):
        def value_or_default(row: Mapping[str, Any]) -> Any:
            value = row.get(attname, _MISSING)
            return convert(field.get_default() if value is _MISSING else value)

        return value_or_default
    default = field.get_default()  # a constant: "" for text, None, or the field's default value
    return lambda row: convert(row.get(attname, default))


def _converter(field: models.Field, connection: Any) -> Callable[[Any], Any]:
    """``field.get_db_prep_save`` for one value, with shortcuts for the types the hot paths write
    most (each gives exactly what Django would): native values of text, integer and boolean
    columns as they are; UUIDs (also as foreign keys) as the driver takes them; aware datetimes,
    which SQLite stores as naive text in the connection's time zone (UTC) and PostgreSQL takes as
    they are. Anything else goes through the field."""
    return _conversion(field, connection)[1]


def _conversion(field: models.Field, connection: Any) -> tuple[str, Callable[[Any], Any]]:
    """Which shortcut of :func:`_converter` applies to ``field`` (its name, for :func:`_column`) and the
    converter itself."""
    def generic(value: Any) -> Any:
        return field.get_db_prep_save(value, connection)

    target = field.target_field if isinstance(field, models.ForeignKey) else field
    if isinstance(target, _PLAIN_FIELDS):
        return "plain", lambda value: value if type(value) in _NATIVE else generic(value)
    if isinstance(target, models.UUIDField):
        if connection.features.has_native_uuid_field:
            return "uuid", lambda value: value if type(value) is uuid.UUID or value is None else generic(value)
        return "uuid_hex", lambda value: value.hex if type(value) is uuid.UUID else None if value is None else generic(value)
    if isinstance(target, models.DateTimeField) and settings.USE_TZ:
        if connection.vendor == "sqlite" and connection.timezone_name == "UTC":
            def sqlite_datetime(value: Any) -> Any:
                if type(value) is dt.datetime and value.tzinfo is dt.UTC:
                    return str(value.replace(tzinfo=None))
                return None if value is None else generic(value)

            return "sqlite_datetime", sqlite_datetime
        if connection.vendor == "postgresql":
            return "datetime", lambda value: value if type(value) is dt.datetime and value.tzinfo is dt.UTC else generic(value)
    return "generic", generic


Column = Callable[[Sequence[Mapping[str, Any]]], list[Any]]


def _column(field: models.Field, connection: Any, now: dt.datetime) -> Column:
    """This column's database values for a chunk of rows: :func:`_adapter`'s value for each row. For a
    field with a constant default (most) the shortcut of :func:`_converter` runs inline in one list
    comprehension — the same values without two function calls per value (most of the cost of a wide row)."""
    callable_default = field.has_default() and callable(field.default)
    if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False) or callable_default:
        adapt = _adapter(field, connection, now)
        return lambda rows: [adapt(row) for row in rows]
    attname, default = field.attname, field.get_default()
    kind, convert = _conversion(field, connection)
    get = operator.methodcaller("get", attname, default)
    if kind == "plain":
        return lambda rows: [v if type(v := row.get(attname, default)) in _NATIVE else convert(v) for row in rows]
    if kind == "uuid":
        return lambda rows: [v if type(v := row.get(attname, default)) is uuid.UUID or v is None else convert(v)
                             for row in rows]
    if kind == "uuid_hex":
        return lambda rows: [v.hex if type(v := row.get(attname, default)) is uuid.UUID else
                             None if v is None else convert(v) for row in rows]
    if kind == "sqlite_datetime":
        return lambda rows: [str(v.replace(tzinfo=None)) if type(v := row.get(attname, default)) is dt.datetime
                             and v.tzinfo is dt.UTC else None if v is None else convert(v) for row in rows]
    return lambda rows: [convert(get(row)) for row in rows]
