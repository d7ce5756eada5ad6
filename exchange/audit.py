"""Append-only, hash-chained audit log.

``audit_record`` appends one event inside the caller's transaction; the chain head row is locked
while appending so concurrent writers serialise. ``audit_verify`` recomputes the whole chain.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from exchange.models import AuditChainHead, AuditEvent

GENESIS = "0" * 64


def _event_digest(*, seq: int, created_at: str, actor_id: str, actor: str, action: str,
                  object_type: str, object_id: str, data: Any, ip: str, prev_hash: str) -> str:
    body = json.dumps(
        {
            "seq": seq, "created_at": created_at, "actor_id": actor_id, "actor": actor,
            "action": action, "object_type": object_type, "object_id": object_id,
            "data": data, "ip": ip, "prev_hash": prev_hash,
        },
        sort_keys=True, separators=(",", ":"), ensure_ascii=False,
    )
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def _normalise(data: dict[str, Any] | None) -> dict[str, Any]:
    # Round-trip through JSON so the digest is computed over exactly what the database stores.
    return json.loads(json.dumps(data or {}, default=str, ensure_ascii=False))


@transaction.atomic
def audit_record(
    *,
    action: str,
    actor: Any = None,
    object_type: str = "",
    object_id: str | Any = "",
    data: dict[str, Any] | None = None,
    ip: str = "",
) -> AuditEvent:
    """Append one event to the chain. ``actor`` is a user, a node id string, or None (system)."""
    head, _ = AuditChainHead.objects.select_for_update().get_or_create(id=1)
    seq = head.last_seq + 1
    # One reading of the clock, truncated to the millisecond: the time stored is the time hashed.
    now = timezone.now()
    created_at = now.replace(microsecond=now.microsecond // 1000 * 1000)
    if actor is None:
        actor_id, actor_name = "", "system"
    elif isinstance(actor, str):
        actor_id, actor_name = "", actor
    else:
        actor_id, actor_name = str(getattr(actor, "pk", "") or ""), getattr(actor, "username", str(actor))
    payload = _normalise(data)
    digest = _event_digest(
        seq=seq, created_at=created_at.isoformat(), actor_id=actor_id, actor=actor_name, action=action,
        object_type=object_type, object_id=str(object_id), data=payload, ip=ip, prev_hash=head.last_hash,
    )
    event = AuditEvent(
        seq=seq, created_at=created_at, actor_id=actor_id, actor=actor_name, action=action,
        object_type=object_type, object_id=str(object_id), data=payload, ip=ip,
        prev_hash=head.last_hash, hash=digest,
    )
    event.save(force_insert=True)
    head.last_seq, head.last_hash = seq, digest
    head.save(update_fields=["last_seq", "last_hash"])
    return event


@dataclass(frozen=True)
class ChainProblem:
    seq: int
    problem: str

    def __str__(self) -> str:
        return f"#{self.seq}: {self.problem}"


def audit_verify(*, batch_size: int = 2000, progress: Any = None) -> list[ChainProblem]:
    """Recompute the chain; return every problem found (empty list = intact)."""
    problems: list[ChainProblem] = []
    prev_hash, expected_seq = GENESIS, 1
    for event in _iter_events(batch_size):
        if event.seq != expected_seq:
            problems.append(ChainProblem(event.seq, f"sequence gap: expected #{expected_seq} (row removed?)"))
        if event.prev_hash != prev_hash:
            problems.append(ChainProblem(event.seq, "previous-hash link broken (row removed or inserted)"))
        recomputed = _event_digest(
            seq=event.seq, created_at=event.created_at.isoformat(), actor_id=event.actor_id,
            actor=event.actor, action=event.action, object_type=event.object_type,
            object_id=event.object_id, data=event.data, ip=event.ip, prev_hash=event.prev_hash,
        )
        if recomputed != event.hash:
            problems.append(ChainProblem(event.seq, "content changed (hash mismatch)"))
        prev_hash, expected_seq = event.hash, event.seq + 1
        if progress is not None:
            progress.update(1)
    head = AuditChainHead.objects.filter(id=1).first()
    if head is not None and (head.last_seq != expected_seq - 1 or head.last_hash != prev_hash):
        problems.append(ChainProblem(head.last_seq, "chain head does not match the last row (tail removed?)"))
    return problems


def _iter_events(batch_size: int) -> Iterator[AuditEvent]:
    last = 0
    while True:
        batch = list(AuditEvent.objects.filter(seq__gt=last).order_by("seq")[:batch_size])
        if not batch:
            return
        yield from batch
        last = batch[-1].seq
