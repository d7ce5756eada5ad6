"""Index documents: the searchable copy of a published resource, one flat dict.

Built from a ``Resource`` (indexing jobs) or from a corpus record in the sample generator's format
(evaluation and benchmarks, which index a corpus without importing it); both give the same keys.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from catalog.models import Resource

DOCUMENT_KEYS = (
    "id", "title", "description", "keywords", "stage", "subject", "grade", "edition", "volume", "chapter",
    "section", "resource_type", "language", "license", "price", "publisher", "origin_node", "is_remote",
    "published_at", "download_count",
)


def _iso(value: dt.datetime | None) -> str:
    if value is None:
        return "1970-01-01T00:00:00+00:00"
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).isoformat(timespec="seconds")


def resource_document(resource: Resource) -> dict[str, Any]:
    """The index document of a resource (load it with ``select_related("rights")``)."""
    try:
        rights = resource.rights
    except Resource.rights.RelatedObjectDoesNotExist:
        rights = None
    return {
        "id": str(resource.pk),
        "title": resource.title,
        "description": resource.description,
        "keywords": [str(k) for k in resource.keywords or []],
        "stage": resource.stage,
        "subject": resource.subject,
        "grade": resource.grade,
        "edition": resource.edition,
        "volume": resource.volume,
        "chapter": resource.chapter,
        "section": resource.section,
        "resource_type": resource.resource_type,
        "language": resource.language,
        "license": rights.license_id if rights else "",
        "price": rights.price if rights else 0,
        "publisher": resource.publisher_name,
        "origin_node": resource.origin_node,
        "is_remote": resource.is_remote,
        "published_at": _iso(resource.published_at or resource.updated_at or resource.created_at),
        "download_count": resource.download_count,
    }


def record_document(record: dict[str, Any], *, origin_node: str, download_count: int = 0) -> dict[str, Any]:
    """The index document of a corpus record (``catalog.sampledata`` format), as if imported."""
    created = dt.datetime.fromisoformat(str(record["created_at"]).replace("Z", "+00:00"))
    return {
        "id": str(record["id"]),
        "title": record["title"][:300],
        "description": record.get("description") or "",
        "keywords": [str(k) for k in record.get("keywords") or []][:30],
        **{f: record.get(f) or "" for f in ("stage", "subject", "grade", "edition", "volume", "chapter", "section",
                                             "resource_type")},
        "language": record.get("language") or "zh-Hans",
        "license": record["license"],
        "price": int(record.get("price") or 0),
        "publisher": record["publisher"],
        "origin_node": origin_node,
        "is_remote": False,
        "published_at": _iso(created),
        "download_count": download_count,
    }
