"""Signed grant receipts: how a paid grant decided at a teacher's home node reaches the resource's
origin and the hub for settlement.

``report_grant`` (a ``LICENSING_GRANT_HOOKS`` entry) runs inside the transaction that creates the
grant: it signs a receipt (compact JWS, ``typ: exchange-grant-receipt+jwt``, by this node's key)
and stores it in ``OutgoingReceipt``; after commit it is delivered with a signed
``POST /federation/v1/receipts`` to each target, and the sync tick retries until every target has
it. Receivers verify the JWS against the sender's certified key and store it once
(idempotent by issuer and receipt id).
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone

from exchange.audit import audit_record
from federation import identity, trust
from federation.errors import (
    PeerResponseError,
    ReceiptDateInvalidError,
    ReceiptInvalidError,
    ReceiptMismatchError,
    ReceiptRecordUnknownError,
)
from federation.models import OutboxEntry, OutgoingReceipt, Peer, ReceivedReceipt
from federation.signing import (
    JwsInvalidError,
    envelope_from_bytes,
    jws_header,
    jws_sign,
    jws_verify_compact,
    parse_json,
)
from federation.signing.identifiers import parse_timestamp
from federation.transport import build_url, signed_request
from licensing.settlement import settlement_month_closed

logger = logging.getLogger("federation.receipts")
RECEIPT_TYPE = "exchange-grant-receipt+jwt"


def _seconds(moment: datetime) -> int:
    return int(moment.timestamp())


def report_grant(*, grant: Any) -> OutgoingReceipt | None:
    """Record a signed receipt for a paid grant (price > 0) for delivery to the resource's origin
    and the hub, after the caller's transaction commits. Free grants need no settlement: None.

    ``grant`` is a ``licensing.models.Grant`` (id, resource, scope, price, organisation,
    starts_at, ends_at, created_at). Idempotent per grant."""
    if not grant.price:
        return None
    resource = grant.resource
    me = identity.node_id()
    targets = []
    if resource.origin_node != me:
        targets.append(resource.origin_node)
    hub = trust.hub_id()
    if hub != me and hub not in targets:
        targets.append(hub)
    if not targets:
        return None
    grant_ref = f"{me}:{grant.pk}"
    existing = OutgoingReceipt.objects.filter(grant_ref=grant_ref).first()
    if existing is not None:
        return existing
    receipt_id = uuid.uuid4()
    organisation = grant.organisation
    claims = {
        "jti": str(receipt_id), "iss": me, "iat": _seconds(timezone.now()), "grant": str(grant.pk),
        "resource": str(resource.record_id), "origin": resource.origin_node, "resource_version": int(resource.version),
        "scope": grant.scope, "price": int(grant.price), "currency": "voucher",
        "buyer": {"organisation": organisation.name, "region": organisation.region_id,
                  "categories": sorted(organisation.categories or [])},
        "starts_at": _seconds(grant.starts_at), "ends_at": _seconds(grant.ends_at),
        "granted_at": _seconds(grant.created_at),
    }
    key = identity.signing_key()
    token = jws_sign(claims, key=key.private_key, kid=key.kid, typ=RECEIPT_TYPE)
    receipt = OutgoingReceipt.objects.create(id=receipt_id, grant_ref=grant_ref, token=token, targets=targets,
                                             created_at=timezone.now())
    audit_record(action="federation.receipt_issued", actor=me, object_type="grant", object_id=str(grant.pk),
                 data={"receipt": str(receipt_id), "targets": targets, "price": claims["price"]})
    transaction.on_commit(lambda: _deliver_soon(receipt.pk))
    return receipt


def _deliver_soon(receipt_id: uuid.UUID) -> None:
    from federation.jobs import run_soon

    run_soon("federation.receipts.receipt_deliver", key=f"receipt:{receipt_id}", receipt_id=str(receipt_id))


#: Refusals that no retry can change (the receipt itself is wrong): the target is given up, loudly.
FINAL_REFUSALS = frozenset({"receipt_invalid", "receipt_mismatch", "receipt_date_invalid"})


def receipt_deliver(*, receipt_id: str) -> list[str]:
    """Job: deliver one receipt to the targets that have neither taken nor refused it for good;
    returns those still to try."""
    receipt = OutgoingReceipt.objects.filter(pk=receipt_id).first()
    if receipt is None:
        return []
    missing = [node for node in receipt.targets if node not in receipt.delivered and node not in receipt.refused]
    errors = []
    for node_id in missing:
        peer = Peer.objects.filter(node_id=node_id).exclude(base_url="").first()
        if peer is None:
            errors.append(f"{node_id}: unknown peer")
            continue
        try:
            signed_request("POST", build_url(peer.base_url, "/federation/v1/receipts"),
                           json_body={"receipt": receipt.token}, expect_node=node_id)
        except PeerResponseError as exc:
            errors.append(f"{node_id}: {exc}")
            if exc.peer_code in FINAL_REFUSALS:
                receipt.refused = {**receipt.refused, node_id: exc.peer_code}
                audit_record(action="federation.receipt_refused", actor=node_id, object_type="receipt",
                             object_id=str(receipt.pk), data={"code": exc.peer_code, "message": exc.message})
            continue
        except Exception as exc:  # noqa: BLE001 - retried by the tick
            errors.append(f"{node_id}: {exc}")
            continue
        receipt.delivered = [*receipt.delivered, node_id]
    receipt.attempts += 1
    receipt.last_error = "; ".join(errors)[:2000]
    if all(node in receipt.delivered or node in receipt.refused for node in receipt.targets):
        receipt.delivered_at = timezone.now()
    receipt.save(update_fields=["delivered", "refused", "attempts", "last_error", "delivered_at"])
    return [node for node in receipt.targets if node not in receipt.delivered and node not in receipt.refused]


def receipts_deliver_pending(*, limit: int = 200) -> int:
    """Retry receipts not yet delivered everywhere; returns how many were attempted."""
    pending = list(OutgoingReceipt.objects.filter(delivered_at__isnull=True).values_list("pk", flat=True)[:limit])
    for receipt_id in pending:
        receipt_deliver(receipt_id=str(receipt_id))
    return len(pending)


def received_sales(*, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Settlement source (``LICENSING_REMOTE_SALES``): paid grants other nodes reported for [start, end),
    per record — for this node's own records, or on the hub for every node's. A receipt counts in the
    month of its grant, unless it arrived after that month was closed (``late``): then in the month it
    arrived, so a closed month's figures never change."""
    on_time = Q(late=False, granted_at__gte=start, granted_at__lt=end)
    late = Q(late=True, received_at__gte=start, received_at__lt=end)
    received = ReceivedReceipt.objects.filter(on_time | late)
    if not identity.is_hub():
        received = received.filter(origin=identity.node_id())
    return list(received.values("origin", "resource_id").annotate(grants=Count("id"), vouchers=Sum("price"))
                .order_by())


