"""The catalog side of federation: the record of a local resource as peers see it, and applying records
that arrive from other nodes.

``resource_record`` builds the canonical record of a published local resource (all metadata, its
rights statement and its files' hashes): the payload the federation layer signs into an envelope.
``remote_resources_apply`` upserts or withdraws read-only copies of remote resources
(``is_remote=True``) from such records, many at a time, keeping the highest version per
(origin, id): applying the same record twice, or an older one after a newer, changes nothing.
Files of remote resources are described (sha256, size, type from the signed record) but not
stored (``available_locally=False``) until someone downloads them; see ``remote_file_mark_available``.
Every version applied is also kept in the record's history (``ResourceVersion``, from the signed record),
so a remote resource's history reads like a local one's.

This module knows nothing of signatures or peers (federation verifies before calling it).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache
from types import SimpleNamespace
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from catalog.events import resources_published
from catalog.files import safe_filename
from catalog.models import License, Resource, ResourceFile, ResourceVersion, RightsStatement
from catalog.previews.services import previews_schedule
from catalog.review.history import remote_version_row
from catalog.search.indexing import index_pending_drain_on_commit, index_pending_record
from catalog.storage import blob_key
from catalog.takedowns import takedown_fact_record, takedown_withheld, takedowns_standing
from exchange.bulk import insert_rows
from exchange.errors import InvalidInputError

Status = Resource.Status
#: Metadata members of a record, mapped one to one onto Resource fields.
RECORD_TEXT_FIELDS = (
    "title", "description", "stage", "subject", "grade", "edition", "volume", "chapter", "section",
    "resource_type", "language", "textbook_id",
)
RECORD_REQUIRED_TEXT = ("title", "stage", "subject", "resource_type")
RIGHTS_MEMBERS = (
    "holder", "year", "license", "attribution", "territory", "audience", "price", "free_for", "grant_days",
    "term_end", "embargo_until", "derived_from",
)
WITHDRAW_KINDS = frozenset({"tombstone", "takedown"})
UPSERT_KINDS = frozenset({"upsert", "rights"})
WITHDRAW_REASONS = frozenset({"withdrawn_by_publisher", "takedown_upheld", "review_revoked"})
_SHA256 = re.compile(r"[0-9a-f]{64}")


class RemoteRecordInvalidError(InvalidInputError):
    code = "remote_record_invalid"
    default_message = "The remote record does not describe a valid resource."


@dataclass(frozen=True)
class RemoteChange:
    """One verified change from another node: ``payload`` is the signed record (or tombstone)."""

    origin: str
    version: int
    kind: str
    payload: dict[str, Any]
    reason: str = ""
    #: When the origin signed it: the time a record that names none of its own is dated with, the same on
    #: every node (never the receiver's clock).
    issued_at: dt.datetime | None = None

    @property
    def resource_id(self) -> str:
        return str(self.payload.get("id", ""))


@dataclass(frozen=True)
class ApplyOutcome:
    """What applying one change did: ``created``, ``updated``, ``withdrawn`` (state changed);
    ``absent`` (a withdrawal of a record never held), ``stale`` (an equal or newer version is held),
    ``superseded`` (a newer version of it came in the same batch), ``withheld`` (stored, but a standing
    takedown keeps it withdrawn), ``conflict`` (the record claims to be this node's own) or ``invalid``
    (``error`` says why). ``clash`` names the origin of another record that holds the same id here
    (the change was applied beside it, under :func:`clash_key`)."""

    resource_id: str
    outcome: str
    error: str = ""
    clash: str = ""

    @property
    def changed(self) -> bool:
        return self.outcome in {"created", "updated", "withdrawn"}


# --- records of local resources ----------------------------------------------------------------

def _ts(moment: dt.datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _date(value: dt.date | None) -> str | None:
    return value.isoformat() if value else None


def resource_record(resource: Resource) -> dict[str, Any]:
    """The canonical record of ``resource`` for envelopes: metadata, rights statement and file hashes.

    Only JSON types (no floats); timestamps as ``YYYY-MM-DDTHH:MM:SSZ``, dates as ``YYYY-MM-DD``.
    Prefetch ``rights`` and ``files`` when building many (or use :func:`local_published_records`)."""
    return _record(resource, resource.rights, resource.files.all())


def _record(resource: Any, rights: Any, files: Iterable[Any]) -> dict[str, Any]:
    """The record of a resource, its rights statement and its files: model instances, or rows with their
    attribute names (:func:`local_published_records`)."""
    record: dict[str, Any] = {"id": str(resource.record_id)}
    for name in RECORD_TEXT_FIELDS:
        record[name] = getattr(resource, name) or ""
    record.update(
        keywords=[str(k) for k in resource.keywords or []],
        publisher=resource.publisher_name,
        province=resource.province,
        created_at=_ts(resource.created_at),
        updated_at=_ts(resource.updated_at),
        published_at=_ts(resource.published_at),
        rights={
            "holder": rights.holder,
            "year": int(rights.year),
            "license": rights.license_id,
            "attribution": rights.attribution,
            "territory": sorted(rights.territory or []),
            "audience": rights.audience,
            "price": int(rights.price),
            "free_for": sorted(rights.free_for or []),
            "grant_days": int(rights.grant_days),
            "term_end": _date(rights.term_end),
            "embargo_until": _date(rights.embargo_until),
            "derived_from": str(rights.derived_from) if rights.derived_from else None,
        },
        files=[
            {
                "sha256": f.sha256,
                "size": int(f.size),
                "mime": f.mime,
                "name": f.original_name,
                "position": int(f.position),
                "duration_seconds": f.duration_seconds,
            }
            for f in sorted(files, key=lambda f: (f.position, f.sha256))
        ],
    )
    return record


@dataclass(frozen=True)
class LocalRecord:
    """A published local resource's record (as :func:`resource_record` builds it) and what its envelope
    names besides: the origin, the record id and the version."""

    origin_node: str
    record_id: uuid.UUID
    version: int
    record: dict[str, Any]


_RECORD_COLUMNS = ("id", "origin_node", "record_id", "version", *RECORD_TEXT_FIELDS, "keywords", "publisher_name",
                   "province", "created_at", "updated_at", "published_at")
_RIGHTS_COLUMNS = ("holder", "year", "license_id", "attribution", "territory", "audience", "price", "free_for",
                   "grant_days", "term_end", "embargo_until", "derived_from")
_FILE_COLUMNS = ("resource_id", "sha256", "size", "mime", "original_name", "position", "duration_seconds")


def local_published_records(*, resource_ids: Iterable[str], origin: str) -> list[LocalRecord]:
    """The records of the published local resources of ``origin`` among ``resource_ids``, in id order:
    what :func:`resource_record` gives, read with two queries and without model instances (the bulk
    import signs its batches' records with them)."""
    # Looked up by key only, the rest checked here: with ``status`` in the WHERE clause SQLite's planner picks
    # the status index and reads every published row (a batch cost growing with the catalog: 0.5 s per 500
    # ids at 100k records, against 2 ms by key).
    rows = [row for row in Resource.objects.filter(pk__in=list(resource_ids)).order_by("pk").values(
                *_RECORD_COLUMNS, *(f"rights__{name}" for name in _RIGHTS_COLUMNS), "is_remote", "status")
            if not row["is_remote"] and row["origin_node"] == origin and row["status"] == Status.PUBLISHED]
    files: dict[uuid.UUID, list[SimpleNamespace]] = {}
    for row in ResourceFile.objects.filter(resource_id__in=[row["id"] for row in rows]).values(*_FILE_COLUMNS):
        files.setdefault(row["resource_id"], []).append(SimpleNamespace(**row))
    records = []
    for row in rows:
        if row["rights__holder"] is None:  # as ``resource.rights`` raises for a resource without one
            raise RightsStatement.DoesNotExist(f"resource {row['id']} has no rights statement")
        resource = SimpleNamespace(**{name: row[name] for name in _RECORD_COLUMNS})
        rights = SimpleNamespace(**{name: row[f"rights__{name}"] for name in _RIGHTS_COLUMNS})
        records.append(LocalRecord(origin_node=row["origin_node"], record_id=row["record_id"], version=row["version"],
                                   record=_record(resource, rights, files.get(row["id"], []))))
    return records


def tombstone_record(resource: Resource, *, reason: str) -> dict[str, Any]:
    """The payload of a withdrawal: the id, why, when, and the stage/subject selective sync filters on."""
    return {
        "id": str(resource.record_id),
        "reason": reason,
        "stage": resource.stage,
        "subject": resource.subject,
        "withdrawn_at": _ts(resource.updated_at or timezone.now()),
    }


def local_published_resources(*, batch_size: int = 500, after: str | None = None) -> Iterator[list[Resource]]:
    """Published local resources in id order, ``batch_size`` at a time, with rights and files loaded
    (for the federation outbox backfill). Memory stays flat in the catalog size."""
    last = after
    base = (Resource.objects.filter(is_remote=False, status=Status.PUBLISHED)
            .select_related("rights").prefetch_related("files").order_by("pk"))
    while True:
        qs = base.filter(pk__gt=last) if last else base
        batch = list(qs[:batch_size])
        if not batch:
            return
        yield batch
        last = str(batch[-1].pk)


def local_resource_versions(*, resource_ids: Iterable[str]) -> dict[str, tuple[int, str]]:
    """``{id: (version, status)}`` of the given local (non-remote) resources."""
    rows = Resource.objects.filter(pk__in=list(resource_ids), is_remote=False).values_list("pk", "version", "status")
    return {str(pk): (version, status) for pk, version, status in rows}


# --- applying remote records -------------------------------------------------------------------

def _parse_ts(value: Any, name: str) -> dt.datetime | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise RemoteRecordInvalidError(f"{name} must be a timestamp string")
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise RemoteRecordInvalidError(f"{name} is not an ISO timestamp") from exc
    if moment.tzinfo is None:
        raise RemoteRecordInvalidError(f"{name} needs a time zone")
    return moment


def _parse_date(value: Any, name: str) -> dt.date | None:
    if value in (None, ""):
        return None
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError as exc:
        raise RemoteRecordInvalidError(f"{name} is not a date") from exc


def _text(payload: dict[str, Any], name: str, max_length: int, *, required: bool = False) -> str:
    value = payload.get(name)
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise RemoteRecordInvalidError(f"{name} must be a string")
    if required and not value.strip():
        raise RemoteRecordInvalidError(f"{name} is required")
    if len(value) > max_length:
        raise RemoteRecordInvalidError(f"{name} is longer than {max_length} characters")
    return value


def _int(value: Any, name: str, *, minimum: int = 0) -> int:
    if type(value) is not int or value < minimum:
        raise RemoteRecordInvalidError(f"{name} must be a whole number ≥ {minimum}")
    return value


def _str_list(value: Any, name: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise RemoteRecordInvalidError(f"{name} must be a list of strings")
    return value


@dataclass
class _Parsed:
    resource: dict[str, Any]
    rights: dict[str, Any]
    files: list[dict[str, Any]] = field(default_factory=list)


@cache
def _max_length(model: type, name: str) -> int:
    return model._meta.get_field(name).max_length or 100_000  # type: ignore[attr-defined, no-any-return]


@cache
def _audiences() -> frozenset[str]:
    return frozenset(RightsStatement.Audience.values)


def parse_record(payload: dict[str, Any], *, signed_at: dt.datetime | None = None) -> _Parsed:
    """Check a record's shape against what the catalog can hold. Raises RemoteRecordInvalidError."""
    fields: dict[str, Any] = {}
    for name in RECORD_TEXT_FIELDS:
        fields[name] = _text(payload, name, _max_length(Resource, name), required=name in RECORD_REQUIRED_TEXT)
    fields["language"] = fields["language"] or "zh-Hans"
    fields["keywords"] = _str_list(payload.get("keywords"), "keywords")[:30]
    fields["publisher_name"] = _text(payload, "publisher", _max_length(Resource, "publisher_name"))
    fields["province"] = _text(payload, "province", _max_length(Resource, "province"))
    fields["created_at"] = _parse_ts(payload.get("created_at"), "created_at") or signed_at or timezone.now()
    fields["updated_at"] = _parse_ts(payload.get("updated_at"), "updated_at") or fields["created_at"]
    fields["published_at"] = _parse_ts(payload.get("published_at"), "published_at") or fields["created_at"]

    rights = payload.get("rights")
    if not isinstance(rights, dict):
        raise RemoteRecordInvalidError("rights must be an object")
    license_id = _text(rights, "license", 64, required=True)
    audience = rights.get("audience") or RightsStatement.Audience.TEACHERS
    if audience not in _audiences():
        raise RemoteRecordInvalidError(f"rights.audience {audience!r} is unknown")
    derived = rights.get("derived_from")
    if derived is not None:
        try:
            derived = uuid.UUID(str(derived))
        except ValueError as exc:
            raise RemoteRecordInvalidError("rights.derived_from must be a UUID") from exc
    rights_fields = {
        "holder": _text(rights, "holder", _max_length(RightsStatement, "holder"), required=True),
        "year": _int(rights.get("year"), "rights.year", minimum=1),
        "license_id": license_id,
        "attribution": _text(rights, "attribution", _max_length(RightsStatement, "attribution")),
        "territory": sorted(set(_str_list(rights.get("territory"), "rights.territory"))),
        "audience": audience,
        "price": _int(rights.get("price", 0), "rights.price"),
        "free_for": sorted(set(_str_list(rights.get("free_for"), "rights.free_for"))),
        "grant_days": _int(rights.get("grant_days", 365), "rights.grant_days"),
        "term_end": _parse_date(rights.get("term_end"), "rights.term_end"),
        "embargo_until": _parse_date(rights.get("embargo_until"), "rights.embargo_until"),
        "derived_from": derived,
    }

    files = payload.get("files") or []
    if not isinstance(files, list) or len(files) > 100:
        raise RemoteRecordInvalidError("files must be a list of at most 100 objects")
    parsed_files = []
    for position, item in enumerate(files):
        if not isinstance(item, dict):
            raise RemoteRecordInvalidError("each file must be an object")
        sha = item.get("sha256")
        if not isinstance(sha, str) or not _SHA256.fullmatch(sha):
            raise RemoteRecordInvalidError("file sha256 must be 64 lowercase hex digits")
        duration = item.get("duration_seconds")
        parsed_files.append({
            "sha256": sha,
            "size": _int(item.get("size"), "file size"),
            "mime": _text(item, "mime", _max_length(ResourceFile, "mime"), required=True),
            "original_name": safe_filename(_text(item, "name", 1000) or "file"),
            "position": _int(item.get("position", position), "file position"),
            "duration_seconds": None if duration is None else _int(duration, "duration_seconds"),
        })
    return _Parsed(resource=fields, rights=rights_fields, files=parsed_files)


def ensure_licences(license_ids: set[str]) -> None:
    """A licence id this node does not know yet is added conservatively (not open, attribution
    required), so one node's new licence never blocks sync elsewhere; an operator can refine it."""
    known = set(License.objects.filter(id__in=license_ids).values_list("id", flat=True))
    missing = license_ids - known
    if missing:
        License.objects.bulk_create([License(id=lid, name=lid) for lid in sorted(missing)], ignore_conflicts=True)


#: Namespace of the local keys of remote copies whose record id another record already holds here.
CLASH_NAMESPACE = uuid.UUID("6f1d7c1e-2b0a-4c59-9a43-5f3b7c0e8d21")


def clash_key(origin: str, record_id: str) -> uuid.UUID:
    """The local primary key of ``origin``'s record ``record_id`` when the id itself is taken here (the
    same on every node that sees the clash)."""
    return uuid.uuid5(CLASH_NAMESPACE, f"{origin}/{record_id}")


@transaction.atomic
def remote_resources_apply(*, changes: Sequence[RemoteChange], index: bool = True) -> list[ApplyOutcome]:
    """Apply verified changes from other nodes; return one outcome per change, in order.

    ``upsert`` and ``rights`` carry the full record; ``tombstone`` (and ``takedown``) withdraw the
    resource with ``reason``. Records are keyed by (origin, record id): another origin's record with
    the same id is a different record, stored beside it under :func:`clash_key` and reported
    (``clash`` in its outcome), never a reason to drop either. Per record only a version higher than
    the one held changes anything. While a takedown of the record stands (``catalog.takedowns``), a
    new version is stored but stays withdrawn (``withheld``); a tombstone of the origin's own upheld
    takedown records such a fact. An invalid record is reported in its outcome and skips that change
    only. Changed resources are recorded for the search index in the same transaction and (re)indexed
    after commit when ``index`` is true."""
    latest: dict[tuple[str, str], int] = {}
    for position, change in enumerate(changes):
        key = (change.origin, change.resource_id)
        if key not in latest or change.version >= changes[latest[key]].version:
            latest[key] = position
    outcomes: list[ApplyOutcome | None] = [None] * len(changes)
    for position, change in enumerate(changes):
        if latest[(change.origin, change.resource_id)] != position:
            outcomes[position] = ApplyOutcome(change.resource_id, "superseded")

    rids = {rid for _, rid in latest}
    existing = {(row["origin_node"], str(row["record_id"])): row for row in Resource.objects.filter(
        origin_node__in={origin for origin, _ in latest}, record_id__in=rids).order_by().values(
        "id", "origin_node", "record_id", "is_remote", "version", "status")}
    standing = takedowns_standing(latest)
    creates: list[tuple[int, RemoteChange, _Parsed]] = []
    updates: list[tuple[int, RemoteChange, _Parsed, uuid.UUID]] = []
    withdrawals: list[tuple[int, RemoteChange, uuid.UUID]] = []
    for key, position in latest.items():
        change = changes[position]
        rid = change.resource_id
        held = existing.get(key)
        if held is not None and not held["is_remote"]:
            outcomes[position] = ApplyOutcome(rid, "conflict", "the record is this node's own")
        elif held is not None and held["version"] >= change.version:
            outcomes[position] = ApplyOutcome(rid, "stale")
        elif change.kind in WITHDRAW_KINDS:
            reason = str(change.reason or change.payload.get("reason") or "")
            if reason == "takedown_upheld":  # the origin's own upheld takedown: a fact, whatever arrives later
                takedown_fact_record(origin=change.origin, record_id=rid, ordered_by=change.origin,
                                     order_version=change.version, note=reason,
                                     republish_on_lift=held is not None and held["status"] == Status.PUBLISHED)
            elif key in standing:
                takedown_withheld(origin=change.origin, record_id=rid, republish_on_lift=False)
            if held is None:
                outcomes[position] = ApplyOutcome(rid, "absent")
            else:
                withdrawals.append((position, change, held["id"]))
        elif change.kind in UPSERT_KINDS:
            try:
                parsed = parse_record(change.payload, signed_at=change.issued_at)
            except RemoteRecordInvalidError as exc:
                outcomes[position] = ApplyOutcome(rid, "invalid", exc.message)
                continue
            if held is not None:
                updates.append((position, change, parsed, held["id"]))
            else:
                creates.append((position, change, parsed))
        else:
            outcomes[position] = ApplyOutcome(rid, "invalid", f"unknown change kind {change.kind!r}")

    # Local keys of new copies: the record id, unless another record (another origin's, or one of this
    # node's own) holds it already — then the clash key.
    natural = {uuid.UUID(change.resource_id) for _, change, _ in creates}
    taken = {row["id"]: row["origin_node"] for row in
             Resource.objects.filter(pk__in=natural).order_by().values("id", "origin_node")} if natural else {}
    keys_of: dict[int, tuple[uuid.UUID, str]] = {}
    for position, change, _ in creates:
        wanted = uuid.UUID(change.resource_id)
        holder = taken.get(wanted)
        if holder is None:
            taken[wanted] = change.origin
            keys_of[position] = (wanted, "")
        else:
            keys_of[position] = (clash_key(change.origin, change.resource_id), holder)

    ensure_licences({p.rights["license_id"] for _, _, p in creates} | {p.rights["license_id"] for _, _, p, _ in updates})
    shas = {f["sha256"] for _, _, p in creates for f in p.files} | {f["sha256"] for _, _, p, _ in updates for f in p.files}
    local_shas = set(ResourceFile.objects.filter(sha256__in=shas, available_locally=True)
                     .values_list("sha256", flat=True)) if shas else set()
    now = timezone.now()
    withheld_keys: list[tuple[str, str]] = []

    def build(change: RemoteChange, parsed: _Parsed, pk: uuid.UUID
              ) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
        """The rows of a remote record (plain dicts for ``insert_rows``)."""
        withheld = (change.origin, change.resource_id) in standing
        if withheld:
            withheld_keys.append((change.origin, change.resource_id))
        resource = {"id": pk, "record_id": uuid.UUID(change.resource_id), "origin_node": change.origin,
                    "is_remote": True, "version": change.version,
                    "status": Status.WITHDRAWN if withheld else Status.PUBLISHED, "publisher_id": None,
                    "review_note": "takedown_upheld" if withheld else "", **parsed.resource}
        rights = {"resource_id": pk, **parsed.rights}
        files = [{"resource_id": pk, "storage_key": blob_key(f["sha256"]),
                  "available_locally": f["sha256"] in local_shas, **f} for f in parsed.files]
        return resource, rights, files

    def outcome_of(change: RemoteChange, done: str, clash: str = "") -> ApplyOutcome:
        if (change.origin, change.resource_id) in standing:
            return ApplyOutcome(change.resource_id, "withheld", clash=clash)
        return ApplyOutcome(change.resource_id, done, clash=clash)

    def version_of(change: RemoteChange, parsed: _Parsed, pk: uuid.UUID) -> dict[str, Any]:
        """The history row of this version (what the origin published, as the signed record says)."""
        raw_rights = change.payload.get("rights") or {}
        metadata = {name: parsed.resource[name] for name in RECORD_TEXT_FIELDS} | {
            "keywords": parsed.resource["keywords"]}
        files = [{"id": None, "name": f["original_name"], "sha256": f["sha256"], "size": f["size"], "mime": f["mime"],
                  "position": f["position"], "duration_seconds": f["duration_seconds"]} for f in parsed.files]
        return remote_version_row(resource_pk=pk, version=change.version, live_from=parsed.resource["updated_at"],
                                  metadata=metadata, rights={name: raw_rights.get(name) for name in RIGHTS_MEMBERS},
                                  files=files, now=now)

    new_resources, new_rights, new_files, new_versions = [], [], [], []
    for position, change, parsed in creates:
        pk, holder = keys_of[position]
        resource, rights, files = build(change, parsed, pk)
        new_resources.append(resource)
        new_rights.append(rights)
        new_files.extend(files)
        new_versions.append(version_of(change, parsed, pk))
        outcomes[position] = outcome_of(change, "created", holder)
    insert_rows(Resource, new_resources)

    if updates:
        update_pks = [pk for *_, pk in updates]
        changed_resources = []
        for position, change, parsed, pk in updates:
            resource, rights, files = build(change, parsed, pk)
            changed_resources.append(Resource(**resource))
            new_rights.append(rights)
            new_files.extend(files)
            new_versions.append(version_of(change, parsed, pk))
            outcomes[position] = outcome_of(change, "updated")
        Resource.objects.bulk_update(
            changed_resources,
            ["version", "status", "review_note", "keywords", "publisher_name", "province", "created_at",
             "updated_at", "published_at", *RECORD_TEXT_FIELDS],
            batch_size=500,
        )
        RightsStatement.objects.filter(resource_id__in=update_pks).delete()
        ResourceFile.objects.filter(resource_id__in=update_pks).delete()
    insert_rows(RightsStatement, new_rights)
    insert_rows(ResourceFile, new_files)
    insert_rows(ResourceVersion, new_versions)
    for origin, rid in withheld_keys:
        takedown_withheld(origin=origin, record_id=rid, republish_on_lift=True)

    if withdrawals:
        withdrawn = []
        for position, change, pk in withdrawals:
            reason = str(change.reason or change.payload.get("reason") or "")
            withdrawn.append(Resource(id=pk, version=change.version, status=Status.WITHDRAWN,
                                      review_note=reason[:500], updated_at=now))
            outcomes[position] = ApplyOutcome(change.resource_id, "withdrawn")
        Resource.objects.bulk_update(withdrawn, ["version", "status", "review_note", "updated_at"], batch_size=500)

    final = [outcome for outcome in outcomes if outcome is not None]
    assert len(final) == len(changes)
    changed_pks = [str(keys_of[position][0]) for position, _, _ in creates if final[position].changed]
    changed_pks += [str(pk) for position, _, _, pk in updates if final[position].changed]
    changed_pks += [str(pk) for position, _, pk in withdrawals]
    if index and changed_pks:
        index_pending_record(changed_pks)  # in this transaction: a crash after commit loses nothing
        index_pending_drain_on_commit()
    resources_published([str(keys_of[position][0]) for position, _, _ in creates
                         if final[position].outcome == "created"])  # not "withheld": a takedown stands
    return final


def remote_resource_apply(
    *, envelope_payload: dict[str, Any], origin: str, version: int, kind: str, reason: str = "",
) -> ApplyOutcome:
    """Apply one verified remote change (see :func:`remote_resources_apply`)."""
    change = RemoteChange(origin=origin, version=version, kind=kind, payload=envelope_payload, reason=reason)
    return remote_resources_apply(changes=[change])[0]


# --- files of remote resources ------------------------------------------------------------------

def remote_file_mark_available(*, sha256: str) -> int:
    """Mark every file row with this content as stored locally (after federation fetched and checked
    the bytes into the blob store) and queue its previews. Returns the number of rows changed."""
    mime = ResourceFile.objects.filter(sha256=sha256).values_list("mime", flat=True).first()
    if mime:
        previews_schedule([(sha256, mime)])
    return ResourceFile.objects.filter(sha256=sha256, available_locally=False).update(available_locally=True)


def local_published_file(*, sha256: str) -> ResourceFile | None:
    """A stored file with this sha256 that belongs to a published resource of this node (what the
    node may serve to peers), or None."""
    return (ResourceFile.objects.filter(sha256=sha256, available_locally=True, resource__is_remote=False,
                                        resource__status=Status.PUBLISHED)
            .select_related("resource").first())


def cached_published_file(*, sha256: str, origin: str) -> ResourceFile | None:
    """A stored copy of a file of ``origin``'s published record (a node serves it back to its origin)."""
    return (ResourceFile.objects.filter(sha256=sha256, available_locally=True, resource__is_remote=True,
                                        resource__origin_node=origin, resource__status=Status.PUBLISHED)
            .select_related("resource").first())


def remote_file_get(*, file_id: str | uuid.UUID) -> ResourceFile:
    """A file row with its resource loaded. Raises ResourceFile.DoesNotExist."""
    return ResourceFile.objects.select_related("resource").get(pk=file_id)


# --- comparing catalogs ---------------------------------------------------------------------------

def catalog_digest(*, origin: str | None = None) -> dict[str, Any]:
    """A digest of the public catalog (optionally of one origin's records): the count and a SHA-256
    over every published record's origin, id, version and content, in (origin, id) order. Two nodes
    that hold the same records give the same digest, whatever local keys they gave them."""
    digest = hashlib.sha256()
    count = 0
    qs = Resource.objects.filter(status=Status.PUBLISHED)
    if origin:
        qs = qs.filter(origin_node=origin)
    qs = qs.select_related("rights").prefetch_related("files").order_by("origin_node", "record_id")
    last: tuple[str, uuid.UUID] | None = None
    while True:
        page = qs if last is None else qs.filter(Q(origin_node__gt=last[0]) | Q(origin_node=last[0],
                                                                                 record_id__gt=last[1]))
        batch = list(page[:1000])
        if not batch:
            break
        for resource in batch:
            record = resource_record(resource)
            record.pop("updated_at", None)
            body = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
            digest.update(f"{resource.record_id} {resource.origin_node} {resource.version} ".encode())
            digest.update(hashlib.sha256(body.encode()).hexdigest().encode() + b"\n")
            count += 1
        last = (batch[-1].origin_node, batch[-1].record_id)
    return {"count": count, "sha256": digest.hexdigest()}
