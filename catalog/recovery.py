"""Restoring this node's own published records from their signed copies (disaster recovery).

A node that lost its data (but not the federation) gets back every record it had published from the
national hub, which relays the origin's envelopes unchanged; federation verifies each with this node's
own key history and hands the records here. They become local resources again — same ids, same
versions, published or withdrawn as their newest envelope says, under publisher organisations found or
re-created by name — with their files described by hash and marked available where the bytes are (back)
in the blob store. Drafts and pending reviews never left the node and cannot come back this way.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.db import transaction

from catalog.models import Resource, ResourceFile, RightsStatement
from catalog.permissions import grant_object_rights
from catalog.remote import (
    UPSERT_KINDS,
    WITHDRAW_KINDS,
    ApplyOutcome,
    RemoteChange,
    RemoteRecordInvalidError,
    ensure_licences,
    parse_record,
)
from catalog.search.indexing import index_pending_drain_on_commit, index_pending_record
from catalog.storage import blob_key, get_blob_store
from catalog.takedowns import takedown_fact_record
from exchange.audit import audit_record
from exchange.models import Organisation
from exchange.services import organisation_get_or_create

Status = Resource.Status


def _publisher(name: str, province: str, cache: dict[str, Organisation]) -> Organisation:
    if name not in cache:
        existing = Organisation.objects.filter(name=name).first()
        cache[name] = existing or organisation_get_or_create(
            name=name, kind=Organisation.Kind.PUBLISHER, region=province, actor="recovery")
    return cache[name]


@transaction.atomic
def local_records_restore(*, changes: Sequence[RemoteChange], actor: Any = "recovery") -> list[ApplyOutcome]:
    """Restore this node's own records from verified changes (its own envelopes); one outcome per
    change: ``restored`` (created or brought to a newer version), ``withdrawn``, ``stale`` (this
    version or a newer one is held), ``absent`` (a withdrawal of a record not held) or ``invalid``."""
    me = settings.EXCHANGE_NODE_ID
    outcomes: list[ApplyOutcome] = []
    publishers: dict[str, Organisation] = {}
    store = get_blob_store()
    province = settings.EXCHANGE_NODE_REGION[:2] + "0000"
    restored_ids: list[str] = []
    for change in changes:
        rid = change.resource_id
        held = Resource.objects.select_for_update().filter(origin_node=me, record_id=rid).first()
        if held is not None and held.version >= change.version:
            outcomes.append(ApplyOutcome(rid, "stale"))
            continue
        if change.kind in WITHDRAW_KINDS:
            reason = str(change.reason or change.payload.get("reason") or "")
            if held is None:
                outcomes.append(ApplyOutcome(rid, "absent"))
                continue
            held.status, held.version, held.review_note = Status.WITHDRAWN, change.version, reason[:500]
            held.save(update_fields=["status", "version", "review_note"])
            if reason == "takedown_upheld":
                takedown_fact_record(origin=me, record_id=rid, ordered_by=me, order_version=change.version,
                                     note=reason)
            restored_ids.append(str(held.pk))
            outcomes.append(ApplyOutcome(rid, "withdrawn"))
            continue
        if change.kind not in UPSERT_KINDS:
            outcomes.append(ApplyOutcome(rid, "invalid", f"not a record: {change.kind}"))
            continue
        try:
            parsed = parse_record(change.payload, signed_at=change.issued_at)
        except RemoteRecordInvalidError as exc:
            outcomes.append(ApplyOutcome(rid, "invalid", exc.message))
            continue
        ensure_licences({parsed.rights["license_id"]})
        fields = {**parsed.resource, "version": change.version, "status": Status.PUBLISHED, "review_note": ""}
        publisher = _publisher(fields["publisher_name"] or "未署名机构", fields["province"] or province, publishers)
        if held is None:
            resource = Resource(id=uuid.UUID(rid), record_id=uuid.UUID(rid), origin_node=me, is_remote=False,
                                publisher=publisher, submitted_at=fields["created_at"], **fields)
            resource.save(force_insert=True)
            grant_object_rights(resource, publisher=publisher, province=resource.province)
        else:
            resource = held
            for name, value in fields.items():
                setattr(resource, name, value)
            resource.publisher = publisher
            resource.save()
            RightsStatement.objects.filter(resource=resource).delete()
            ResourceFile.objects.filter(resource=resource).delete()
        RightsStatement.objects.create(resource=resource, **parsed.rights)
        for item in parsed.files:
            key = blob_key(item["sha256"])
            ResourceFile.objects.create(resource=resource, storage_key=key, available_locally=store.exists(key), **item)
        restored_ids.append(str(resource.pk))
        outcomes.append(ApplyOutcome(rid, "restored"))
    if restored_ids:
        index_pending_record(restored_ids)
        index_pending_drain_on_commit()
        audit_record(action="resource.restore", actor=actor, object_type="resource", object_id=restored_ids[0],
                     data={"count": len(restored_ids)})
    return outcomes


def own_files_missing() -> list[ResourceFile]:
    """Files of this node's own published resources whose bytes are not in the blob store."""
    return list(ResourceFile.objects.filter(resource__is_remote=False, resource__status=Status.PUBLISHED,
                                            available_locally=False).select_related("resource"))