def _named_record(claims: dict[str, Any]) -> dict[str, Any]:
    """The rights of the signed record version a receipt names, from this node's feed (its own
    envelopes, or on the hub every envelope it relayed). Raises ReceiptRecordUnknownError."""
    entry = (OutboxEntry.objects.filter(origin=claims["origin"], resource_id=claims["resource"],
                                        version=claims["resource_version"], kind__in=("upsert", "rights"))
             .only("envelope").first())
    if entry is None:
        raise ReceiptRecordUnknownError(details={"origin": claims["origin"], "resource": claims["resource"],
                                                 "resource_version": claims["resource_version"]})
    envelope = envelope_from_bytes(entry.envelope.encode("utf-8"))
    return {"rights": envelope["payload"].get("rights") or {}, "issued_at": parse_timestamp(envelope["issued_at"])}


def _check_against_record(claims: dict[str, Any], granted_at: datetime) -> None:
    """A receipt must agree with the signed record it names: that version exists, with this price,
    and the grant lies between the version's signing and now. Raises a ReceiptInvalidError subclass."""
    record = _named_record(claims)
    price = record["rights"].get("price")
    if price != claims["price"]:
        raise ReceiptMismatchError(details={"price": claims["price"], "signed_price": price})
    skew = timedelta(seconds=settings.FEDERATION_CLOCK_SKEW)
    now = timezone.now()
    oldest = now - timedelta(days=settings.FEDERATION_RECEIPT_MAX_AGE_DAYS)
    if granted_at < record["issued_at"] - skew or granted_at > now + skew or granted_at < oldest:
        raise ReceiptDateInvalidError(details={"granted_at": granted_at.isoformat(),
                                               "record_issued_at": record["issued_at"].isoformat(),
                                               "max_age_days": settings.FEDERATION_RECEIPT_MAX_AGE_DAYS})


