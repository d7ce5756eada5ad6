"""The pull engine: read a peer's change feed page by page and apply it, crash-safe.

For each page: fetch it with a signed request (the response must be signed by that peer), verify
every envelope against its *origin's* certified key before anything is stored (from a child, only
origins certified at or below that child), then — in one transaction — apply the records through
``catalog.remote``, record the versions applied, relay them (on the hub, provinces and cities: into
this node's own feed, for the nodes above and below it) and advance the peer's cursor. A crash anywhere leaves either the whole page applied
with the cursor after it, or nothing; the next pull resumes from the cursor, and applying is
idempotent by (origin, id, version), so nothing is lost and nothing is doubled. Nothing is staged
between pages: memory and storage overhead of an interrupted sync are one page.
"""

from __future__ import annotations

import importlib
import logging
import multiprocessing
import os
import socket
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import close_old_connections, reset_queries, transaction
from django.db.models import Q
from django.utils import timezone

from catalog.recovery import local_records_restore
from catalog.remote import ApplyOutcome, RemoteChange, clash_key, remote_resources_apply
from catalog.takedowns import resource_reinstate, resource_withdraw_national
from exchange.audit import audit_record
from exchange.bulk import insert_rows
from exchange.errors import ExchangeError
from exchange.memory import bulk_allocations
from federation import identity, trust
from federation.errors import (
    EnvelopeOriginMismatchError,
    FeedInvalidError,
    PeerResponseError,
    UnknownPeerError,
)
from federation.models import IdClash, OutboxEntry, Peer, RemoteRecord
from federation.outbox import entry_for, outbox_append, outbox_relay, parse_sets
from federation.signing import (
    CanonicalJsonError,
    CertificateRevokedError,
    EnvelopeTooLargeError,
    UnknownKeyError,
    VerifiedEnvelope,
    parse_json,
    verified_envelope,
    verify_envelope,
)
from federation.transport import (
    SECURITY_CODES,
    PendingResponse,
    SignedResponse,
    build_url,
    signed_get_in_background,
    signed_request,
)
from federation.verify_worker import verify_chunk

logger = logging.getLogger("federation.sync")
FEED_PATH = "/federation/v1/changes"


@dataclass
class Page:
    """A fetched feed page, not yet verified."""

    envelopes: list[Any]
    next: int
    more: bool
    head: int


@dataclass
class PullResult:
    """What one pull run did."""

    node_id: str
    pages: int = 0
    received: int = 0
    applied: int = 0
    skipped_own: int = 0
    refused_revoked: int = 0
    refused_too_large: int = 0
    relayed: int = 0
    cursor: int = 0
    head: int = 0
    error_code: str = ""
    error: str = ""
    busy: bool = False  # another pull of this peer holds the lease: nothing done
    restore_own: bool = False  # recovery: this node's own envelopes are restored, not skipped
    restored: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.error_code


def fetch_page(peer: Peer, *, since: int, limit: int | None = None, echo: bool = False) -> Page:
    """GET one page of ``peer``'s feed (signed both ways). Raises FeedInvalidError for a malformed page."""
    return _page_of(signed_request("GET", _feed_url(peer, since, limit, echo=echo), expect_node=peer.node_id), since)


class PendingPage:
    """A page being fetched in the background (:func:`fetch_page_in_background`)."""

    def __init__(self, pending: PendingResponse, since: int) -> None:
        self.pending, self.since = pending, since

    def result(self) -> Page:
        """The page, its response verified. Raises what :func:`fetch_page` raises."""
        return _page_of(self.pending.result(), self.since)


def fetch_page_in_background(peer: Peer, *, since: int, limit: int | None = None, echo: bool = False
                             ) -> PendingPage:
    """Start fetching a page while the caller does something else (its signature is checked by
    :meth:`PendingPage.result`, in the caller's thread)."""
    return PendingPage(signed_get_in_background(_feed_url(peer, since, limit, echo=echo), expect_node=peer.node_id),
                       since)


