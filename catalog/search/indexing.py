"""Keeping the search index in line with the catalog.

Every change that must reach the index is recorded as an ``IndexPending`` row *in the transaction
that makes it* (``index_pending_record``: ``catalog.events``, the importer, remote records), and
``index_pending_drain`` brings the index in line and deletes the rows only after the index write
succeeded. A process killed between the commit and the index write therefore loses nothing: the
rows stay until the next drain — right after each commit (``index_pending_drain_on_commit``: a job,
in-process or on rq), after each import batch or page of remote records, on every federation tick,
from the readiness probe, and by ``manage.py index_drain``. The index lives outside the catalog's
transaction (a separate SQLite file, or Elasticsearch), so replays must be harmless: a drain indexes
each resource's *current* state by id — a published resource is (re)indexed, anything else
(withdrawn, unpublished, deleted) removed — and drains run one at a time (a named lock), so an older
state read by one drain can never overwrite a newer one written by another.
``index_verify`` compares the live index with the catalog.

``index_resource`` / ``index_resources`` index given ids directly (tests, benchmarks).
``rebuild_index`` fills a fresh index from the database while the old one keeps serving, then swaps
it in atomically.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import islice
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.module_loading import import_string

from catalog.models import IndexPending, Resource
from catalog.search.base import IndexBuild, SearchBackend
from catalog.search.documents import resource_documents
from exchange.bulk import insert_rows
from exchange.faults import crash_point
from exchange.jobs import enqueue
from exchange.locks import named_lock
from exchange.memory import bulk_allocations

logger = logging.getLogger("catalog.search")
BATCH_SIZE = 2000  # documents per index write: one commit, whose cost grows with the index, per batch
# Changes whose transaction was still open when a rebuild pass started are caught by looking this
# far back.
CATCH_UP_MARGIN = dt.timedelta(minutes=2)
#: The lock drains hold: one drain at a time per node (see the module docstring).
DRAIN_LOCK = "catalog-search-drain"
#: How long a drain waits for the one running to finish before leaving the rows to the next drain.
DRAIN_WAIT_SECONDS = 60.0
#: Pending rows older than this are left over by a crash (or a lost job): the readiness probe drains them.
PENDING_GRACE = dt.timedelta(seconds=30)
#: What ``index_verify`` compares between a resource's document and the one the index holds.
VERIFIED_KEYS = ("title", "price", "license", "publisher", "origin_node", "stage", "subject")


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


# --- the pending-index outbox -------------------------------------------------------------

def index_pending_record(resource_ids: Iterable[str | uuid.UUID]) -> None:
    """Record, in the current transaction, that these resources' index entries must be brought in
    line with the catalog (one multi-row INSERT, for the bulk paths)."""
    now = timezone.now()
    insert_rows(IndexPending, [{"resource_id": rid if isinstance(rid, uuid.UUID) else uuid.UUID(str(rid)),
                                "created_at": now} for rid in resource_ids])


def index_pending_drain_on_commit() -> None:
    """After the current transaction commits, drain the pending rows (the ``catalog.jobs`` job: run
    in this process, or on an rq worker). Should the process die first, or the job be lost, the rows
    are still there for the next drain."""

    def drain_soon() -> None:
        crash_point("index.after_commit")
        enqueue("catalog.jobs.index_pending_drain")

    transaction.on_commit(drain_soon, robust=True)


def index_pending_drain(*, backend: SearchBackend | None = None, batch_size: int = BATCH_SIZE,
                        max_batches: int | None = None, wait: float = DRAIN_WAIT_SECONDS) -> int:
    """Bring the index in line for every pending row, oldest first, ``batch_size`` rows a batch,
    until none is left (or ``max_batches``); each batch's rows are deleted only after its index
    write succeeded. Waits up to ``wait`` seconds for a drain already running (then returns 0: that
    one, or the next, takes the rows). Returns the number of resources brought in line."""
    done = 0
    with named_lock(DRAIN_LOCK, timeout=wait) as held:
        if not held:
            return 0
        target = backend or get_backend()
        batches = 0
        while max_batches is None or batches < max_batches:
            rows = list(IndexPending.objects.order_by("pk").values_list("pk", "resource_id")[:batch_size])
            if not rows:
                break
            ids = list(dict.fromkeys(str(rid) for _, rid in rows))
            _sync(target, ids)
            crash_point("index.after_write")
            IndexPending.objects.filter(pk__in=[pk for pk, _ in rows]).delete()
            done += len(ids)
            batches += 1
    return done


def index_pending_stats() -> dict[str, Any]:
    """How many rows are pending and the age in seconds of the oldest."""
    oldest = IndexPending.objects.order_by("pk").values_list("created_at", flat=True).first()
    return {"pending": IndexPending.objects.count(),
            "oldest_age_seconds": round((timezone.now() - oldest).total_seconds(), 1) if oldest else None}


def check_index_pending() -> None:
    """Readiness: rows older than PENDING_GRACE were left by a crash or a lost job; drain one batch
    of them now (without waiting for a drain already running). Never makes the node unready."""
    cutoff = timezone.now() - PENDING_GRACE
    try:
        if IndexPending.objects.filter(created_at__lt=cutoff).exists():
            index_pending_drain(max_batches=1, wait=0)
    except Exception:  # the database and search checks report their own failures
        logger.exception("draining left-over index work failed")


# --- verification -------------------------------------------------------------------------

def _verified(doc: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(int(doc.get(k) or 0) if k == "price" else str(doc.get(k) or "") for k in VERIFIED_KEYS)


def index_verify(*, backend: SearchBackend | None = None, batch_size: int = BATCH_SIZE,
                 sample: int = 20) -> dict[str, Any]:
    """Compare the live index with the catalog: published resources the index lacks (``missing``) or
    holds in an older state (``stale``: title, price, licence… differ), resources indexed although
    not published (``unexpected``: withdrawn, draft…) and documents of no resource at all
    (``orphans``, by count). ``ok`` is true when all are zero. Lists are cut at ``sample`` ids."""
    target = backend or get_backend()
    missing: list[str] = []
    stale: list[str] = []
    unexpected: list[str] = []
    published = 0
    last = None
    base = Resource.objects.order_by("pk")
    while True:
        ids = [str(pk) for pk in (base.filter(pk__gt=last) if last else base).values_list("pk", flat=True)[:batch_size]]
        if not ids:
            break
        last = ids[-1]
        wanted = {doc["id"]: doc for doc in resource_documents(_by_ids(ids))}
        stored = target.stored_documents(ids)
        published += len(wanted)
        for rid, doc in wanted.items():
            if rid not in stored:
                missing.append(rid)
            elif _verified(stored[rid]) != _verified(doc):
                stale.append(rid)
        unexpected.extend(rid for rid in stored if rid not in wanted)
    indexed = target.count()
    orphans = indexed - (published - len(missing)) - len(unexpected)
    return {
        "ok": not (missing or stale or unexpected or orphans),
        "published": published, "indexed": indexed, "missing_count": len(missing), "stale_count": len(stale),
        "unexpected_count": len(unexpected), "orphans": orphans, "missing": missing[:sample],
        "stale": stale[:sample], "unexpected": unexpected[:sample], **index_pending_stats(),
    }


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
