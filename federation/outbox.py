"""The change feed: an append-only outbox of signed envelopes, written in the transaction of the change.

``record_change`` is the ``CATALOG_CHANGE_HOOKS`` entry the catalog calls inside every transaction
that changes a published local resource; remote resources are skipped (the hub relays their
envelopes exactly as received, through ``outbox_relay``). Sequence numbers are assigned under a
lock on ``OutboxHead`` so they commit in order and a reader's cursor never skips an entry that
commits late. ``record_imported`` does the same for a bulk import's batch. ``feed_page`` serves
``GET /federation/v1/changes``; ``outbox_backfill`` adds envelopes for published resources that
reached the catalog without a hook.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import reset_queries, transaction
from django.db.models import Q
from django.utils import timezone

from catalog.models import Resource
from catalog.remote import (
    WITHDRAW_REASONS,
    local_published_records,
    local_published_resources,
    resource_record,
    tombstone_record,
)
from catalog.takedowns import takedown_standing
from exchange.bulk import insert_rows
from federation import identity, trust
from federation.errors import SetSpecInvalidError
from federation.models import OutboxEntry, OutboxHead
from federation.signing import (
    MAX_ENVELOPE_BYTES,
    SigningKey,
    VerifiedEnvelope,
    envelope_to_bytes,
    sign_envelope,
    sign_envelope_canonical,
)

logger = logging.getLogger("federation.outbox")
SET_FIELDS = ("stage", "subject", "region")
_SET_TERM = re.compile(r"(stage|subject):([^,:]{1,32})|(region):(\d{2}(?:\d{2}){0,2})")


@dataclass(frozen=True)
class NewEntry:
    """An envelope to append: its canonical bytes plus the columns the feed filters on."""

    origin: str
    resource_id: str
    version: int
    kind: str
    stage: str
    subject: str
    envelope: str
    content_hash: str


def entry_for(envelope: dict[str, Any], *, content_hash: str | None = None, text: str | None = None) -> NewEntry:
    """Describe a (verified or freshly signed) envelope as an outbox row. ``content_hash`` and its
    canonical ``text``, when the caller has them (a verified envelope), save serialising it again."""
    payload = envelope["payload"]
    if text is None or content_hash is None:
        data = envelope_to_bytes(envelope)
        text, content_hash = data.decode("utf-8"), hashlib.sha256(data).hexdigest()
    return NewEntry(
        origin=envelope["origin"], resource_id=envelope["id"], version=envelope["version"], kind=envelope["kind"],
        stage=str(payload.get("stage") or "")[:16], subject=str(payload.get("subject") or "")[:32],
        envelope=text, content_hash=content_hash,
    )


def outbox_append(entries: Sequence[NewEntry]) -> list[int]:
    """Append envelopes to the feed inside the caller's transaction; return their sequence numbers."""
    if not entries:
        return []
    with transaction.atomic():
        head, _ = OutboxHead.objects.select_for_update().get_or_create(id=1)
        now = timezone.now()
        rows = []
        for offset, entry in enumerate(entries, start=1):
            rows.append({
                "seq": head.last_seq + offset, "origin": entry.origin, "resource_id": entry.resource_id,
                "version": entry.version, "kind": entry.kind, "stage": entry.stage, "subject": entry.subject,
                "envelope": entry.envelope, "content_hash": entry.content_hash, "created_at": now,
            })
        insert_rows(OutboxEntry, rows)
        head.last_seq += len(rows)
        head.save(update_fields=["last_seq"])
    return [row["seq"] for row in rows]


def outbox_continue_after(position: int) -> int:
    """Make this node's next feed entries come after ``position`` — where a peer (the hub) has read this
    node's feed to — when the feed is behind it (restored from an older backup, or rebuilt), so that the
    peer sees every change made from now on. Returns the head."""
    with transaction.atomic():
        head, _ = OutboxHead.objects.select_for_update().get_or_create(id=1)
        if head.last_seq < position:
            logger.warning("feed behind what the hub has read: continuing after it",
                           extra={"head": head.last_seq, "hub_cursor": position})
            head.last_seq = position
            head.save(update_fields=["last_seq"])
        return head.last_seq