def relays_for_children(peer: Peer) -> bool:
    """Whether this node reads ``peer`` (its parent) for its children too: then it asks for everything and
    keeps its own sets for what it applies itself (``local_sets``), so no child loses what it wants."""
    return peer.relation == Peer.Relation.PARENT and Peer.objects.filter(
        relation=Peer.Relation.CHILD, status=Peer.Status.ACTIVE).exists()


def local_sets(peer: Peer) -> list[dict[str, str]] | None:
    """The sets this node applies of what it reads from ``peer`` itself (None: what it asked for)."""
    return parse_sets(peer.sets) if peer.sets and relays_for_children(peer) else None


def _feed_url(peer: Peer, since: int, limit: int | None, *, echo: bool = False) -> str:
    params: list[tuple[str, Any]] = [("since", since), ("limit", limit or settings.FEDERATION_PAGE_SIZE),
                                     ("levels", 1)]
    if echo:
        params.append(("echo", 1))
    if not relays_for_children(peer):
        params += [("set", spec) for spec in peer.sets or []]
    return build_url(peer.base_url, FEED_PATH, params)


def _page_of(response: SignedResponse, since: int) -> Page:
    try:
        body = parse_json(response.body)
    except CanonicalJsonError as exc:
        raise FeedInvalidError(f"feed page is not JSON: {exc.message}") from exc
    if not isinstance(body, dict) or not isinstance(body.get("envelopes"), list):
        raise FeedInvalidError("a feed page is an object with an envelopes list")
    nxt, more, head = body.get("next"), body.get("more"), body.get("head", body.get("next"))
    if type(nxt) is not int or type(more) is not bool or type(head) is not int or nxt < since:
        raise FeedInvalidError("next (integer ≥ since), more (boolean) and head (integer) are required",
                               details={"next": nxt, "more": more, "since": since})
    if more and nxt == since:
        raise FeedInvalidError("the page claims more entries but does not move the cursor")
    return Page(envelopes=body["envelopes"], next=nxt, more=more, head=head)


class _KeyResolver:
    """Resolves envelope keys, refreshing the pulled peer's directory once per pull when a key is unknown.
    From a child, an origin must be certified at or below that child (its chain runs through it)."""

    def __init__(self, peer: Peer) -> None:
        self.peer = peer
        self.refreshed = False
        self.valid_until: dict[tuple[str, str], Any] = {}
        self.keys: dict[tuple[str, str], Any] = {}  # per page: one lookup per origin key
        self.from_child = peer.relation == Peer.Relation.CHILD
        self.below: set[str] | None = None  # from a child: the nodes known to be certified at or below it

    def _refresh(self) -> None:
        from federation.enrolment import directory_refresh

        self.refreshed = True
        self.below = None
        try:
            directory_refresh(self.peer.node_id)
        except ExchangeError as exc:
            logger.info("directory refresh failed", extra={"peer": self.peer.node_id, "error": exc.message})

    def check_origin(self, origin: Any) -> None:
        """From a child, refuse an origin that is not the child or certified below it — before looking for
        its key (an origin the child may not relay is a mismatch whatever key it names). The child's
        directory is read once when the origin is not known below it yet (a node it certified lately).
        Raises EnvelopeOriginMismatchError."""
        if not self.from_child or origin == self.peer.node_id:
            return
        if isinstance(origin, str) and origin not in (trust.hub_id(), identity.node_id()):
            if self.below is None:
                self.below = trust.subtree(self.peer.node_id)
            if origin not in self.below and not self.refreshed:
                self._refresh()
                self.below = trust.subtree(self.peer.node_id)
            if origin in self.below:
                return
        raise EnvelopeOriginMismatchError(f"{self.peer.node_id} relays {origin}, which is not certified at or below it",
                                          details={"peer": self.peer.node_id, "origin": origin})

    def __call__(self, origin: str, kid: str):
        known = self.keys.get((origin, kid))
        if known is not None:
            return known
        try:
            found = trust.envelope_key_of(origin, kid)
        except UnknownKeyError:
            if self.refreshed:
                raise
            self._refresh()
            found = trust.envelope_key_of(origin, kid)
        if self.from_child and self.peer.node_id not in found.chain:
            raise EnvelopeOriginMismatchError(
                f"{self.peer.node_id} relays {origin}, which is not certified at or below it",
                details={"peer": self.peer.node_id, "origin": origin, "chain": list(found.chain)})
        self.valid_until[(origin, kid)] = found.valid_until
        self.keys[(origin, kid)] = found.public_key
        return found.public_key


