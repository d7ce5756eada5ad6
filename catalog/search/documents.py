"""Index documents: the searchable copy of a published resource, one flat dict.

Built from ``Resource`` rows (indexing jobs) or from a corpus record in the sample generator's format
(evaluation and benchmarks, which index a corpus without importing it); both give the same keys.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.db.models import QuerySet

from catalog.models import Resource

DOCUMENT_KEYS = (
    "id", "title", "description", "keywords", "stage", "subject", "grade", "edition", "volume", "chapter",
    "section", "resource_type", "language", "license", "price", "publisher", "origin_node", "is_remote",
    "published_at", "download_count", "rating_score",
)


def _iso(value: dt.datetime | None) -> str:
    if value is None:
        return "1970-01-01T00:00:00+00:00"
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).isoformat(timespec="seconds")


#: What an index document is built from: resource columns, and its rights' licence and price.
SOURCE_COLUMNS = (
    "id", "title", "description", "keywords", "stage", "subject", "grade", "edition", "volume", "chapter",
    "section", "resource_type", "language", "publisher_name", "origin_node", "is_remote", "published_at",
    "updated_at", "created_at", "download_count", "rights__license_id", "rights__price", "status",
    "rating_summary__score",
)


def resource_documents(resources: QuerySet[Resource]) -> Iterator[dict[str, Any]]:
    """The index documents of the published ones among some resources, streamed, read as plain rows
    (model instances would make this read most of the cost of indexing)."""
    for row in resources.values(*SOURCE_COLUMNS).iterator(chunk_size=2000):
        if row["status"] != Resource.Status.PUBLISHED:
            continue
        yield {
            "id": str(row["id"]),
            "title": row["title"],
            "description": row["description"],
            "keywords": [str(k) for k in row["keywords"] or []],
            **{name: row[name] for name in _COPIED},
            "license": row["rights__license_id"] or "",
            "price": row["rights__price"] or 0,
            "publisher": row["publisher_name"],
            "published_at": _iso(row["published_at"] or row["updated_at"] or row["created_at"]),
            # unrated: the prior mean, which is what the Bayesian average of no votes is
            "rating_score": row["rating_summary__score"] if row["rating_summary__score"] is not None
            else float(settings.CATALOG_RATING_PRIOR_MEAN),
        }


_COPIED = ("stage", "subject", "grade", "edition", "volume", "chapter", "section", "resource_type", "language",
           "origin_node", "is_remote", "download_count")


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
        "rating_score": float(settings.CATALOG_RATING_PRIOR_MEAN),
    }