def outbox_head() -> int:
    head = OutboxHead.objects.filter(id=1).first()
    return head.last_seq if head else 0


def _sign(resource: Resource, *, kind: str, reason: str, key: SigningKey) -> NewEntry:
    """The feed entry of ``resource``'s signed envelope."""
    if kind in ("upsert", "rights"):
        record = resource_record(resource)
    else:
        record = tombstone_record(resource, reason=reason)
    return _signed_entry(record, kind=kind, origin=resource.origin_node, version=resource.version, key=key)


def _signed_entry(record: dict[str, Any], *, kind: str, origin: str, version: int, key: SigningKey) -> NewEntry:
    """The feed entry of ``record``'s signed envelope (serialised once: signing gives its canonical bytes)."""
    envelope, canonical = sign_envelope_canonical(record=record, kind=kind, origin=origin, version=version,
                                                  signing_key=key)
    return entry_for(envelope, content_hash=hashlib.sha256(canonical).hexdigest(), text=canonical.decode("utf-8"))


def envelope_kind(*, kind: str, resource: Resource) -> str | None:
    """The envelope kind for a catalog change kind, or None when peers need not hear of it."""
    if kind in ("upsert", "rights"):
        return kind if resource.status == Resource.Status.PUBLISHED else None
    if kind == "withdraw":
        # A resource that was never public exists nowhere else: nothing to withdraw there.
        return "tombstone" if resource.published_at is not None else None
    return None


def record_change(*, resource: Resource, kind: str, reason: str = "") -> None:
    """Catalog change hook: append the signed envelope of this change to the feed (same transaction)
    and poke the hub once it commits. Remote resources are skipped — their origin signs their
    changes — except on the hub for a national takedown (see :func:`national_takedown_append`)."""
    if resource.is_remote and identity.is_hub() and kind == "withdraw" and reason == "takedown_upheld":
        national_takedown_append(resource)
        return
    if resource.is_remote or resource.origin_node != identity.node_id():
        return
    envelope_kind_ = envelope_kind(kind=kind, resource=resource)
    if envelope_kind_ is None:
        return
    if envelope_kind_ == "tombstone" and reason not in WITHDRAW_REASONS:
        reason = "withdrawn_by_publisher"
    if envelope_kind_ != "tombstone":
        # The record must carry the committed-to-be rights and files, not a stale prefetch.
        resource = Resource.objects.select_related("rights").prefetch_related("files").get(pk=resource.pk)
    outbox_append([_sign(resource, kind=envelope_kind_, reason=reason, key=identity.signing_key())])
    from federation.jobs import poke_pullers_on_commit

    poke_pullers_on_commit()


def record_imported(*, resource_ids: Sequence[str]) -> None:
    """Catalog bulk change hook (``import_corpus``): sign upsert envelopes for the published local
    resources among ``resource_ids`` and append them to the feed in the importing transaction, then
    poke the hub once it commits. Resources already in the feed at their version are skipped."""
    records = local_published_records(resource_ids=resource_ids, origin=identity.node_id())
    entries = _entries_for_unsent(records, record_of=lambda item: item.record)
    if entries:
        outbox_append(entries)
        from federation.jobs import poke_pullers_on_commit

        poke_pullers_on_commit()


def _entries_for_unsent(items: Sequence[Any], *, record_of: Callable[[Any], dict[str, Any]]) -> list[NewEntry]:
    """Signed upsert entries for those of ``items`` (resources, or their ``LocalRecord``) whose current
    version is not in the feed; ``record_of`` gives an item's record."""
    if not items:
        return []
    me = identity.node_id()
    have = set(OutboxEntry.objects.filter(origin=me, resource_id__in=[r.record_id for r in items])
               .values_list("resource_id", "version"))
    key = identity.signing_key()
    return [_signed_entry(record_of(r), kind="upsert", origin=r.origin_node, version=r.version, key=key)
            for r in items if (r.record_id, r.version) not in have and r.origin_node == me]