@dataclass
class _Verification:
    """A page's verification under way: done inline, or as futures of the worker pool."""

    resolver: _KeyResolver
    verified: list[VerifiedEnvelope] | None = None
    futures: list[tuple[list[Any], Future]] = field(default_factory=list)  # (chunk, its checks)
    peer: Peer | None = None
    result: PullResult | None = None


def _candidates(peer: Peer, page: Page, result: PullResult, resolver: _KeyResolver) -> list[Any]:
    me = identity.node_id()
    candidates = []
    for envelope in page.envelopes:
        origin = envelope.get("origin") if isinstance(envelope, dict) else None
        if origin == me and not result.restore_own:
            result.skipped_own += 1
            continue
        # A child relays only its subtree's envelopes (the key resolver checks their chains too).
        resolver.check_origin(origin)
        candidates.append(envelope)
    return candidates


def _pair(envelope: Any) -> tuple[str, str] | None:
    if isinstance(envelope, dict) and isinstance(envelope.get("origin"), str) and isinstance(envelope.get("kid"), str):
        return envelope["origin"], envelope["kid"]
    return None


def _start_verification(peer: Peer, page: Page, result: PullResult) -> _Verification:
    """Begin verifying a page: inline, or in the worker pool when ``FEDERATION_VERIFY_WORKERS`` > 0
    (keys are resolved here, in this process; workers only check structure and signatures)."""
    resolver = _KeyResolver(peer)
    candidates = _candidates(peer, page, result, resolver)
    pool = _verify_pool()
    if pool is None:
        verified = []
        for envelope in candidates:
            try:
                verified.append(verify_envelope(envelope, resolve_key=resolver))
            except CertificateRevokedError:
                result.refused_revoked += 1
            except EnvelopeTooLargeError as exc:
                _refuse_too_large(peer, exc, result)
        return _Verification(resolver=resolver, verified=verified)
    keys: dict[tuple[str, str], bytes] = {}
    revoked: set[tuple[str, str]] = set()
    for envelope in candidates:
        pair = _pair(envelope)
        if pair is None or pair in keys or pair in revoked:
            continue
        try:
            keys[pair] = resolver(*pair).public_bytes_raw()
        except CertificateRevokedError:
            revoked.add(pair)
        except UnknownKeyError:
            pass  # the worker refuses the envelope, in page order
    to_verify = [e for e in candidates if _pair(e) not in revoked]
    result.refused_revoked += len(candidates) - len(to_verify)
    size = max(1, -(-len(to_verify) // pool._max_workers))  # noqa: SLF001 - ceil division over workers
    chunks = [to_verify[i:i + size] for i in range(0, len(to_verify), size)]
    futures = [(chunk, pool.submit(verify_chunk, chunk, keys, size * n)) for n, chunk in enumerate(chunks)]
    return _Verification(resolver=resolver, futures=futures, peer=peer, result=result)


def _finish_verification(job: _Verification) -> list[VerifiedEnvelope]:
    """Wait for a page's verification; raise the first failure (in page order); check key validity."""
    verified = job.verified
    if verified is None:
        verified = []
        for chunk, future in job.futures:
            checked, failure = future.result()
            # The worker checked a pickled copy of these very objects: pair them with its results
            # (an envelope it found too large is skipped alone, as inline).
            for envelope, outcome in zip(chunk, checked, strict=False):
                if isinstance(outcome, EnvelopeTooLargeError):
                    assert job.peer is not None and job.result is not None
                    _refuse_too_large(job.peer, outcome, job.result)
                    continue
                canonical, content_hash, issued_at = outcome
                verified.append(verified_envelope(envelope, canonical=canonical, content_hash=content_hash,
                                                  issued_at=issued_at))
            if failure is not None:
                _, module, name, message, details = failure
                error_class = getattr(importlib.import_module(module), name)
                raise error_class(message, details=details)
    for item in verified:
        trust.check_envelope_time(origin=item.origin, kid=item.kid, issued_at=item.issued_at,
                                  valid_until=job.resolver.valid_until.get((item.origin, item.kid)))
    return verified


def _refuse_too_large(peer: Peer, exc: EnvelopeTooLargeError, result: PullResult) -> None:
    """An envelope over the protocol's weight is skipped alone — counted, logged and audited — so that
    no single entry can ever hold a feed up (nor be relayed to nodes that could not read it)."""
    result.refused_too_large += 1
    logger.warning("envelope too large, skipped", extra={"peer": peer.node_id, **exc.details})
    audit_record(action="federation.envelope_refused", actor=peer.node_id, object_type="peer",
                 object_id=peer.node_id, data={"code": exc.code, "message": exc.message, "details": exc.details})


def verify_page(peer: Peer, page: Page, result: PullResult) -> list[VerifiedEnvelope]:
    """Verify every envelope of a page against its origin's key; return those to apply.

    Envelopes this node originated are skipped; envelopes of a revoked origin, and envelopes heavier
    than the protocol allows, are refused one by one (counted, not stored). Anything else wrong
    refuses the whole page: raises
    EnvelopeMalformedError, EnvelopeSignatureError, UnknownKeyError, EnvelopeKeyNotValidError or
    EnvelopeOriginMismatchError, and nothing of the page is stored."""
    return _finish_verification(_start_verification(peer, page, result))


_pool: ProcessPoolExecutor | None = None
_pool_size = 0


def _verify_pool() -> ProcessPoolExecutor | None:
    """The verification worker pool (``FEDERATION_VERIFY_WORKERS`` processes), or None for inline."""
    global _pool, _pool_size
    workers = settings.FEDERATION_VERIFY_WORKERS
    if workers <= 0:
        return None
    if _pool is None or _pool_size != workers:
        # forkserver: workers import only protocol code, never a copy of this process's connections.
        _pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("forkserver"))
        _pool_size = workers
    return _pool


def verify_pool_shutdown() -> None:
    """Stop the verification workers (they are started again on demand)."""
    global _pool
    if _pool is not None:
        _pool.shutdown(wait=True)
        _pool = None


def apply_page(peer: Peer, *, since: int, page: Page, verified: Sequence[VerifiedEnvelope],
               result: PullResult) -> bool:
    """Apply a verified page and move the cursor to ``page.next``, atomically. Returns False (and
    changes nothing) when another pull of this peer moved the cursor meanwhile."""
    relayed: list[VerifiedEnvelope] = []
    with transaction.atomic():
        locked = Peer.objects.select_for_update().get(pk=peer.pk)
        if locked.cursor != since:
            return False
        best: dict[tuple[str, str], VerifiedEnvelope] = {}
        for item in verified:
            key = (item.origin, item.id)
            if key not in best or item.version > best[key].version:
                best[key] = item
        held = {}
        if best:
            # By origin and id: the lookup the unique (origin, resource_id) index serves (by id alone
            # it was a scan of every record held, per page).
            origins = {origin for origin, _ in best}
            for row in RemoteRecord.objects.filter(origin__in=origins, resource_id__in=[rid for _, rid in best]):
                held[(row.origin, str(row.resource_id))] = row
        me = identity.node_id()
        # Only when restoring (see _candidates): every version, in feed order — a withdrawal needs the
        # record it withdraws, and the node's feed gets its history back whole.
        own = [item for item in verified if item.origin == me]
        if own:
            _restore_own(own, result)
        fresh = [item for key, item in best.items()
                 if item.origin != me and (key not in held or item.version > held[key].version)]
        only_relayed: list[VerifiedEnvelope] = []
        sets = local_sets(locked)
        if sets is not None:  # read for the children too: this node applies only what its own sets ask for
            wanted_sets = _SetMatcher(sets)
            only_relayed = [item for item in fresh if not wanted_sets(item)]
            fresh = [item for item in fresh if wanted_sets(item)]
        # Orders about records — the hub's takedowns, anyone's reinstatements — act after the records
        # of the page are in, so an order and a newer version in one page still end taken down.
        orders = [item for item in fresh if _is_order(item)]
        fresh = [item for item in fresh if not _is_order(item)]
        outcomes = remote_resources_apply(changes=[
            RemoteChange(origin=item.origin, version=item.version, kind=item.kind, payload=item.payload,
                         reason=str(item.payload.get("reason") or ""), issued_at=item.issued_at) for item in fresh
        ])
        fresh += orders
        outcomes += [_apply_order(item) for item in orders]
        now = timezone.now()
        new_rows, changed_rows = [], []
        for item, outcome in zip(fresh, outcomes, strict=True):
            result.outcomes[outcome.outcome] = result.outcomes.get(outcome.outcome, 0) + 1
            if outcome.clash:
                _record_clash(item, holder=outcome.clash, received_from=peer.node_id)
            if outcome.outcome in ("conflict", "invalid"):
                logger.warning("remote record not applied", extra={"origin": item.origin, "id": item.id,
                                                                   "outcome": outcome.outcome,
                                                                   "error": outcome.error})
                continue
            row = held.get((item.origin, item.id))
            if row is None:
                new_rows.append({"origin": item.origin, "resource_id": item.id, "version": item.version,
                                 "kind": item.kind, "content_hash": item.content_hash,
                                 "received_from": peer.node_id, "applied_at": now})
            else:
                row.version, row.kind, row.content_hash = item.version, item.kind, item.content_hash
                row.received_from, row.applied_at = peer.node_id, now
                changed_rows.append(row)
            relayed.append(item)
            result.applied += int(outcome.changed)
        insert_rows(RemoteRecord, new_rows)
        RemoteRecord.objects.bulk_update(changed_rows, ["version", "kind", "content_hash", "received_from",
                                                        "applied_at"], batch_size=500)
        if identity.is_hub():  # the hub relays what it applied now, nothing else (as before levels)
            if relayed:
                outbox_relay(relayed)
                result.relayed += len(relayed)
        elif trust.relays():
            # Below the hub, a parent relays every verified envelope its feed does not hold yet: the ones
            # applied now, those its own sets leave out, and those it held before it had children (it
            # re-reads its parent's feed from the start when it approves the first one) — but never a version
            # older than the one held here (a re-read page, or a page carrying two versions of a record).
            fresh_ids = {id(item) for item in relayed}
            held_before = [item for item in verified if item.origin != me and id(item) not in fresh_ids
                           and (item.origin, item.id) in held
                           and item.version >= held[(item.origin, item.id)].version]
            relayed = _not_in_feed(relayed + only_relayed + held_before)
            outbox_relay(relayed)
            result.relayed += len(relayed)
        locked.cursor, locked.remote_head = page.next, page.head
        locked.applied_total += len(relayed)
        locked.last_success_at = now
        fields = ["cursor", "remote_head", "applied_total", "last_success_at", "updated_at"]
        if locked.pulling_by == _HOLDER:  # renew this pull's lease
            locked.pulling_until = _lease_until(now)
            fields.append("pulling_until")
        locked.save(update_fields=fields)
        if trust.relays() and relayed:
            from federation.jobs import poke_pullers_on_commit

            poke_pullers_on_commit(exclude=peer.node_id)
    return True


class _SetMatcher:
    """Whether an envelope is one a node's own sets ask for (as the feed's filter would serve it)."""

    def __init__(self, sets: list[dict[str, str]]) -> None:
        self.sets = sets
        self.regions = {terms["region"]: trust.nodes_within(terms["region"]) for terms in sets if "region" in terms}

    def __call__(self, item: VerifiedEnvelope) -> bool:
        if item.origin == trust.hub_id():
            return True  # national orders concern every region and are few
        for terms in self.sets:
            if all((self.regions.get(value, set()) and item.origin in self.regions[value]) if name == "region"
                   else str(item.payload.get(name) or "") == value for name, value in terms.items()):
                return True
        return False


def _not_in_feed(items: Sequence[VerifiedEnvelope]) -> list[VerifiedEnvelope]:
    """Those of ``items`` whose (origin, id, version) is not in this node's feed yet, and no newer version
    of whose record is (a relay never forwards a version older than one it forwarded)."""
    if not items:
        return []
    newest: dict[tuple[str, uuid.UUID], int] = {}
    for origin, resource_id, version in (OutboxEntry.objects.filter(origin__in={i.origin for i in items},
                                                                    resource_id__in=[i.id for i in items])
                                         .values_list("origin", "resource_id", "version")):
        newest[(origin, resource_id)] = max(version, newest.get((origin, resource_id), 0))
    out, seen = [], set()
    for item in items:
        record = (item.origin, uuid.UUID(item.id))
        if item.version > newest.get(record, 0) and (*record, item.version) not in seen:
            seen.add((*record, item.version))
            out.append(item)
    return out


def _restore_own(items: Sequence[VerifiedEnvelope], result: PullResult) -> None:
    """Recovery: this node's own envelopes, relayed back by the hub, become its local resources again,
    and go back into its own feed byte for byte (peers that hold them see them as already held)."""
    changes = [RemoteChange(origin=item.origin, version=item.version, kind=item.kind, payload=item.payload,
                            reason=str(item.payload.get("reason") or ""), issued_at=item.issued_at) for item in items]
    outcomes = local_records_restore(changes=changes)
    back = [item for item, outcome in zip(items, outcomes, strict=True) if outcome.outcome in ("restored", "withdrawn")]
    for outcome in outcomes:
        key = f"own_{outcome.outcome}"
        result.outcomes[key] = result.outcomes.get(key, 0) + 1
    held = set(OutboxEntry.objects.filter(origin=identity.node_id(), resource_id__in=[i.id for i in back])
               .values_list("resource_id", "version"))
    outbox_append([entry_for(item.envelope, content_hash=item.content_hash, text=item.canonical.decode("utf-8"))
                   for item in back if (uuid.UUID(item.id), item.version) not in held])
    result.restored += len(back)


def _is_order(item: VerifiedEnvelope) -> bool:
    return item.kind == "reinstate" or (item.kind == "takedown" and item.origin == trust.hub_id())


def _apply_order(item: VerifiedEnvelope) -> ApplyOutcome:
    """Apply an order about a record named by ``target_origin`` and the envelope's id: the hub's signed
    takedown (a national order: this node's copy is withdrawn — the origin's own resource included —
    and the takedown stands against every later version), or a reinstatement signed by whoever
    ordered the takedown it lifts (anyone else's changes nothing: ``not_orderer``)."""
    target = item.payload.get("target_origin")
    if not isinstance(target, str) or not target:
        return ApplyOutcome(item.id, "invalid", f"a {item.kind} order names target_origin")
    note = str(item.payload.get("note") or "")[:2000]
    if item.kind == "takedown":
        outcome = resource_withdraw_national(origin=target, record_id=item.id, actor=item.origin,
                                             ordered_by=item.origin, order_version=item.version, note=note)
    else:
        outcome = resource_reinstate(origin=target, record_id=item.id, actor=item.origin, lifted_by=item.origin,
                                     version=item.version, note=note)
    logger.info("order applied", extra={"kind": item.kind, "id": item.id, "origin": target, "by": item.origin,
                                        "outcome": outcome})
    return ApplyOutcome(item.id, {"already_withdrawn": "recorded", "absent": "recorded"}.get(outcome, outcome))


def _record_clash(item: VerifiedEnvelope, *, holder: str, received_from: str) -> None:
    """Another record holds this record's id here: keep both, and say so loudly (audit, operators' view)."""
    _, created = IdClash.objects.get_or_create(origin=item.origin, record_id=item.id, defaults={
        "holder": holder, "local_id": clash_key(item.origin, item.id), "received_from": received_from,
        "first_seen_at": timezone.now()})
    if created:
        logger.warning("record id clash", extra={"origin": item.origin, "id": item.id, "holder": holder})
        audit_record(action="federation.id_clash", actor=received_from, object_type="record", object_id=item.id,
                     data={"origin": item.origin, "holder": holder, "local_id": str(clash_key(item.origin, item.id))})


def error_code_of(exc: ExchangeError) -> str:
    """The code to show for a failed pull: the peer's own code when the peer refused us."""
    if isinstance(exc, PeerResponseError) and exc.peer_code:
        return exc.peer_code
    return exc.code


def _record_error(peer: Peer, exc: ExchangeError) -> None:
    """Remember a failed pull on the peer, and back off: the n-th failure in a row defers the next
    scheduled pull by the pull interval × 2^(n-1), at most ``FEDERATION_BACKOFF_MAX`` (a poke from
    the peer, which proves it is back, still pulls at once)."""
    code = error_code_of(exc)
    previous = Peer.objects.filter(pk=peer.pk).values_list("last_error_code", "consecutive_failures").first()
    previous_code, failures = previous if previous else ("", 0)
    now = timezone.now()
    delay = min(settings.FEDERATION_PULL_INTERVAL * 2 ** min(failures, 20), settings.FEDERATION_BACKOFF_MAX)
    Peer.objects.filter(pk=peer.pk).update(last_error_code=code, last_error=exc.message[:2000], last_error_at=now,
                                           consecutive_failures=failures + 1,
                                           next_attempt_at=now + timedelta(seconds=delay))
    refused_by_us = not isinstance(exc, PeerResponseError)
    if refused_by_us and (code in SECURITY_CODES or code.startswith("envelope_") or code == "feed_invalid"):
        if previous_code != code:
            audit_record(action="federation.feed_refused", actor=peer.node_id, object_type="peer",
                         object_id=peer.node_id, data={"code": code, "message": exc.message,
                                                       "details": exc.details})


def _lease_until(moment: datetime) -> datetime:
    # A page is fetched within one deadline and applied in moments; the lease is renewed with every page.
    return moment + timedelta(seconds=2 * settings.FEDERATION_REQUEST_DEADLINE + 30)


_HOLDER = f"{socket.gethostname()}:{os.getpid()}"


def _lease(peer: Peer, started: datetime) -> bool:
    """Claim the peer for this pull (one pull per peer at a time). A lease ends when its pull ends,
    when it expires (renewed with each page, so a pull that died on another host frees the peer within
    minutes), or at once when its holder is a process of this host that no longer runs (kill -9).
    False when another live pull holds it."""
    free = Q(pulling_until__isnull=True) | Q(pulling_until__lt=started)
    if Peer.objects.filter(free, pk=peer.pk).update(pulling_until=_lease_until(started), pulling_by=_HOLDER):
        return True
    holder = Peer.objects.filter(pk=peer.pk).values_list("pulling_by", flat=True).first() or ""
    if not _dead_here(holder):
        return False
    taken = Peer.objects.filter(pk=peer.pk, pulling_by=holder).update(pulling_until=_lease_until(started),
                                                                      pulling_by=_HOLDER)
    if taken:
        logger.warning("took over the pull lease of a process that died", extra={"peer": peer.node_id,
                                                                                 "holder": holder})
    return bool(taken)


def _dead_here(holder: str) -> bool:
    host, _, pid = holder.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


@bulk_allocations()
def pull_peer(*, node_id: str, max_pages: int | None = None, limit: int | None = None,
              restore_own: bool = False) -> PullResult:
    """Pull ``node_id``'s feed from this node's cursor until it is exhausted (or ``max_pages``).

    Errors are recorded on the peer (``last_error_code``) and returned in the result, not raised;
    pages applied before the error stay applied. Raises UnknownPeerError for an unknown peer."""
    peer = Peer.objects.filter(node_id=node_id).first()
    if peer is None:
        raise UnknownPeerError(details={"node_id": node_id})
    started = timezone.now()
    result = PullResult(node_id=node_id, cursor=peer.cursor, restore_own=restore_own)
    if not _lease(peer, started):
        result.busy = True  # that pull will see the poke's entries too: it reads to the end
        return result
    try:
        return _pull(peer, started=started, result=result, max_pages=max_pages, limit=limit)
    finally:
        Peer.objects.filter(pk=peer.pk, pulling_by=_HOLDER).update(pulling_until=None, pulling_by="")


def _pull(peer: Peer, *, started: datetime, result: PullResult, max_pages: int | None, limit: int | None
          ) -> PullResult:
    node_id = peer.node_id
    Peer.objects.filter(pk=peer.pk).update(last_attempt_at=started)
    Peer.objects.filter(pk=peer.pk, pull_requested_at__lte=started).update(pull_requested_at=None)
    budget_ends = time.monotonic() + settings.FEDERATION_PULL_BUDGET
    try:
        # Pipelined: while a page is applied, the next one is (with a worker pool) verified and the
        # one after it is downloaded in the background. Nothing of a page is stored before all of
        # it is verified; at most three pages are held. A pull reads pages for at most
        # FEDERATION_PULL_BUDGET seconds, then leaves the rest to the next one.
        def wanted(pages_ahead: int) -> bool:
            if time.monotonic() > budget_ends:
                return False
            return max_pages is None or result.pages + pages_ahead < max_pages

        echo = result.restore_own
        page = fetch_page(peer, since=peer.cursor, limit=limit, echo=echo)
        job = _start_verification(peer, page, result)
        pending: PendingPage | None = None
        while True:
            since = peer.cursor
            result.received += len(page.envelopes)
            verified = _finish_verification(job)
            following: tuple[Page, _Verification] | None = None
            prefetch_error: ExchangeError | None = None
            if page.more and wanted(1):
                try:
                    upcoming = pending.result() if pending else fetch_page(peer, since=page.next, limit=limit,
                                                                           echo=echo)
                    pending = None
                    following = (upcoming, _start_verification(peer, upcoming, result))
                    if upcoming.more and wanted(2):
                        pending = fetch_page_in_background(peer, since=upcoming.next, limit=limit, echo=echo)
                except ExchangeError as exc:
                    prefetch_error = exc  # apply what is verified first, then report
            if not apply_page(peer, since=since, page=page, verified=verified, result=result):
                break  # another pull of this peer is ahead of us: it will finish the job
            result.pages += 1
            peer.cursor, result.cursor, result.head = page.next, page.next, page.head
            reset_queries()  # with DEBUG on, Django would keep every statement: memory must stay flat
            if prefetch_error is not None:
                raise prefetch_error
            if following is None:
                break
            page, job = following
        if result.ok:
            Peer.objects.filter(pk=peer.pk).update(last_error_code="", last_error="", consecutive_failures=0,
                                                   next_attempt_at=None)
    except ExchangeError as exc:
        result.error_code, result.error = error_code_of(exc), exc.message
        _record_error(peer, exc)
        logger.warning("pull failed", extra={"peer": node_id, "code": exc.code, "error": exc.message})
    return result


def pull_peers_due(*, interval: int | None = None, requested_only: bool = False) -> list[PullResult]:
    """Pull every active peer this node pulls whose last attempt is older than ``interval`` seconds
    (default ``FEDERATION_PULL_INTERVAL``) and that is not backing off after failures, or that asked
    for a pull (a poke). Peers are pulled side by side (``FEDERATION_PULL_CONCURRENCY`` at a time),
    each within its deadlines, so one slow or dead peer never holds up the others."""
    interval = settings.FEDERATION_PULL_INTERVAL if interval is None else interval
    now = timezone.now()
    cutoff = now - timedelta(seconds=interval)
    due = []
    for peer in Peer.objects.filter(pull=True, status=Peer.Status.ACTIVE).exclude(base_url=""):
        requested = peer.pull_requested_at is not None
        scheduled = ((peer.last_attempt_at is None or peer.last_attempt_at <= cutoff)
                     and (peer.next_attempt_at is None or peer.next_attempt_at <= now))
        if requested or (scheduled and not requested_only):
            due.append(peer.node_id)
    workers = max(1, settings.FEDERATION_PULL_CONCURRENCY)
    if workers == 1 or len(due) <= 1:
        return [pull_peer(node_id=node_id) for node_id in due]
    with ThreadPoolExecutor(max_workers=min(workers, len(due)), thread_name_prefix="federation-pull") as pool:
        return list(pool.map(_pull_in_thread, due))


def _pull_in_thread(node_id: str) -> PullResult:
    """One peer's pull on a worker thread, with its own database connection."""
    close_old_connections()
    try:
        return pull_peer(node_id=node_id)
    finally:
        close_old_connections()
