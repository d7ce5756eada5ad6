"""Keeping the search index in line with the catalog.

``index_resource`` / ``index_resources`` are the jobs ``catalog.events`` and the importer run after
commit: a published resource is (re)indexed, anything else — withdrawn, unpublished, deleted — is
removed, so a withdrawal disappears from results at once. ``rebuild_index`` fills a fresh index from
the database while the old one keeps serving, then swaps it in atomically.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import islice
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.module_loading import import_string

from catalog.models import Resource
from catalog.search.base import IndexBuild, SearchBackend
from catalog.search.documents import resource_documents
from exchange.memory import bulk_allocations

logger = logging.getLogger("catalog.search")
BATCH_SIZE = 2000  # documents per index write: one commit, whose cost grows with the index, per batch
# Changes whose transaction was still open when a rebuild pass started are caught by looking this
# far back.
CATCH_UP_MARGIN = dt.timedelta(minutes=2)


def get_backend() -> SearchBackend:
    """The configured backend (``settings.CATALOG_SEARCH_BACKEND``), built from current settings."""
    return import_string(settings.CATALOG_SEARCH_BACKEND)()


def _by_ids(ids: Iterable[str]) -> QuerySet[Resource]:
    # By primary key only (documents are made for the published ones): with a status condition too,
    # SQLite's planner picks the status index and reads every published resource, once per batch.
    return Resource.objects.filter(pk__in=list(ids)).order_by()


def _valid_ids(ids: Iterable[Any]) -> list[str]:
    out = []
    for raw in ids:
        try:
            out.append(str(uuid.UUID(str(raw))))
        except ValueError:
            logger.warning("not a resource id, ignored by the indexer", extra={"resource_id": str(raw)})
    return out


def _sync(target: SearchBackend | IndexBuild, ids: Sequence[str]) -> int:
    """Index the published ones among ``ids`` and remove the others; return how many are indexed."""
    indexed = 0
    for start in range(0, len(ids), BATCH_SIZE):
        chunk = ids[start:start + BATCH_SIZE]
        docs = list(resource_documents(_by_ids(chunk)))
        target.index_documents(docs)
        present = {d["id"] for d in docs}
        target.delete_documents([i for i in chunk if i not in present])
        indexed += len(docs)
    return indexed


def index_resource(*, resource_id: str) -> None:
    """Index the resource if it is published, remove it from the index otherwise."""
    _sync(get_backend(), _valid_ids([resource_id]))


@bulk_allocations()
def index_resources(*, resource_ids: list[str]) -> None:
    """Bulk form of ``index_resource`` (the importer calls it after each batch)."""
    _sync(get_backend(), _valid_ids(resource_ids))


def _batches(items: Iterator[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    while batch := list(islice(items, size)):
        yield batch


def _changed_since(moment: dt.datetime) -> list[str]:
    return [str(pk) for pk in Resource.objects.filter(updated_at__gte=moment).values_list("pk", flat=True)]


def rebuild_index(*, backend: SearchBackend | None = None, batch_size: int = BATCH_SIZE,
                  progress: Callable[[int], None] | None = None) -> int:
    """Build a new index of every published resource and swap it in atomically; searches keep
    using the old index until the swap. Changes made meanwhile reach both indexes (the backend
    writes to the one being built too) and are re-applied from ``updated_at`` before and after the
    swap. Returns the number of documents indexed. On failure the new index is dropped."""
    backend = backend or get_backend()
    started = timezone.now()
    build = backend.begin_rebuild()
    total = 0
    try:
        published = resource_documents(Resource.objects.filter(status=Resource.Status.PUBLISHED).order_by("pk"))
        for batch in _batches(published, batch_size):
            build.index_documents(batch)
            total += len(batch)
            if progress:
                progress(len(batch))
        _sync(build, _changed_since(started - CATCH_UP_MARGIN))
        swapped = timezone.now()
        build.swap()
    except BaseException:
        build.abort()
        raise
    _sync(backend, _changed_since(swapped - CATCH_UP_MARGIN))
    return total
