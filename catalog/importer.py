"""Bulk import of corpus records (the JSONL format of the sample generator) as published resources.

Each record keeps its ``id``. Publishers named by records are created as organisations in this
node's province. Running an import twice changes nothing: records whose id exists are skipped.
Bad lines are reported with their line number and skipped.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import tempfile
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import transaction

from catalog.blobs import BlobToStore, blobs_store
from catalog.errors import VocabularyError
from catalog.events import resources_imported
from catalog.files import safe_filename, sniff
from catalog.models import License, Resource, ResourceFile, RightsStatement
from catalog.permissions import grant_new_object_rights, object_right_holders
from catalog.placeholders import placeholder_bytes, placeholder_name
from catalog.samplefiles import sample_file
from catalog.search.indexing import index_pending_drain
from catalog.services import MAX_PRICE
from catalog.storage import blob_key
from catalog.vocab import CHECKED_FIELDS, check_metadata_terms, vocabulary_codes
from exchange.audit import audit_record
from exchange.bulk import insert_rows
from exchange.faults import crash_point
from exchange.inputs import InputBoundsError, loads_bounded
from exchange.models import Organisation, SchoolCategory
from exchange.services import organisation_get_or_create

REQUIRED = ("id", "title", "stage", "subject", "resource_type", "publisher", "license", "created_at")


@dataclass
class ImportReport:
    created: int = 0
    skipped_existing: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)
    created_ids: list[str] = field(default_factory=list)


class _Context:
    def __init__(self, *, free_for: list[str], with_files: bool, actor: Any, index: bool,
                 placeholder_files: bool) -> None:
        self.known = {vocab: vocabulary_codes(vocab) for vocab, _ in CHECKED_FIELDS.values()}
        self.licenses = set(License.objects.values_list("id", flat=True))
        self.publishers: dict[str, Organisation] = {}
        self.holders: dict[str, list[tuple[str, Group]]] = {}
        self.free_for = free_for
        self.with_files = with_files
        self.placeholder_files = placeholder_files
        self.index = index
        self.actor = actor
        self.province = settings.EXCHANGE_NODE_REGION[:2] + "0000"

    def publisher(self, name: str) -> Organisation:
        if name not in self.publishers:
            self.publishers[name] = organisation_get_or_create(
                name=name, kind=Organisation.Kind.PUBLISHER, region=self.province, actor=self.actor)
        return self.publishers[name]

    def right_holders(self, name: str) -> list[tuple[str, Group]]:
        """Who gets object rights on the resources of publisher ``name`` (asked once per import)."""
        if name not in self.holders:
            self.holders[name] = object_right_holders(publisher=self.publisher(name), province=self.province)
        return self.holders[name]


def _parse(line: str, ctx: _Context) -> dict[str, Any]:
    try:
        record = loads_bounded(line, max_depth=settings.API_JSON_MAX_DEPTH)
    except InputBoundsError as exc:
        raise ValueError(f"not JSON ({exc})") from exc
    if not isinstance(record, dict):
        raise ValueError("not a JSON object")
    missing = [f for f in REQUIRED if not record.get(f)]
    if missing:
        raise ValueError(f"missing {', '.join(missing)}")
    try:
        record["id"] = str(uuid.UUID(str(record["id"])))
    except ValueError as exc:
        raise ValueError(f"id {record['id']!r} is not a UUID") from exc
    try:
        check_metadata_terms({k: record.get(k) or "" for k in CHECKED_FIELDS}, known=ctx.known)
    except VocabularyError as exc:
        raise ValueError("; ".join(f"{k}: {v[0]}" for k, v in exc.details.items())) from exc
    if record["license"] not in ctx.licenses:
        raise ValueError(f"unknown licence {record['license']!r}")
    price = record.get("price", 0)
    if not isinstance(price, int) or isinstance(price, bool) or not 0 <= price <= MAX_PRICE:
        raise ValueError(f"price must be a whole number from 0 to {MAX_PRICE}")
    try:
        record["_created"] = dt.datetime.fromisoformat(str(record["created_at"]).replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError(f"created_at {record['created_at']!r} is not an ISO timestamp") from exc
    if record["_created"].tzinfo is None:
        raise ValueError("created_at needs a time zone (e.g. Z)")
    return record


def _store_file(record: dict[str, Any], *, placeholder: bool) -> dict[str, Any]:
    """Store the record's file: a real sample document of its type (``catalog.samplefiles``), or with
    ``placeholder`` a tiny valid file naming the record (bulk benchmarks; no previews are made of those)."""
    declared = record.get("file") or {}
    if placeholder:
        name = safe_filename(placeholder_name(declared.get("name") or f"{record['title']}.pdf"))
        body = placeholder_bytes(name, record["title"])
    else:
        made = sample_file(declared.get("name") or f"{record['title']}.pdf", stage=record.get("stage") or "",
                           resource_type=record.get("resource_type") or "")
        name, body = safe_filename(made.name), made.body
    digest = hashlib.sha256(body).hexdigest()
    fd, tmp = tempfile.mkstemp(prefix="import-", dir=settings.FILE_UPLOAD_TEMP_DIR)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(body)
        mime = sniff(tmp, os.path.splitext(name)[1].lower()).mime
        blobs_store([BlobToStore(sha256=digest, path=tmp, content_type=mime)], previews=not placeholder)
    finally:
        os.unlink(tmp)
    duration = declared.get("duration_seconds") if mime.startswith("video/") else None
    return {"original_name": name, "sha256": digest, "size": len(body), "mime": mime, "storage_key": blob_key(digest),
            "duration_seconds": duration}


@transaction.atomic
def _import_batch(records: list[dict[str, Any]], ctx: _Context, errors: list[tuple[int, str]]) -> list[str]:
    holders = dict(Resource.objects.filter(pk__in=[r["id"] for r in records]).values_list("pk", "origin_node"))
    seen = {str(pk) for pk, origin in holders.items() if origin == settings.EXCHANGE_NODE_ID}
    taken = {str(pk): origin for pk, origin in holders.items() if origin != settings.EXCHANGE_NODE_ID}
    fresh = []
    for record in records:  # also drops a repeated id within the batch
        if record["id"] in taken:  # another node's record holds this id here: never skipped silently
            errors.append((record.get("_line", 0), f"id {record['id']} is already used here by a record of "
                                                   f"{taken[record['id']]}"))
        elif record["id"] not in seen:
            seen.add(record["id"])
            fresh.append(record)
    if not fresh:
        return []
    resources, rights, files = [], [], []
    holders_of: dict[uuid.UUID, list[tuple[str, Group]]] = {}
    for record in fresh:
        org = ctx.publisher(record["publisher"])
        created = record["_created"]
        pk = uuid.UUID(record["id"])
        # Plain rows for ``insert_rows``: what ``Resource(...)`` and ``bulk_create`` wrote, without a model
        # instance per row and the SQL compiler per value (most of the import's time).
        resources.append({
            "id": pk, "record_id": pk, "origin_node": settings.EXCHANGE_NODE_ID, "status": Resource.Status.PUBLISHED,
            "title": record["title"][:300], "description": record.get("description") or "",
            "keywords": [str(k) for k in record.get("keywords") or []][:30],
            **{f: (record.get(f) or "") for f in ("stage", "subject", "grade", "edition", "volume", "chapter",
                                                   "section", "resource_type", "textbook_id")},
            "language": record.get("language") or "zh-Hans", "publisher_id": org.pk, "publisher_name": org.name,
            "province": ctx.province, "created_at": created, "updated_at": created, "submitted_at": created,
            "published_at": created,
        })
        holders_of[pk] = ctx.right_holders(record["publisher"])
        price = int(record.get("price") or 0)
        rights.append({
            "resource_id": pk, "holder": org.name, "year": created.year, "license_id": record["license"],
            "attribution": f"© {created.year} {org.name}", "territory": [],
            "audience": RightsStatement.Audience.TEACHERS, "price": price,
            "free_for": list(ctx.free_for) if price > 0 else [],
        })
        if ctx.with_files:
            files.append({**_store_file(record, placeholder=ctx.placeholder_files), "resource_id": pk})
    insert_rows(Resource, resources)
    insert_rows(RightsStatement, rights)
    insert_rows(ResourceFile, files)
    grant_new_object_rights(holders_of)
    ids = [str(row["id"]) for row in resources]
    resources_imported(ids, index=ctx.index)
    audit_record(action="resource.import", actor=ctx.actor, object_type="resource", object_id=ids[0],
                 data={"count": len(ids), "ids_sha256": hashlib.sha256(",".join(ids).encode()).hexdigest()})
    return ids


def import_records(
    lines: Iterable[str], *, actor: Any = None, free_for: Iterable[str] = (), with_files: bool = True,
    batch_size: int = 500, progress: Callable[[int], None] | None = None, index: bool = True,
    placeholder_files: bool = False,
) -> ImportReport:
    """Import JSONL lines; return what was created, skipped and refused (with line numbers). Each record
    gets a real sample document of its type (``with_files``), or a tiny placeholder (``placeholder_files``)."""
    free = sorted(set(free_for))
    unknown = [c for c in free if c not in SchoolCategory.values]
    if unknown:
        raise ValueError(f"unknown school categories: {', '.join(unknown)}")
    ctx = _Context(free_for=free, with_files=with_files, actor=actor, index=index,
                   placeholder_files=placeholder_files)
    report = ImportReport()
    batch: list[dict[str, Any]] = []

    def flush() -> None:
        if not batch:
            return
        for record in batch:
            ctx.publisher(record["publisher"])
        errors_before = len(report.errors)
        created = _import_batch(batch, ctx, report.errors)
        report.created += len(created)
        report.skipped_existing += len(batch) - len(created) - (len(report.errors) - errors_before)
        report.created_ids.extend(created)
        if index and created:
            crash_point("index.after_commit")
            index_pending_drain()  # the batch's rows, recorded in its transaction (and any left over)
        if progress:
            progress(len(batch))
        batch.clear()

    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            batch.append({**_parse(line, ctx), "_line": number})
        except ValueError as exc:
            report.errors.append((number, str(exc)))
            if progress:
                progress(1)
            continue
        if len(batch) >= batch_size:
            flush()
    flush()
    if index:
        index_pending_drain()  # what an earlier, interrupted run left pending, even when nothing was new
    return report
