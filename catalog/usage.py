"""Catalog reads and writes that licensing needs: the download counter and resources with their
rights by id (any status), for decisions over many resources and for rights checks, and a file with
its resource for serving signed download links."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
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


#: What a licence decision reads of a resource (``licensing.decisions.terms_of``): nothing else is loaded
#: by ``resources_for_decisions`` (search results decide 20 resources a request).
DECISION_FIELDS = (
    "id", "status", "publisher", "rights__license", "rights__license__is_open", "rights__license__allows_derivatives",
    "rights__territory", "rights__audience", "rights__price", "rights__free_for", "rights__embargo_until",
    "rights__term_end",
)
#: The same facts as plain values (``decision_facts``): the key each one has in a row.
DECISION_COLUMNS = {
    "id": "id", "status": "status", "publisher_id": "publisher_id", "has_rights": "rights__resource_id",
    "license_id": "rights__license_id", "license_is_open": "rights__license__is_open",
    "license_allows_derivatives": "rights__license__allows_derivatives", "territory": "rights__territory",
    "audience": "rights__audience", "price": "rights__price", "free_for": "rights__free_for",
    "embargo_until": "rights__embargo_until", "term_end": "rights__term_end",
}


def resources_for_decisions(resource_ids: Iterable[Any]) -> QuerySet[Resource]:
    """``resources_with_rights`` with only the columns a licence decision reads (no description,
    keywords or file metadata to load and decode); any other field would cost a query per resource."""
    return resources_with_rights(resource_ids).only(*DECISION_FIELDS)


def decision_facts(resource_ids: Iterable[Any], *, with_cover: bool = False) -> list[dict[str, Any]]:
    """What a licence decision reads of each of these resources (any status), as plain values in one
    query and without building models (a page of search results decides 20 resources a request):
    rows keyed like ``DECISION_COLUMNS``, ``id`` as a string, ``has_rights`` a bool (without a rights
    statement the other rights keys are None). With ``with_cover``, ``cover`` is the sha256 of the
    resource's cover (``previews.selectors.cover_sha``) or None, read in the same query. Ids that
    are no resource (or no UUID) are left out."""
    ids = _uuids(resource_ids)
    if not ids:
        return []
    rows = Resource.objects.filter(pk__in=ids)
    columns = dict(DECISION_COLUMNS)
    if with_cover:
        rows = rows.annotate(cover=cover_sha())
        columns["cover"] = "cover"
    names = list(columns)
    out = []
    for values in rows.values_list(*columns.values()):
        row = dict(zip(names, values, strict=True))
        row["id"] = str(row["id"])
        row["has_rights"] = row["has_rights"] is not None
        out.append(row)
    return out


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