def national_takedown_append(resource: Resource) -> None:
    """(Hub) Sign the national takedown order the hub just recorded for a province's record
    (``catalog.takedowns``): a ``takedown`` envelope whose origin is the hub, naming the record's
    origin. Every node applies it — the origin included, which withdraws its own resource and
    publishes the tombstone — and keeps it as a standing fact against every later version. The
    version is the hub's order counter for the record, so each order is applied once."""
    fact = takedown_standing(origin=resource.origin_node, record_id=resource.record_id)
    if fact is None or fact.ordered_by != identity.node_id():
        return
    record = {**tombstone_record(resource, reason="takedown_upheld"), "target_origin": resource.origin_node,
              "target_version": resource.version, "note": (fact.note or resource.review_note or "")[:500]}
    _append_order(record, kind="takedown", version=fact.order_version)


def national_reinstatement_append(*, resource: Resource, version: int, note: str) -> None:
    """(Hub) Sign the reinstatement that lifts the hub's takedown of a record: every node lifts the
    standing fact, and a record that was public (or got a newer version meanwhile) is public again."""
    record = {"id": str(resource.record_id), "reason": "reinstated", "stage": resource.stage,
              "subject": resource.subject, "target_origin": resource.origin_node, "note": note[:500],
              "reinstated_at": timezone.now().strftime("%Y-%m-%dT%H:%M:%SZ")}
    _append_order(record, kind="reinstate", version=version)


def _append_order(record: dict[str, Any], *, kind: str, version: int) -> None:
    envelope = sign_envelope(record=record, kind=kind, origin=identity.node_id(), version=version,
                             signing_key=identity.signing_key())
    outbox_append([entry_for(envelope)])
    from federation.jobs import poke_pullers_on_commit

    poke_pullers_on_commit()


def outbox_relay(envelopes: Iterable[VerifiedEnvelope]) -> list[int]:
    """(Hub) append envelopes applied from a province, unchanged, so provinces pulling the hub get them."""
    return outbox_append([
        entry_for(item.envelope, content_hash=item.content_hash, text=item.canonical.decode("utf-8"))
        for item in envelopes
    ])


def outbox_backfill(*, batch_size: int = 500, progress: Any = None) -> int:
    """Append envelopes for published local resources whose current version is not in the feed yet
    (resources imported before this node was federated, or with the hooks off). Idempotent; memory
    is flat. Returns the number of envelopes appended."""
    added = 0
    for batch in local_published_resources(batch_size=batch_size):
        entries = _entries_for_unsent(batch, record_of=resource_record)
        if entries:
            with transaction.atomic():
                outbox_append(entries)
            added += len(entries)
        if progress is not None:
            progress(len(batch))
        reset_queries()  # keep memory flat with DEBUG on
    if added:
        from federation.jobs import poke_pullers_on_commit

        poke_pullers_on_commit()
    return added


# --- serving the feed --------------------------------------------------------------------------

def parse_sets(values: Iterable[str]) -> list[dict[str, str]]:
    """Parse set specs: each is ``field:value`` terms joined by ``,`` (all must match), fields
    ``stage``, ``subject`` and ``region`` (a GB/T 2260 prefix of 2, 4 or 6 digits: entries of origins
    inside it, e.g. ``region:44`` for Guangdong's nodes only); an entry matches when it matches any set.
    Raises SetSpecInvalidError."""
    sets = []
    for raw in values:
        if not raw:
            continue
        terms: dict[str, str] = {}
        for part in raw.split(","):
            match = _SET_TERM.fullmatch(part.strip())
            name, value = (match.group(1) or match.group(3), match.group(2) or match.group(4)) if match else ("", "")
            if match is None or name in terms:
                raise SetSpecInvalidError(details={"set": raw})
            terms[name] = value
        sets.append(terms)
    if len(sets) > 20:
        raise SetSpecInvalidError("At most 20 sets per request.")
    return sets


def _set_filter(sets: list[dict[str, str]]) -> Q | None:
    if not sets:
        return None
    condition = Q()
    for terms in sets:
        fields = {k: v for k, v in terms.items() if k != "region"}
        term = Q(**fields)
        if "region" in terms:  # the hub's national orders concern every region
            term &= Q(origin__in=sorted(trust.nodes_within(terms["region"]))) | Q(origin=trust.hub_id())
        condition |= term
    return condition


