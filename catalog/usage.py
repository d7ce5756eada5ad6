"""Catalog reads and writes that licensing needs: the download counter and resources with their
rights by id (any status), for decisions over many resources and for rights checks, and a file with
its resource for serving signed download links."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connections, router
from django.db.models import F, QuerySet

from catalog.models import License, Resource, ResourceFile
from catalog.previews.selectors import cover_sha


def resource_download_count_increment(*, resource_id: Any) -> None:
    """Count one download. A single ``UPDATE … SET download_count = download_count + 1``, so concurrent
    downloads are never lost and the resource's version does not change (the count is local usage,
    not part of the record peers see)."""
    Resource.objects.filter(pk=resource_id).update(download_count=F("download_count") + 1)


def resources_with_rights(resource_ids: Iterable[Any]) -> QuerySet[Resource]:
    """Resources by id, whatever their status, with rights statement and licence loaded in the same
    query. Callers decide what the user may see (``licensing.decide``)."""
    return Resource.objects.filter(pk__in=list(resource_ids)).select_related("rights", "rights__license")


#: What a licence decision reads of a resource (``licensing.decisions.terms_from_facts``), as plain values
#: (``decision_facts``): the key of each fact in a row and the column it is read from.
DECISION_COLUMNS = {
    "id": "id", "status": "status", "publisher_id": "publisher_id", "has_rights": "rights__resource_id",
    "license_id": "rights__license_id", "license_is_open": "rights__license__is_open",
    "license_allows_derivatives": "rights__license__allows_derivatives", "territory": "rights__territory",
    "audience": "rights__audience", "price": "rights__price", "free_for": "rights__free_for",
    "embargo_until": "rights__embargo_until", "term_end": "rights__term_end",
}


def decision_facts(resource_ids: Iterable[Any], *, with_cover: bool = False) -> list[dict[str, Any]]:
    """What a licence decision reads of each of these resources (any status), as plain values in one
    query and without building models (a page of search results decides 20 resources a request):
    rows keyed like ``DECISION_COLUMNS``, ``id`` as a string, ``has_rights`` a bool (without a rights
    statement the other rights keys are None). With ``with_cover``, ``cover`` is the sha256 of the
    resource's cover (``previews.selectors.cover_sha``) or None, read in the same query. Ids that
    are no resource (or no UUID) are left out.

    The query is ``_decision_query``; its SQL is compiled once per number of ids (``_decision_plan``)
    and run with the ids as parameters, the values converted by the fields' own converters: building
    and compiling it through the ORM on every request cost ten times running it."""
    ids = _uuids(resource_ids)
    if not ids:
        return []
    connection = connections[router.db_for_read(Resource)]
    plan = _decision_plan(connection.alias, len(ids), with_cover)
    params = list(plan.params)
    prepare = Resource._meta.pk.get_db_prep_value
    for position, value in zip(plan.id_positions, ids, strict=True):
        params[position] = prepare(value, connection)
    with connection.cursor() as cursor:
        cursor.execute(plan.sql, params)
        fetched = cursor.fetchall()
    out = []
    for values in map(list, fetched):
        for position, (converters, expression) in plan.converters:
            for converter in converters:
                values[position] = converter(values[position], expression, connection)
        row = dict(zip(plan.names, values, strict=True))
        row["id"] = str(row["id"])
        row["has_rights"] = row["has_rights"] is not None
        out.append(row)
    return out


def _decision_query(ids: list[uuid.UUID], with_cover: bool) -> QuerySet[Resource]:
    rows = Resource.objects.filter(pk__in=ids)
    if with_cover:
        return rows.annotate(cover=cover_sha()).values_list(*DECISION_COLUMNS.values(), "cover")
    return rows.values_list(*DECISION_COLUMNS.values())


@dataclass(frozen=True)
class _Plan:
    sql: str
    params: tuple[Any, ...]
    id_positions: tuple[int, ...]  # where the ids go among the parameters
    names: tuple[str, ...]  # the row's keys, in the order of the columns
    converters: tuple[tuple[int, tuple[list[Any], Any]], ...]  # (column, (converters, expression))


@lru_cache(maxsize=256)
def _decision_plan(alias: str, count: int, with_cover: bool) -> _Plan:
    """``_decision_query`` for ``count`` ids compiled on connection ``alias``: its SQL, its parameters with
    stand-in ids (found again by value), and the converters of its columns."""
    connection = connections[alias]
    stand_ins = [uuid.uuid4() for _ in range(count)]
    compiler = _decision_query(stand_ins, with_cover).query.get_compiler(using=alias)
    sql, params = compiler.as_sql()
    prepared = {Resource._meta.pk.get_db_prep_value(u, connection): u for u in stand_ins}
    order = [prepared.get(p) if isinstance(p, str | uuid.UUID) else None for p in params]
    positions = tuple(order.index(u) for u in stand_ins)
    names = (*DECISION_COLUMNS, *(("cover",) if with_cover else ()))
    columns = [column for column, _, _ in compiler.select]
    if len(columns) != len(names) or sum(o is not None for o in order) != count:
        raise RuntimeError("decision_facts: the compiled query is not the one planned")
    converters = tuple(compiler.get_converters(columns).items())
    return _Plan(sql=sql, params=tuple(params), id_positions=positions, names=names, converters=converters)


def _uuids(values: Iterable[Any]) -> list[uuid.UUID]:
    out = []
    for value in values:
        try:
            out.append(value if isinstance(value, uuid.UUID) else uuid.UUID(str(value)))
        except ValueError:
            continue
    return out


def resource_file_with_resource(file_id: Any) -> ResourceFile | None:
    """A file with its resource, rights statement and licence (one query), or None."""
    try:
        return ResourceFile.objects.select_related(
            "resource", "resource__rights", "resource__rights__license").get(pk=file_id)
    except (ResourceFile.DoesNotExist, ValueError, TypeError, ValidationError):
        return None


def license_list() -> QuerySet[License]:
    """Every licence the node knows (data from ``catalog/data/licenses.json``)."""
    return License.objects.order_by("id")
