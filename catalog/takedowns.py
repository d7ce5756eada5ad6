"""Takedowns as facts about records, not versions of them.

A takedown upheld by a record's origin, or ordered by the national hub, is stored per (origin, record id)
in ``RecordTakedown`` at every node that hears of it — before the record itself has arrived, too. While it
stands, no version of the record becomes public here: a newer upsert from the origin is kept (so a later
reinstatement can show it) but stays withdrawn. Only a reinstatement signed by the node that ordered the
takedown lifts it; a national order takes over a fact the origin ordered, never the other way round.

The caller has checked the authority: licensing (an operator's or reviewer's decision on this node) or
federation (after verifying the orderer's signature on an order or reinstatement).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from catalog.events import resource_changed
from catalog.models import RecordTakedown, Resource
from exchange.audit import audit_record

Status = Resource.Status


def _uuid(value: str | uuid.UUID) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def takedowns_standing(keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], RecordTakedown]:
    """The standing takedowns among ``(origin, record id)`` keys."""
    keys = list(keys)
    if not keys:
        return {}
    wanted = set(keys)
    rows = RecordTakedown.objects.filter(origin__in={o for o, _ in keys}, record_id__in={r for _, r in keys},
                                         lifted_at__isnull=True)
    return {k: row for row in rows if (k := (row.origin, str(row.record_id))) in wanted}


def takedown_standing(*, origin: str, record_id: str | uuid.UUID) -> RecordTakedown | None:
    """The standing takedown of one record, or None."""
    return RecordTakedown.objects.filter(origin=origin, record_id=_uuid(record_id), lifted_at__isnull=True).first()


def resource_under_takedown(resource: Resource) -> bool:
    """Whether a standing takedown keeps ``resource`` from being public (asked before publishing)."""
    return takedown_standing(origin=resource.origin_node, record_id=resource.record_id) is not None


def next_order_version(*, record_id: str | uuid.UUID, ordered_by: str) -> int:
    """The version of ``ordered_by``'s next order or reinstatement about a record id: one more than
    any it gave before (about any origin's record of that id, so its counter never repeats)."""
    latest = (RecordTakedown.objects.filter(record_id=_uuid(record_id), ordered_by=ordered_by)
              .aggregate(latest=Max("order_version"))["latest"])
    return (latest or 0) + 1


def takedown_fact_record(*, origin: str, record_id: str | uuid.UUID, ordered_by: str, order_version: int | None,
                         note: str = "", republish_on_lift: bool | None = None) -> tuple[RecordTakedown, bool]:
    """Record that ``ordered_by`` took the record down (call inside the caller's transaction);
    ``order_version`` None: this node orders it now (:func:`next_order_version`).

    Returns (fact, changed). An order the fact already reflects (same orderer, version not higher)
    changes nothing; a national order takes over a fact the origin ordered; the origin's own
    takedown never takes over a national one."""
    now = timezone.now()
    if order_version is None:
        order_version = next_order_version(record_id=record_id, ordered_by=ordered_by)
    fact = RecordTakedown.objects.select_for_update().filter(origin=origin, record_id=_uuid(record_id)).first()
    if fact is None:
        fact = RecordTakedown.objects.create(origin=origin, record_id=_uuid(record_id), ordered_by=ordered_by,
                                             order_version=order_version, note=note[:2000], ordered_at=now,
                                             republish_on_lift=bool(republish_on_lift))
        return fact, True
    takes_over = fact.ordered_by == origin and ordered_by != origin
    if fact.ordered_by == ordered_by and order_version <= fact.order_version:
        return fact, False
    if fact.ordered_by != ordered_by and not takes_over:
        return fact, False
    fact.ordered_by, fact.order_version, fact.note, fact.ordered_at = ordered_by, order_version, note[:2000], now
    if fact.lifted_at is not None:
        fact.lifted_at, fact.lift_note = None, ""
        fact.republish_on_lift = False
    if republish_on_lift is not None:
        fact.republish_on_lift = fact.republish_on_lift or republish_on_lift
    fact.save()
    return fact, True


@transaction.atomic
def resource_withdraw_national(*, origin: str, record_id: str | uuid.UUID, actor: Any, ordered_by: str,
                               order_version: int | None = None, note: str = "") -> str:
    """A national takedown — a hub operator's upheld notice at the hub, or the hub's signed order arriving
    at a node — withdraws this node's copy of the record, whatever its version, and stands as a fact
    against every later version. A local resource (this node is the origin) is withdrawn as by its own
    reviewers (a new version and a ``takedown_upheld`` tombstone in the feed); a remote copy keeps its
    origin's version. ``order_version`` None: this node (the hub) orders it now. Returns ``withdrawn``, ``already_withdrawn``, ``absent`` (the fact is recorded all
    the same) or ``stale`` (an order this node already applied)."""
    resource = (Resource.objects.select_for_update()
                .filter(origin_node=origin, record_id=_uuid(record_id)).first())
    public = resource is not None and resource.status == Status.PUBLISHED
    fact, changed = takedown_fact_record(origin=origin, record_id=record_id, ordered_by=ordered_by,
                                         order_version=order_version, note=note, republish_on_lift=public)
    if not changed:
        return "stale"
    if resource is None:
        audit_record(action="resource.takedown_recorded", actor=actor, object_type="record",
                     object_id=str(record_id), data={"origin": origin, "ordered_by": ordered_by,
                                                     "order_version": order_version, "note": note})
        return "absent"
    if resource.status == Status.WITHDRAWN:
        return "already_withdrawn"
    before = resource.status
    resource.status, resource.review_note = Status.WITHDRAWN, (note or "takedown_upheld").strip()[:500]
    resource.updated_at = timezone.now()
    fields = ["status", "review_note", "updated_at"]
    if not resource.is_remote:  # this node is the origin: a new version, and its tombstone goes to the feed
        resource.version += 1
        fields.append("version")
    resource.save(update_fields=fields)
    audit_record(action="resource.withdraw", actor=actor, object_type="resource", object_id=resource.pk,
                 data={"from": before, "reason": "takedown_upheld", "note": note, "national": True,
                       "origin": resource.origin_node, "ordered_by": ordered_by, "version": resource.version})
    resource_changed(resource, kind="withdraw", reason="takedown_upheld")
    return "withdrawn"
    before = resource.status
    resource.status, resource.review_note = Status.WITHDRAWN, (note or "takedown_upheld").strip()[:500]
    resource.updated_at = timezone.now()
    resource.save(update_fields=["status", "review_note", "updated_at"])
    audit_record(action="resource.withdraw", actor=actor, object_type="resource", object_id=resource.pk,
                 data={"from": before, "reason": "takedown_upheld", "note": note, "national": True,
                       "origin": resource.origin_node, "ordered_by": ordered_by, "version": resource.version})
    resource_changed(resource, kind="withdraw", reason="takedown_upheld")
    return "withdrawn"


@transaction.atomic
def resource_reinstate(*, origin: str, record_id: str | uuid.UUID, actor: Any, lifted_by: str,
                       version: int | None = None, note: str = "") -> str:
    """Lift a standing takedown on the signed word of the node that ordered it. The record becomes
    public again when it was public when taken down or a newer version arrived meanwhile (a remote
    copy keeps its origin's version; a local resource gets a new version and goes to the feed).
    ``version`` None: this node reinstates now. Returns ``reinstated``, ``not_orderer`` (someone else ordered it: nothing changes), ``stale`` (an
    order at least as new is already reflected) or ``absent`` (no standing takedown)."""
    fact = (RecordTakedown.objects.select_for_update()
            .filter(origin=origin, record_id=_uuid(record_id)).first())
    if fact is None:
        return "absent"
    if fact.lifted_at is not None:
        return "stale"
    if version is None:
        version = next_order_version(record_id=record_id, ordered_by=lifted_by)
    if fact.ordered_by != lifted_by:
        audit_record(action="resource.reinstate_refused", actor=actor, object_type="record", object_id=str(record_id),
                     data={"origin": origin, "ordered_by": fact.ordered_by, "claimed_by": lifted_by})
        return "not_orderer"
    if version <= fact.order_version:
        return "stale"
    fact.lifted_at, fact.lift_note, fact.order_version = timezone.now(), note[:2000], version
    fact.save(update_fields=["lifted_at", "lift_note", "order_version"])
    resource = (Resource.objects.select_for_update()
                .filter(origin_node=origin, record_id=_uuid(record_id)).first())
    republished = False
    if resource is not None and fact.republish_on_lift and resource.status == Status.WITHDRAWN:
        now = timezone.now()
        resource.status, resource.review_note, resource.updated_at = Status.PUBLISHED, "", now
        fields = ["status", "review_note", "updated_at"]
        if not resource.is_remote:
            resource.version += 1
            fields.append("version")
        resource.save(update_fields=fields)
        resource_changed(resource, kind="upsert")
        republished = True
    audit_record(action="resource.reinstate", actor=actor, object_type="record", object_id=str(record_id),
                 data={"origin": origin, "ordered_by": lifted_by, "version": version, "note": note,
                       "republished": republished})
    return "reinstated"


def takedown_withheld(*, origin: str, record_id: str | uuid.UUID, republish_on_lift: bool) -> None:
    """A newer version (``True``) or a withdrawal by the origin (``False``) arrived while a takedown
    stands: remember whether lifting it should make the record public again."""
    RecordTakedown.objects.filter(origin=origin, record_id=_uuid(record_id)).update(
        republish_on_lift=republish_on_lift)