@dataclass(frozen=True)
class FeedScope:
    """Which origins' entries a reader is served: ``only`` these (None: any), never those in ``without``."""

    only: frozenset[str] | None = None
    without: frozenset[str] = frozenset()


def feed_scope(*, reader: str, levels: bool = True, echo: bool = False) -> FeedScope:
    """What this node's feed holds for ``reader`` (PROTOCOL.md §6.1): its parent gets only the entries of
    this node and the nodes below it (never what it relayed down); a child gets everything but the entries
    of its own subtree, which came from it (unless it asks for them back: ``echo``, recovery). A reader
    that does not verify certificate chains (``levels`` not asked: a node of the two-level protocol) gets
    only entries of the hub and of nodes the hub certified."""
    me = identity.node_id()
    parent = trust.parent_peer()
    only: set[str] | None = None
    without: set[str] = set()
    if parent is not None and reader == parent.node_id:
        only = trust.subtree(me)
    elif not echo and reader in {peer.node_id for peer in trust.children()}:
        without = trust.subtree(reader)
    if not levels:
        legacy = trust.depth_one_nodes()
        if identity.is_hub() or (parent is not None and parent.node_id == trust.hub_id()):
            legacy.add(me)
        only = legacy if only is None else only & legacy
    return FeedScope(only=frozenset(only) if only is not None else None, without=frozenset(without))


@dataclass(frozen=True)
class FeedPage:
    """A page of the feed: canonical envelope texts, the cursor to ask from next, whether more
    entries follow, and the head of the feed when the page was read."""

    envelopes: list[str]
    next: int
    more: bool
    head: int

    def to_json_bytes(self) -> bytes:
        """The response body, built around the stored canonical bytes (no re-serialisation)."""
        more = "true" if self.more else "false"
        return (f'{{"envelopes":[{",".join(self.envelopes)}],"head":{self.head},"more":{more},'
                f'"next":{self.next}}}').encode()


def feed_page(*, since: int, limit: int, sets: list[dict[str, str]] | None = None,
              scope: FeedScope | None = None) -> FeedPage:
    """Entries after ``since`` (in sequence order, at most ``limit`` and, but for a single larger
    entry, at most ``FEDERATION_MAX_PAGE_BYTES`` of envelopes; only those of ``sets`` and ``scope``
    when given).

    ``next`` is the last sequence number the page covers, including entries skipped by the set
    and scope filters, so a selective reader still moves forward."""
    head = outbox_head()
    qs = OutboxEntry.objects.filter(seq__gt=since, seq__lte=head).order_by("seq")
    condition = _set_filter(sets or [])
    if condition is not None:
        qs = qs.filter(condition)
    if scope is not None and scope.only is not None:
        qs = qs.filter(origin__in=sorted(scope.only))
    if scope is not None and scope.without:
        qs = qs.exclude(origin__in=sorted(scope.without))
    rows = list(qs.values_list("seq", "envelope")[:limit])
    full = len(rows) == limit
    budget = settings.FEDERATION_MAX_PAGE_BYTES
    served = []
    for index, (seq, envelope) in enumerate(rows):
        size = len(envelope.encode("utf-8"))
        if size > MAX_ENVELOPE_BYTES:
            # Stored before envelopes had a weight limit: left out (its sequence number is still
            # covered), never served, so no reader can be held up by it.
            logger.warning("feed entry over the envelope limit left out", extra={"seq": seq, "bytes": size})
            continue
        budget -= size + 1
        if budget < 0 and served:  # the page ends before this entry (one entry always fits)
            rows, full = rows[:index], True
            break
        served.append((seq, envelope))
    if rows and full:
        last = rows[-1][0]
        return FeedPage(envelopes=[e for _, e in served], next=last, more=last < head, head=head)
    return FeedPage(envelopes=[e for _, e in served], next=max(head, since), more=False, head=head)


def clamp_limit(raw: str | None) -> int:
    try:
        value = int(raw or settings.FEDERATION_PAGE_SIZE)
    except ValueError:
        value = settings.FEDERATION_PAGE_SIZE
    return max(1, min(value, settings.FEDERATION_MAX_PAGE_SIZE))