def receipt_receive(*, token: str, sender: trust.PeerIdentity) -> tuple[ReceivedReceipt, bool]:
    """Verify and store a receipt sent by ``sender`` (who must also be its signer and issuer), checked
    against the signed record it names (exists here at that version, from that origin, at that price;
    granted between the version's signing and now, within ``FEDERATION_RECEIPT_MAX_AGE_DAYS``).
    A receipt for a month already closed here is stored flagged ``late``. Returns (receipt, created).
    Raises ReceiptInvalidError or a subclass with a stable code: ``receipt_record_unknown`` (retry
    later), ``receipt_mismatch``, ``receipt_date_invalid``."""
    try:
        header = jws_header(token)
    except JwsInvalidError as exc:
        raise ReceiptInvalidError(exc.message) from exc
    if header.get("typ") != RECEIPT_TYPE or header.get("kid") != sender.kid:
        raise ReceiptInvalidError("A receipt is signed by the node that sends it.")
    public, _ = trust.request_key(sender.kid)
    try:
        _, payload = jws_verify_compact(token, public)
        claims = parse_json(payload)
    except (JwsInvalidError, ValueError) as exc:
        raise ReceiptInvalidError("The receipt signature does not verify.") from exc
    try:
        receipt_id = uuid.UUID(str(claims["jti"]))
        resource_id = uuid.UUID(str(claims["resource"]))
        price, granted_at, version = claims["price"], claims["granted_at"], claims["resource_version"]
        if claims.get("iss") != sender.node_id or type(price) is not int or price <= 0 or type(granted_at) is not int:
            raise ValueError("iss, price (a whole number above zero) or granted_at")
        if type(version) is not int or version < 1 or not isinstance(claims.get("origin"), str):
            raise ValueError("origin or resource_version")
        if str(resource_id) != claims["resource"]:
            raise ValueError("resource is not a canonical UUID")
        me = identity.node_id()
        if claims["origin"] != me and not identity.is_hub():
            raise ValueError("this node is neither the origin nor the hub")
        granted = datetime.fromtimestamp(granted_at, UTC)
    except (KeyError, ValueError, TypeError, OverflowError, OSError) as exc:
        raise ReceiptInvalidError(f"Receipt claims are invalid: {exc}") from exc
    existing = ReceivedReceipt.objects.filter(issuer=sender.node_id, receipt_id=receipt_id).first()
    if existing is not None:
        return existing, False
    _check_against_record(claims, granted)
    late = settlement_month_closed(granted)
    try:
        with transaction.atomic():
            received = ReceivedReceipt.objects.create(
                receipt_id=receipt_id, issuer=sender.node_id, resource_id=resource_id,
                origin=claims["origin"], price=price, granted_at=granted, token=token, claims=claims,
                received_at=timezone.now(), late=late)
            audit_record(action="federation.receipt_received", actor=sender.node_id, object_type="receipt",
                         object_id=str(receipt_id), data={"resource": str(resource_id), "price": price,
                                                          "late": late})
    except IntegrityError:
        return ReceivedReceipt.objects.get(issuer=sender.node_id, receipt_id=receipt_id), False
    return received, True
